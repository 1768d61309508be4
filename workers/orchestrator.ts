/**
 * The orchestrator pool: runs workflow code only (no activities), with OpenTelemetry spans of
 * workflow code, and polls Temporal's visibility for the gauges no workflow can keep across
 * restarts: pending decisions and their age and deadline, each model's last completed run
 * (lib/observability/visibility.ts).
 */
import { Client } from '@temporalio/client';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../lib/infra/config';
import { VisibilityGauges } from '../lib/observability/visibility';
import { WORKFLOW_TRACING_MODULE } from '../lib/observability/worker';
import { Runtime } from '@temporalio/worker';
import { main, type PoolDefinition } from './run';

/** How often the orchestrator pool reads visibility for its gauges (MLO_VISIBILITY_POLL_SECONDS, default 60). */
function pollIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MLO_VISIBILITY_POLL_SECONDS?.trim();
  const n = raw ? Number(raw) : 60;
  return Number.isFinite(n) && n >= 1 ? n * 1000 : 60_000;
}

export const orchestratorPool: PoolDefinition = {
  pool: 'orchestrator',
  workers: async (cfg) => [
    {
      taskQueue: cfg.taskQueues.orchestrator,
      serves: 'workflows',
      options: {
        workflowsPath: WORKFLOWS_PATH,
        interceptors: { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES, WORKFLOW_TRACING_MODULE] },
      },
    },
  ],
  background: ({ cfg, connection, logger }) => {
    const client = new Client({ connection, namespace: cfg.temporal.namespace });
    const gauges = new VisibilityGauges(client, Runtime.instance().metricMeter, {
      intervalMs: pollIntervalMs(),
      onError: (err) =>
        void logger.warn('visibility poll failed; the pending-decision gauges keep their last values', {
          error: String(err),
        }),
    });
    gauges.start();
    return () => gauges.stop();
  },
};

if (require.main === module) main(orchestratorPool);
