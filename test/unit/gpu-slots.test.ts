import { describe, expect, it } from 'vitest';
import { describeGpuSlots, detectGpuSlots, DeviceSlots } from '../../lib/trainer/gpu-slots';

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

describe('describeGpuSlots', () => {
  it('names the GPUs, or says the worker trains on CPU', () => {
    expect(describeGpuSlots({ mode: 'gpu', slots: 2, devices: ['0', '1'] })).toBe('2 GPU slot(s): 0, 1');
    expect(describeGpuSlots({ mode: 'cpu', slots: 1, devices: [] })).toBe(
      'no GPU found: training on CPU with one slot',
    );
  });
});

describe('DeviceSlots', () => {
  it('hands out each GPU once and takes it back on release', () => {
    const slots = new DeviceSlots(['0', '1']);
    expect([slots.acquire(), slots.acquire()]).toEqual(['0', '1']);
    expect(() => slots.acquire()).toThrow(/no free GPU slot/);
    slots.release('1');
    slots.release('1');
    expect(slots.acquire()).toBe('1');
    expect(() => slots.acquire()).toThrow(/no free GPU slot/);
  });
  it('a worker without GPUs trains every trial on the CPU', () => {
    const slots = new DeviceSlots([]);
    expect([slots.acquire(), slots.acquire()]).toEqual(['cpu', 'cpu']);
    slots.release('cpu');
    expect(slots.acquire()).toBe('cpu');
  });
});
