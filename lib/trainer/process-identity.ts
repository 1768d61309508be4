/**
 * Which process a pid names, so that a pid recorded earlier (in a heartbeat, in a scratch
 * directory) is never mistaken for another process that reuses it: a process is its host, the
 * host's boot, its pid and its start time (Linux: `/proc/<pid>/stat` field 22, in clock ticks
 * since boot). Where /proc is missing, nothing can be verified and nothing is killed.
 */
import fs from 'node:fs';
import os from 'node:os';

export type ProcessIdentity = {
  host: string;
  /** /proc/sys/kernel/random/boot_id: a recorded process never outlives its boot. */
  bootId: string;
  pid: number;
  /** Start time in clock ticks since boot. */
  startTicks: number;
};

function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The start time of a live process, or undefined when it is gone (or /proc is missing). */
function startTicksOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces; the fields after its ')' start at field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[22 - 3]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** The identity of a live process on this host; undefined when it is gone or cannot be identified. */
export function identify(pid: number): ProcessIdentity | undefined {
  const boot = bootId();
  const startTicks = startTicksOf(pid);
  if (boot === undefined || startTicks === undefined) return undefined;
  return { host: os.hostname(), bootId: boot, pid, startTicks };
}

/** Whether the recorded process is the one running now under its pid on this host. */
export function isRunning(id: ProcessIdentity): boolean {
  if (id.host !== os.hostname() || id.bootId !== bootId()) return false;
  return startTicksOf(id.pid) === id.startTicks;
}

/** Whether any process is in the process group `pgid`. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type LeftoverOutcome = 'killed' | 'gone' | 'other-host' | 'not-ours';

/**
 * Kills the process group a recorded group leader led, and waits until it is empty. The group is
 * ours when its leader still runs (same host, boot and start time: a recycled pid is never
 * touched), and also when the leader is gone but members remain: Linux does not reuse a pid as
 * long as a process group of that id has members, so they can only be the leader's.
 */
export async function killLeftoverGroup(leader: ProcessIdentity, waitMs = 10_000): Promise<LeftoverOutcome> {
  if (leader.host !== os.hostname()) return 'other-host';
  if (leader.bootId !== bootId()) return 'gone';
  const ticks = startTicksOf(leader.pid);
  if (ticks !== undefined && ticks !== leader.startTicks) return 'not-ours';
  if (!groupAlive(leader.pid)) return 'gone';
  try {
    process.kill(-leader.pid, 'SIGKILL');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + waitMs;
  while (groupAlive(leader.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return 'killed';
}
