/** The CPU pool (queue `mlo-cpu`): features, evaluation, shadow scoring, registry, CPU training. */
import { createCpuActivities } from '../activities';
import { createS3Client } from '../lib/s3';
import { main, type PoolDefinition } from './run';

export const cpuPool: PoolDefinition = {
  pool: 'cpu',
  taskQueue: (cfg) => cfg.taskQueues.cpu,
  options: async (cfg) => ({ activities: createCpuActivities({ config: cfg, s3: createS3Client(cfg.s3) }) }),
};

if (require.main === module) main(cpuPool);
