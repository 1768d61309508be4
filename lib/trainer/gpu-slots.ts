import { execFile } from 'node:child_process';

export type GpuSlots = { mode: 'gpu' | 'cpu'; slots: number; devices: string[] };

/**
 * One training slot per GPU. The count comes from configuration (MLO_GPU_COUNT) or
 * `nvidia-smi -L`; none found means CPU mode with one slot.
 */
export async function detectGpuSlots(configured: number | undefined): Promise<GpuSlots> {
  if (configured !== undefined) {
    if (configured === 0) return { mode: 'cpu', slots: 1, devices: [] };
    return { mode: 'gpu', slots: configured, devices: Array.from({ length: configured }, (_, i) => String(i)) };
  }
  const listed = await new Promise<string | undefined>((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
  const count = listed ? listed.split('\n').filter((l) => /^GPU \d+:/.test(l)).length : 0;
  if (count === 0) return { mode: 'cpu', slots: 1, devices: [] };
  return { mode: 'gpu', slots: count, devices: Array.from({ length: count }, (_, i) => String(i)) };
}
