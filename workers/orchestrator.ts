/** The orchestrator pool: runs workflow code only (no activities). */
import { main, type PoolDefinition } from './run';

export const orchestratorPool: PoolDefinition = {
  pool: 'orchestrator',
  taskQueue: (cfg) => cfg.taskQueues.orchestrator,
  // eslint-disable-next-line @typescript-eslint/require-await
  options: async () => ({ workflowsPath: require.resolve('../workflows') }),
};

if (require.main === module) main(orchestratorPool);
