/** The orchestrator pool: runs workflow code only (no activities). */
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../lib/infra/config';
import { main, type PoolDefinition } from './run';

export const orchestratorPool: PoolDefinition = {
  pool: 'orchestrator',
  workers: async (cfg) => [
    {
      taskQueue: cfg.taskQueues.orchestrator,
      serves: 'workflows',
      options: { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } },
    },
  ],
};

if (require.main === module) main(orchestratorPool);
