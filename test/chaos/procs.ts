/**
 * The suite's worker processes, one per pool, started like `npm run workers` starts them (node
 * with tsx's loader, so signals reach the worker itself), and the processes they start: found
 * in /proc, killed by pid or process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { isAlive, SPAWNED_WORKER_DEFAULTS } from '../helpers/spawn';

export { isAlive };

export type Pool = 'orchestrator' | 'cpu' | 'gpu';

export type WorkerProc = { pool: Pool; child: ChildProcess; pid: number; exited: Promise<void> };

/** Starts one pool's worker (its entry point: `workers/<pool>.ts` unless given) and waits until it polls. */
export async function startWorker(
  pool: Pool,
  env: NodeJS.ProcessEnv,
  logDir: string,
  entry = path.join(PROJECT_ROOT, 'workers', `${pool}.ts`),
): Promise<WorkerProc> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...SPAWNED_WORKER_DEFAULTS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = fs.createWriteStream(path.join(logDir, `worker-${pool}.log`), { flags: 'a' });
  log.write(`--- ${new Date().toISOString()} pid ${child.pid} ${entry}\n`);
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      log.write(b);
      if (out.length < 20_000) out += b.toString('utf8');
      if (out.includes('polling task queue')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, sig) =>
      reject(new Error(`the ${pool} worker exited (${code ?? sig}) before it polled:\n${out.slice(-1500)}`)),
    );
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  exited.then(
    () => log.end(),
    () => undefined,
  );
  const timeout = setTimeout(() => child.kill('SIGKILL'), 120_000);
  try {
    await ready;
  } finally {
    clearTimeout(timeout);
  }
  return { pool, child, pid: child.pid as number, exited };
}

/** Sends `sig` to one process; no error when it is gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Sends `sig` to a whole process group; no error when it is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

/** Stops a worker: SIGTERM, SIGKILL after `graceMs`. */
export async function stopWorker(w: WorkerProc, graceMs = 20_000): Promise<void> {
  if (!isAlive(w.pid)) return;
  const t = setTimeout(() => signal(w.pid, 'SIGKILL'), graceMs);
  signal(w.pid, 'SIGTERM');
  await w.exited;
  clearTimeout(t);
}

type ProcInfo = { pid: number; ppid: number; pgid: number; cmdline: string };

/** Every process of this machine we can read: pid, parent, group, command line. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (fields[0] === 'Z') continue; // a zombie holds nothing
      out.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]), cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * The trainer processes of this suite: their command line names an input file in the suite's
 * temporary directory (the workers' TMPDIR), which no other process on the machine uses.
 */
export function suiteTrainers(tmpDir: string): ProcInfo[] {
  return processes().filter((p) => p.cmdline.includes(`--input ${tmpDir}`) && p.pid !== process.pid);
}

/** The trainer process groups a worker started (its children that lead their own group). */
export function trainerGroupsOf(workerPid: number): number[] {
  return processes()
    .filter((p) => p.ppid === workerPid && p.pgid === p.pid)
    .map((p) => p.pgid);
}

/** Leftover `mlo-trainer-*` directories of killed trainers in the suite's temporary directory. */
export function leftoverTrainerDirs(tmpDir: string): string[] {
  try {
    return fs.readdirSync(tmpDir).filter((n) => n.startsWith('mlo-trainer-'));
  } catch {
    return [];
  }
}
