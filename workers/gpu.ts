/** The GPU pool (queue `mlo-gpu`): training only, one slot per GPU; CPU mode with one slot when none. */
import { createGpuActivities } from '../activities';
import { createS3Client } from '../lib/s3';
import { detectGpuSlots } from './gpu-slots';
import { main, type PoolDefinition } from './run';

export const gpuPool: PoolDefinition = {
  pool: 'gpu',
  taskQueue: (cfg) => cfg.taskQueues.gpu,
  options: async (cfg) => {
    const slots = await detectGpuSlots(cfg.gpu.count);
    console.log(`[mlo gpu worker] ${slots.mode === 'gpu' ? `${slots.slots} GPU slot(s): ${slots.devices.join(', ')}` : 'no GPU found: training on CPU with one slot'}`);
    return {
      activities: createGpuActivities({ config: cfg, s3: createS3Client(cfg.s3) }),
      maxConcurrentActivityTaskExecutions: slots.slots,
    };
  },
};

if (require.main === module) main(gpuPool);
