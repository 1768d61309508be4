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
