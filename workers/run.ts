/**
 * Shared worker bootstrap: validated config, one native connection opened and closed in
 * try/finally, graceful shutdown on SIGINT/SIGTERM (the Temporal runtime's shutdown
 * signals make `worker.run()` drain in-flight tasks and resolve).
 *
 * Identities: every pool connects to Temporal as the orchestrator service (`mlo-orchestrator`,
 * client credentials, group mlo-services; secret MLO_ORCHESTRATOR_CLIENT_SECRET), its token
 * renewed on the open connection before it expires; the activities sign in to MLflow as the
 * registry's account (MLFLOW_TRACKING_USERNAME/PASSWORD when set, else mlo-registry with
 * MLO_MLFLOW_REGISTRY_PASSWORD or the dev stack's generated password). Neither secret is put in
 * the process environment, which trainers inherit.
 */
import { Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, type Config } from '../lib/infra/config';
import { isMloError } from '../lib/core/errors';
import { connectWorker } from '../lib/infra/temporal';
import { clientCredentialsToken, serviceCredentials } from '../lib/identity/oidc-client';
import { CLIENT_IDS } from '../lib/identity/shared';
import { registryMlflowCredentials } from '../lib/stack/secrets';

export type PoolDefinition = {
  pool: string;
  taskQueue: (cfg: Config) => string;
  options: (cfg: Config) => Promise<Omit<WorkerOptions, 'connection' | 'taskQueue' | 'namespace'>>;
  /** Called once the worker polls; used to print what it serves. */
  describe?: (cfg: Config) => string;
};

let runtimeInstalled = false;

/** The configuration with the registry's MLflow account, unless MLflow credentials are configured already. */
export function workerConfig(cfg: Config = loadConfig(), env: NodeJS.ProcessEnv = process.env): Config {
  if (cfg.mlflow.credentials) return cfg;
  const credentials = registryMlflowCredentials(cfg.stack, { env });
  return credentials ? { ...cfg, mlflow: { ...cfg.mlflow, credentials } } : cfg;
}

export async function runWorker(def: PoolDefinition): Promise<void> {
  const cfg = workerConfig();
  if (!runtimeInstalled) {
    Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
    runtimeInstalled = true;
  }
  const log = (line: string) => console.log(`[mlo ${def.pool} worker] ${line}`);
  if (!cfg.mlflow.credentials)
    log(
      `no MLflow credentials (MLFLOW_TRACKING_USERNAME/PASSWORD or MLO_MLFLOW_REGISTRY_PASSWORD): ` +
        `calls to ${cfg.mlflow.trackingUri} go unauthenticated`,
    );
  const tokens = clientCredentialsToken(serviceCredentials(CLIENT_IDS.orchestrator));
  const connection = await connectWorker(cfg, tokens, (err) =>
    log(`could not renew the ${CLIENT_IDS.orchestrator} token (keeps the current one): ${(err as Error).message}`),
  );
  try {
    const taskQueue = def.taskQueue(cfg);
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      ...(await def.options(cfg)),
    });
    log(
      `polling task queue "${taskQueue}" on ${cfg.temporal.address} (namespace ${cfg.temporal.namespace}) ` +
        `as ${CLIENT_IDS.orchestrator}${def.describe ? `; ${def.describe(cfg)}` : ''}`,
    );
    await worker.run();
    log('stopped');
  } finally {
    await connection.close();
  }
}

/** Entry-point wrapper: typed errors print their message; anything else prints a stack. */
export function main(def: PoolDefinition): void {
  runWorker(def).then(
    () => process.exit(0),
    (err: unknown) => {
      if (isMloError(err)) {
        console.error(`[mlo ${def.pool} worker] ${err.message}`);
        process.exit(err.exitCode);
      }
      console.error(`[mlo ${def.pool} worker] failed:`, err);
      process.exit(1);
    },
  );
}
