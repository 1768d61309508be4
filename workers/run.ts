/**
 * Shared worker bootstrap: validated config, one native connection opened and closed in
 * try/finally, one Temporal worker per task queue of the pool (each with its own slots), and
 * graceful shutdown on SIGINT/SIGTERM: the Temporal runtime's shutdown signals stop polling at
 * once, in-flight activities get the shutdown grace (MLO_WORKER_SHUTDOWN_GRACE) to finish and
 * are then cancelled (their attempt fails and is retried elsewhere, a trainer resuming from its
 * last heartbeat's checkpoint); by MLO_WORKER_SHUTDOWN_FORCE the process exits regardless.
 *
 * Identities: every pool connects to Temporal as the orchestrator service (`mlo-orchestrator`,
 * client credentials, group mlo-services; secret MLO_ORCHESTRATOR_CLIENT_SECRET), its token
 * renewed on the open connection before it expires; the activities sign in to MLflow as the
 * registry's account (MLFLOW_TRACKING_USERNAME/PASSWORD when set, else mlo-registry with
 * MLO_MLFLOW_REGISTRY_PASSWORD or the dev stack's generated password). Neither secret is put in
 * the process environment, which trainers inherit.
 *
 * Observability (lib/observability, docs/observability.md): each pool serves Prometheus metrics
 * (the SDK's and mlo's) on its own port (MLO_METRICS_PORT_<POOL>), logs JSON lines (MLO_LOG_FORMAT),
 * and traces with OpenTelemetry when the OTEL_* variables configure an exporter.
 */
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from '@temporalio/common';
import { loadConfig, type Config } from '../lib/infra/config';
import { isMloError } from '../lib/core/errors';
import { connectWorker } from '../lib/infra/temporal';
import { clientCredentialsToken, serviceCredentials } from '../lib/identity/oidc-client';
import { CLIENT_IDS } from '../lib/identity/shared';
import { registryMlflowCredentials } from '../lib/stack/secrets';
import { installedLogger, installWorkerObservability, observedWorkerOptions } from '../lib/observability/worker';

/** One Temporal worker of a pool: its task queue, what it serves (for the log line) and its options. */
export type PoolWorker = {
  taskQueue: string;
  serves?: string;
  options: Omit<WorkerOptions, 'connection' | 'taskQueue' | 'namespace'>;
};

export type PoolDefinition = {
  pool: string;
  workers: (cfg: Config, logger: Logger) => Promise<PoolWorker[]>;
  /** Work beside the workers while they run (e.g. the orchestrator's visibility gauges); returns its stop. */
  background?: (ctx: { cfg: Config; connection: NativeConnection; logger: Logger }) => () => Promise<void>;
};

/** The shutdown options every worker of mlo runs with. */
export function shutdownOptions(cfg: Config): Pick<WorkerOptions, 'shutdownGraceTime' | 'shutdownForceTime'> {
  return { shutdownGraceTime: cfg.shutdown.graceMs, shutdownForceTime: cfg.shutdown.forceMs };
}

/** The configuration with the registry's MLflow account, unless MLflow credentials are configured already. */
export function workerConfig(cfg: Config = loadConfig(), env: NodeJS.ProcessEnv = process.env): Config {
  if (cfg.mlflow.credentials) return cfg;
  const credentials = registryMlflowCredentials(cfg.stack, { env });
  return credentials ? { ...cfg, mlflow: { ...cfg.mlflow, credentials } } : cfg;
}

export async function runWorker(def: PoolDefinition): Promise<void> {
  const { logger, config: observability, tracing } = installWorkerObservability(def.pool);
  const cfg = workerConfig();
  const log = (line: string): void => void logger.info(line);
  if (observability.metricsBindAddress)
    log(`serving metrics on http://${observability.metricsBindAddress}/metrics (${observability.metricsPortVariable})`);
  if (tracing.enabled) log('exporting OpenTelemetry traces (OTEL_* variables)');
  if (!cfg.mlflow.credentials)
    log(
      `no MLflow credentials (MLFLOW_TRACKING_USERNAME/PASSWORD or MLO_MLFLOW_REGISTRY_PASSWORD): ` +
        `calls to ${cfg.mlflow.trackingUri} go unauthenticated`,
    );
  const tokens = clientCredentialsToken(serviceCredentials(CLIENT_IDS.orchestrator));
  const connection = await connectWorker(cfg, tokens, (err) =>
    log(`could not renew the ${CLIENT_IDS.orchestrator} token (keeps the current one): ${(err as Error).message}`),
  );
  let stopBackground: (() => Promise<void>) | undefined;
  try {
    const specs = await def.workers(cfg, logger);
    const workers = await Promise.all(
      specs.map((w) =>
        Worker.create({
          connection,
          namespace: cfg.temporal.namespace,
          taskQueue: w.taskQueue,
          ...shutdownOptions(cfg),
          ...observedWorkerOptions(w.options, tracing),
        }),
      ),
    );
    stopBackground = def.background?.({ cfg, connection, logger });
    for (const w of specs)
      log(
        `polling task queue "${w.taskQueue}" on ${cfg.temporal.address} (namespace ${cfg.temporal.namespace}) ` +
          `as ${CLIENT_IDS.orchestrator}${w.serves ? `; ${w.serves}` : ''}`,
      );
    log(
      `on SIGTERM/SIGINT: in-flight activities get ${cfg.shutdown.graceMs / 1000}s to finish, then are cancelled; ` +
        `exit by ${cfg.shutdown.forceMs / 1000}s`,
    );
    const stopping = stopSignalTime();
    try {
      await Promise.all(workers.map((w) => w.run()));
    } catch (err) {
      const since = stopping.at();
      // Past the force time the SDK gives up on the activities still running, and fails its run.
      if (since !== undefined && Date.now() - since >= cfg.shutdown.forceMs) throw new ShutdownExpired(err);
      throw err;
    }
    log('stopped');
  } finally {
    await stopBackground?.().catch(() => undefined);
    await tracing.shutdown().catch(() => undefined);
    await connection.close();
  }
}

/** Entry-point wrapper: typed errors print their message; anything else prints a stack. */
export function main(def: PoolDefinition): void {
  runWorker(def).then(
    () => process.exit(0),
    (err: unknown) => {
      const say = (message: string, meta?: Record<string, unknown>): void => {
        const logger = installedLogger();
        if (logger) logger.error(message, meta);
        else console.error(`[mlo ${def.pool} worker] ${message}`, meta ?? '');
      };
      if (err instanceof ShutdownExpired) {
        say(
          'the shutdown force time (MLO_WORKER_SHUTDOWN_FORCE) passed with activities still ' +
            'running: exiting without them (their heartbeat timeout hands them to another worker)',
        );
        process.exit(1);
      }
      if (isMloError(err)) {
        say(err.message);
        process.exit(err.exitCode);
      }
      say('failed', { error: err });
      process.exit(1);
    },
  );
}

/** The worker's run failed because the shutdown force time passed with activities still running. */
class ShutdownExpired extends Error {
  constructor(override readonly cause: unknown) {
    super('the shutdown force time passed with activities still running');
  }
}

/** When the process received SIGTERM or SIGINT (the runtime's shutdown signals), if it did. */
function stopSignalTime(): { at: () => number | undefined } {
  let at: number | undefined;
  const mark = () => (at ??= Date.now());
  process.once('SIGTERM', mark);
  process.once('SIGINT', mark);
  return { at: () => at };
}
