/**
 * Shared worker bootstrap: validated config, one native connection opened and closed in
 * try/finally, graceful shutdown on SIGINT/SIGTERM (the Temporal runtime's shutdown
 * signals make `worker.run()` drain in-flight tasks and resolve).
 */
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, type Config } from '../lib/infra/config';
import { isMloError } from '../lib/core/errors';

export type PoolDefinition = {
  pool: string;
  taskQueue: (cfg: Config) => string;
  options: (cfg: Config) => Promise<Omit<WorkerOptions, 'connection' | 'taskQueue' | 'namespace'>>;
  /** Called once the worker polls; used to print what it serves. */
  describe?: (cfg: Config) => string;
};

let runtimeInstalled = false;

async function runWorker(def: PoolDefinition): Promise<void> {
  const cfg = loadConfig();
  if (!runtimeInstalled) {
    Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
    runtimeInstalled = true;
  }
  const connection = await NativeConnection.connect({ address: cfg.temporal.address });
  try {
    const taskQueue = def.taskQueue(cfg);
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      ...(await def.options(cfg)),
    });
    const described = def.describe ? `; ${def.describe(cfg)}` : '';
    console.log(
      `[mlo ${def.pool} worker] polling task queue "${taskQueue}" on ${cfg.temporal.address} ` +
        `(namespace ${cfg.temporal.namespace})${described}`,
    );
    await worker.run();
    console.log(`[mlo ${def.pool} worker] stopped`);
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
