/** The GPU pool (queue `mlo-gpu`): training only, one slot per GPU; CPU mode with one slot when none. */
import { buildDeps, createGpuActivities } from '../activities';
import { describeGpuSlots, detectGpuSlots } from '../lib/trainer/gpu-slots';
import { sweepAbandonedScratch } from '../lib/trainer/scratch';
import { main, type PoolDefinition } from './run';

const gpuPool: PoolDefinition = {
  pool: 'gpu',
  workers: async (cfg, logger) => {
    const slots = await detectGpuSlots(cfg.gpu.count);
    logger.info(describeGpuSlots(slots));
    // What a killed worker on this host left: its trainers' scratch directories (and trainers, if still running).
    const swept = await sweepAbandonedScratch();
    if (swept.length > 0) logger.info(`removed ${swept.length} scratch dir(s) of dead workers`);
    return [
      {
        taskQueue: cfg.taskQueues.gpu,
        serves: `training, ${slots.slots} slot(s)`,
        options: {
          activities: createGpuActivities(buildDeps(cfg, slots.devices)),
          maxConcurrentActivityTaskExecutions: slots.slots,
        },
      },
    ];
  },
};

if (require.main === module) main(gpuPool);
