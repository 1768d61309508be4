import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PROJECT_ROOT } from '../../lib/infra/config';

/** One process per script (node with tsx's loader), so a signal reaches the script itself. */
export const NODE_TSX = [process.execPath, '--import', 'tsx'] as const;

export type Spawned = {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/**
 * What spawned workers run with unless a test says otherwise: readable log lines (tests match
 * them), and no metrics endpoint (workers of one pool run side by side; a test that scrapes one
 * gives it a port).
 */
export const SPAWNED_WORKER_DEFAULTS: NodeJS.ProcessEnv = {
  MLO_LOG_FORMAT: 'text',
  MLO_METRICS_PORT_ORCHESTRATOR: 'off',
  MLO_METRICS_PORT_CPU: 'off',
  MLO_METRICS_PORT_GPU: 'off',
  MLO_METRICS_PORT_TEST: 'off',
};

/** Spawns a project script under tsx as a user would, collecting stdout and stderr. */
export function spawnTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(NODE_TSX[0], [...NODE_TSX.slice(1), script, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...SPAWNED_WORKER_DEFAULTS, ...env },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = async (re: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(out)) {
      if (child.exitCode !== null)
        throw new Error(`${script} exited (${child.exitCode}) before printing ${re}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`${script} did not print ${re} within ${timeoutMs}ms:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, output: () => out, waitFor, exited };
}

/** Runs a project script to completion. */
export async function runTs(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string; ms: number }> {
  const t0 = Date.now();
  const s = spawnTs(script, args, env);
  const { code } = await s.exited;
  return { code, output: s.output(), ms: Date.now() - t0 };
}

/** Whether a process with this pid exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
