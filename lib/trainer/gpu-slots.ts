/**
 * Training slots of the GPU pool: how many a worker has (one per GPU, or one CPU slot when it has
 * none) and which device each running trial holds.
 */
import { execFile } from 'node:child_process';

export type GpuSlots = { mode: 'gpu' | 'cpu'; slots: number; devices: string[] };

function cpuMode(): GpuSlots {
  return { mode: 'cpu', slots: 1, devices: [] };
}

function gpuMode(count: number): GpuSlots {
  return { mode: 'gpu', slots: count, devices: Array.from({ length: count }, (_, i) => String(i)) };
}

/**
 * One training slot per GPU. The count comes from configuration (MLO_GPU_COUNT) or
 * `nvidia-smi -L`; none found means CPU mode with one slot.
 */
export async function detectGpuSlots(configured: number | undefined): Promise<GpuSlots> {
  if (configured !== undefined) return configured === 0 ? cpuMode() : gpuMode(configured);
  const listed = await new Promise<string | undefined>((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
  const count = listed ? listed.split('\n').filter((l) => /^GPU \d+:/.test(l)).length : 0;
  return count === 0 ? cpuMode() : gpuMode(count);
}

/** What a GPU worker prints about its slots when it starts. */
export function describeGpuSlots(slots: GpuSlots): string {
  return slots.mode === 'gpu'
    ? `${slots.slots} GPU slot(s): ${slots.devices.join(', ')}`
    : 'no GPU found: training on CPU with one slot';
}

/** Training slots of one worker: one per GPU, or a single CPU slot. */
export class DeviceSlots {
  private free: string[];

  constructor(readonly devices: string[]) {
    this.free = [...devices];
  }

  /** A GPU id for CUDA_VISIBLE_DEVICES, or 'cpu' when this worker has no GPU. */
  acquire(): string {
    if (this.devices.length === 0) return 'cpu';
    const d = this.free.shift();
    // The worker's slot count equals the device count, so a free one always exists.
    if (d === undefined) throw new Error('no free GPU slot: maxConcurrentActivityTaskExecutions exceeds the GPU count');
    return d;
  }

  release(device: string): void {
    if (device !== 'cpu' && !this.free.includes(device)) this.free.push(device);
  }
}
