/**
 * The three worker entry points start, poll their task queues on the real Temporal
 * server, and shut down cleanly on SIGINT/SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../../lib/infra/config';
import { spawnTs } from '../helpers/spawn';
import { uniqueName } from '../helpers/temporal';
import { stackClient } from '../helpers/identity';

const cfg = loadConfig();
let conn: Connection;

beforeAll(async () => {
  conn = (await stackClient()).connection;
});
afterAll(async () => {
  await conn?.close();
});

async function pollers(taskQueue: string, type: temporal.api.enums.v1.TaskQueueType): Promise<number> {
  const r = await conn.workflowService.describeTaskQueue({
    namespace: cfg.temporal.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: type,
  });
  return r.pollers?.length ?? 0;
}

const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;

describe.each([
  {
    pool: 'orchestrator',
    script: 'workers/orchestrator.ts',
    env: 'MLO_QUEUE_ORCHESTRATOR',
    type: TASK_QUEUE_TYPE_WORKFLOW,
    signal: 'SIGTERM' as const,
  },
  {
    pool: 'cpu',
    script: 'workers/cpu.ts',
    env: 'MLO_QUEUE_CPU',
    type: TASK_QUEUE_TYPE_ACTIVITY,
    signal: 'SIGINT' as const,
  },
  {
    pool: 'gpu',
    script: 'workers/gpu.ts',
    env: 'MLO_QUEUE_GPU',
    type: TASK_QUEUE_TYPE_ACTIVITY,
    signal: 'SIGTERM' as const,
  },
])('$pool worker', ({ pool, script, env, type, signal }) => {
  it(`polls its task queue and stops cleanly on ${signal}`, async () => {
    const queue = uniqueName(`test-${pool}`);
    const w = spawnTs(script, [], { [env]: queue, MLO_GPU_COUNT: pool === 'gpu' ? '0' : undefined });
    try {
      await w.waitFor(new RegExp(`polling task queue "${queue}"`), 90_000);
      const deadline = Date.now() + 20_000;
      let n = 0;
      while ((n = await pollers(queue, type)) === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      expect(n).toBeGreaterThan(0);
      if (pool === 'gpu') expect(w.output()).toContain('no GPU found: training on CPU with one slot');
      w.child.kill(signal);
      const res = await w.exited;
      expect(res.code).toBe(0);
      expect(w.output()).toContain(`[mlo ${pool} worker] stopped`);
    } finally {
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  });
});

describe('cpu worker slots', () => {
  it('polls one queue per kind of work, each with its configured slots', async () => {
    const queue = uniqueName('test-cpu-kinds');
    const w = spawnTs('workers/cpu.ts', [], { MLO_QUEUE_CPU: queue, MLO_SLOTS_FEATURES: '3' });
    try {
      await w.waitFor(/on SIGTERM\/SIGINT: in-flight activities get 20s to finish/, 90_000);
      const kinds = {
        [queue]: 'registry calls, audit records, specs, 4 slot(s)',
        [`${queue}-features`]: 'feature partitions, 3 slot(s)',
        [`${queue}-evaluation`]: 'evaluation and shadow scoring, 1 slot(s)',
        [`${queue}-training`]: 'CPU training, 1 slot(s)',
      };
      for (const [q, serves] of Object.entries(kinds)) {
        expect(w.output()).toMatch(new RegExp(`polling task queue "${q}" .*; ${serves.replace(/[()]/g, '\\$&')}`));
        const deadline = Date.now() + 20_000;
        let n = 0;
        while ((n = await pollers(q, TASK_QUEUE_TYPE_ACTIVITY)) === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 250));
        expect(n).toBeGreaterThan(0);
      }
      w.child.kill('SIGTERM');
      expect((await w.exited).code).toBe(0);
    } finally {
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  });
});
