/** The orchestrator pool on the changed workflow code of `MLO_CHAOS_WORKFLOWS_PATH` (see changed-workflows.ts). */
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../lib/infra/config';
import { main, type PoolDefinition } from '../../workers/run';

const workflowsPath = process.env.MLO_CHAOS_WORKFLOWS_PATH;
if (!workflowsPath) throw new Error('MLO_CHAOS_WORKFLOWS_PATH names the changed workflows entry point');

const changedPool: PoolDefinition = {
  pool: 'orchestrator',
  workers: async (cfg) => [
    {
      taskQueue: cfg.taskQueues.orchestrator,
      serves: 'workflows (changed)',
      options: { workflowsPath, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } },
    },
  ],
};

main(changedPool);
