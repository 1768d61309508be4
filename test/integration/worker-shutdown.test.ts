/**
 * SIGTERM to a real worker process (mlo's worker bootstrap): polling stops at once; an activity
 * that ends within the shutdown grace finishes on that worker; a longer one is cancelled when the
 * grace ends and its retry, on the next worker, resumes from its last heartbeat. With no grace,
 * the short activity is cancelled too and runs again.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { spawnTs, type Spawned } from '../helpers/spawn';
import { shortAndLong, stubborn } from '../helpers/shutdown-workflow';

let env: TestWorkflowEnvironment;
let wfWorker: Worker;
let running: Promise<void>;
const wfQueue = uniqueName('shutdown-wf');

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await createTestEnv();
  wfWorker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace,
    taskQueue: wfQueue,
    workflowsPath: path.join(__dirname, '..', 'helpers', 'shutdown-workflow.ts'),
  });
  running = wfWorker.run();
}, 120_000);

afterAll(async () => {
  wfWorker?.shutdown();
  await running;
  await env?.teardown();
});

function worker(queue: string, grace: string, force = '20s'): Spawned {
  return spawnTs('test/helpers/shutdown-worker.ts', [], {
    MLO_TEST_QUEUE: queue,
    MLO_TEMPORAL_ADDRESS: env.address,
    MLO_TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    MLO_WORKER_SHUTDOWN_GRACE: grace,
    MLO_WORKER_SHUTDOWN_FORCE: force,
  });
}

async function sigtermDuringBoth(grace: string) {
  const queue = uniqueName('shutdown-act');
  const first = worker(queue, grace);
  let second: Spawned | undefined;
  try {
    await first.waitFor(/polling task queue/, 90_000);
    const h = await env.client.workflow.start(shortAndLong, {
      taskQueue: wfQueue,
      workflowId: uniqueName('shutdown'),
      args: [queue, 3_000, 40],
    });
    await first.waitFor(/short started \(attempt 1\)/);
    await first.waitFor(/long started \(attempt 1\)/);
    await new Promise((r) => setTimeout(r, 1_500));
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    const stoppedAfterMs = Date.now() - t0;
    // The next worker starts once the first has gone, as in a rolling deploy.
    second = worker(queue, '5s');
    await second.waitFor(/polling task queue/, 90_000);
    const result = await h.result();
    return { result, exit, stoppedAfterMs, firstOut: first.output(), secondOut: second.output() };
  } finally {
    for (const w of [first, second]) if (w && w.child.exitCode === null) w.child.kill('SIGKILL');
  }
}

describe('a worker process on SIGTERM', () => {
  it('lets a short activity finish within the grace; a long one resumes on the next worker from its heartbeat', async () => {
    const r = await sigtermDuringBoth('6s');
    expect(r.exit.code).toBe(0);
    expect(r.firstOut).toContain('[mlo test worker] stopped');
    expect(r.firstOut).toContain('in-flight activities get 6s to finish, then are cancelled');
    expect(r.firstOut).toMatch(/short finished \(attempt 1\)/);
    expect(r.result.short).toEqual({ attempt: 1, resumedFrom: 0, steps: 1 });
    // The long one (10 s) outlived the grace: cancelled, retried on the second worker from its last heartbeat.
    expect(r.stoppedAfterMs).toBeGreaterThanOrEqual(5_000);
    expect(r.stoppedAfterMs).toBeLessThan(15_000);
    expect(r.result.long.attempt).toBe(2);
    expect(r.result.long.resumedFrom).toBeGreaterThan(0);
    expect(r.secondOut).toMatch(new RegExp(`long started \\(attempt 2\\) at step ${r.result.long.resumedFrom}`));
    console.log(
      `SIGTERM with 6s grace: exited after ${r.stoppedAfterMs} ms; long resumed at step ${r.result.long.resumedFrom}/40`,
    );
  }, 180_000);

  it('with no grace, the short activity is cancelled at once and runs again', async () => {
    const r = await sigtermDuringBoth('0s');
    expect(r.exit.code).toBe(0);
    expect(r.firstOut).not.toMatch(/short finished \(attempt 1\)/);
    expect(r.result.short.attempt).toBe(2);
    expect(r.stoppedAfterMs).toBeLessThan(5_000);
  }, 180_000);

  it('an activity that ignores cancellation is abandoned at the force time, and the process exits 1', async () => {
    const queue = uniqueName('shutdown-stubborn');
    const w = worker(queue, '1s', '4s');
    try {
      await w.waitFor(/polling task queue/, 90_000);
      await env.client.workflow.start(stubborn, {
        taskQueue: wfQueue,
        workflowId: uniqueName('stubborn'),
        args: [queue, 60_000],
      });
      await w.waitFor(/stubborn started \(attempt 1\)/);
      const t0 = Date.now();
      w.child.kill('SIGTERM');
      const exit = await w.exited;
      const after = Date.now() - t0;
      expect(exit.code).toBe(1);
      expect(after).toBeGreaterThanOrEqual(3_500);
      expect(after).toBeLessThan(15_000);
      expect(w.output()).toContain('[mlo test worker] the shutdown force time (MLO_WORKER_SHUTDOWN_FORCE) passed');
    } finally {
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  }, 120_000);
});
