/**
 * Starts the three worker pools as child processes (for the demo and local development)
 * and stops them gracefully: SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadStackConfig, PROJECT_ROOT } from '../infra/config';
import { stackProcessEnv } from './stack';

type WorkerPool = 'orchestrator' | 'cpu' | 'gpu';
const WORKER_POOLS: WorkerPool[] = ['orchestrator', 'cpu', 'gpu'];

type RunningWorkers = {
  procs: { pool: WorkerPool; child: ChildProcess }[];
  /** Resolves once every worker printed that it polls its queue. */
  ready: Promise<void>;
  stop: (graceMs?: number) => Promise<void>;
};

type StartOptions = { logDir?: string; env?: NodeJS.ProcessEnv; onLine?: (pool: WorkerPool, line: string) => void };

/** One worker process, its output appended to its log and passed on line by line. */
function spawnWorker(pool: WorkerPool, opts: StartOptions): ChildProcess {
  // node with tsx's loader: one process per worker, so signals reach the worker itself.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', `${pool}.ts`)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...stackProcessEnv(loadStackConfig()), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = opts.logDir
    ? fs.createWriteStream(path.join(opts.logDir, `worker-${pool}.log`), { flags: 'a' })
    : undefined;
  const onData = (b: Buffer) => {
    log?.write(b);
    for (const line of b.toString('utf8').split('\n')) if (line.trim()) opts.onLine?.(pool, line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.on('close', () => log?.end());
  return child;
}

/** Resolves once the worker prints that it polls its queue; rejects if it exits first. */
function polling(pool: WorkerPool, child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (b: Buffer) => {
      buf += b.toString('utf8');
      if (buf.includes('polling task queue')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`the ${pool} worker exited (${code}) before it polled its queue:\n${buf.slice(-2000)}`)),
    );
  });
}

/** SIGTERM, then SIGKILL once the grace period is over; resolves when the process exited. */
function stopWorker(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function startWorkers(opts: StartOptions = {}): RunningWorkers {
  if (opts.logDir) fs.mkdirSync(opts.logDir, { recursive: true });
  const procs = WORKER_POOLS.map((pool) => ({ pool, child: spawnWorker(pool, opts) }));
  const ready = Promise.all(procs.map(({ pool, child }) => polling(pool, child))).then(() => undefined);
  // Longer than the workers' own shutdown force time (MLO_WORKER_SHUTDOWN_FORCE, 30 s by default): they exit first.
  const stop = async (graceMs = 40_000) => {
    await Promise.all(procs.map(({ child }) => stopWorker(child, graceMs)));
  };
  return { procs, ready, stop };
}
