/** The CPU pool (queue `mlo-cpu`): features, evaluation, shadow scoring, registry, CPU training. */
import { buildDeps, createCpuActivities } from '../activities';
import { main, type PoolDefinition } from './run';

const cpuPool: PoolDefinition = {
  pool: 'cpu',
  taskQueue: (cfg) => cfg.taskQueues.cpu,
  options: async (cfg) => ({ activities: createCpuActivities(buildDeps(cfg)) }),
};

if (require.main === module) main(cpuPool);
