import { describe, expect, it } from 'vitest';
import { detectGpuSlots } from '../../lib/trainer/gpu-slots';

describe('detectGpuSlots', () => {
  it('uses the configured count: one slot per GPU', async () => {
    expect(await detectGpuSlots(2)).toEqual({ mode: 'gpu', slots: 2, devices: ['0', '1'] });
  });
  it('a configured zero means CPU mode with one slot', async () => {
    expect(await detectGpuSlots(0)).toEqual({ mode: 'cpu', slots: 1, devices: [] });
  });
  it('falls back to CPU mode with one slot when nvidia-smi finds nothing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(await detectGpuSlots(undefined)).toEqual({ mode: 'cpu', slots: 1, devices: [] });
    } finally {
      process.env.PATH = saved;
    }
  });
});
