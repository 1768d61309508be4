/** The orchestrator pool: runs workflow code only (no activities). */
import { WORKFLOWS_PATH } from '../lib/infra/config';
import { main, type PoolDefinition } from './run';

const orchestratorPool: PoolDefinition = {
  pool: 'orchestrator',
  taskQueue: (cfg) => cfg.taskQueues.orchestrator,
  options: async () => ({ workflowsPath: WORKFLOWS_PATH }),
};

if (require.main === module) main(orchestratorPool);
