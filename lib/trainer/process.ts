/**
 * Runs a trainer command in its own process group, streams its JSON lines, keeps the tail of
 * its stderr, and kills the whole group (the trainer and anything it started) on abort.
 *
 * The trainer's stdin is a pipe this process holds open and never writes: the stdin lease
 * (trainers/README.md §1). When this process dies, however it dies, the kernel closes the pipe
 * and the trainer reads end of file, its cue to stop with everything it started.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { PROJECT_ROOT } from '../infra/config';
import { parseTrainerLine, type TrainerLine } from './contract';

export type TrainerRun = {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
  /** Lines on stdout that broke the contract. */
  violations: string[];
  aborted: boolean;
};

/** `python`/`python3` resolve to the project's venv; a relative script path to the project. */
function resolveCommand(command: string[]): { cmd: string; args: string[] } {
  const [head, ...rest] = command;
  if (!head) throw new Error('empty trainer command');
  const venvPython = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  const cmd = (head === 'python' || head === 'python3') && fs.existsSync(venvPython) ? venvPython : head;
  return { cmd, args: rest };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

export async function runTrainerProcess(opts: {
  command: string[];
  inputFile: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onLine: (line: TrainerLine) => void;
  onPid?: (pid: number) => void;
  killGraceMs?: number;
}): Promise<TrainerRun> {
  const { cmd, args } = resolveCommand(opts.command);
  const child = spawn(cmd, [...args, '--input', opts.inputFile], {
    cwd: PROJECT_ROOT,
    env: opts.env,
    detached: true, // its own process group: a kill reaches everything it started
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Held open, never written; a trainer that exits closes its end, which is not an error here.
  child.stdin.on('error', () => undefined);
  const stderrTail: string[] = [];
  const violations: string[] = [];
  let aborted = false;
  if (child.pid !== undefined) opts.onPid?.(child.pid);

  const onAbort = () => {
    aborted = true;
    if (child.pid === undefined) return;
    killGroup(child.pid, 'SIGTERM');
    setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), opts.killGraceMs ?? 5000).unref();
  };
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });

  readline.createInterface({ input: child.stderr }).on('line', (l) => {
    stderrTail.push(l);
    if (stderrTail.length > 30) stderrTail.shift();
  });
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (l) => {
    if (!l.trim()) return;
    const p = parseTrainerLine(l);
    if (p.ok) opts.onLine(p.value);
    else violations.push(p.reason);
  });

  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve([code, sig]));
  });
  opts.signal.removeEventListener('abort', onAbort);
  child.stdin.destroy();
  // The group may hold children that outlived the trainer; they must not.
  if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  return { exitCode, signal, stderrTail, violations, aborted };
}
