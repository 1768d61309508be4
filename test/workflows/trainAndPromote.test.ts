/**
 * The walking skeleton of trainAndPromote against a real Temporal dev server: each stage
 * runs as an activity on the queue of its pool, and a stage that is not built fails the
 * run for good with a typed failure instead of pretending to succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowFailedError, ActivityFailure } from '@temporalio/client';
import { Worker, DefaultLogger, Runtime } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities, type Activities } from '../../activities';
import { loadConfig, WORKFLOWS_PATH } from '../../lib/config';
import { FailureType } from '../../lib/failure-types';
import { createS3Client } from '../../lib/s3';
import { trainAndPromote } from '../../workflows';
import type { TrainAndPromoteInput } from '../../workflows/definitions';
import { createTestEnv, uniqueName } from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.teardown();
});

function input(queues: { cpu: string; gpu: string }): TrainAndPromoteInput {
  return {
    model: 'fraud-detector',
    specUri: 's3://mlo/specs/fraud-detector/abc.json',
    specHash: 'abc',
    window: { from: '2026-01-01', to: '2026-03-01' },
    requestedBy: 'alice@example.com',
    queues,
  };
}

async function withWorkers<T>(activities: { cpu: Partial<Activities>; gpu: Partial<Activities> }, fn: (q: { wf: string; cpu: string; gpu: string }) => Promise<T>): Promise<T> {
  const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
  const workers = await Promise.all([
    Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.wf, workflowsPath: WORKFLOWS_PATH }),
    Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.cpu, activities: activities.cpu }),
    Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.gpu, activities: activities.gpu }),
  ]);
  const [w0, w1, w2] = workers;
  return w0.runUntil(w1.runUntil(w2.runUntil(fn(q))));
}

describe('trainAndPromote walking skeleton', () => {
  it('runs each stage on the queue of its pool, passing URIs between them', async () => {
    const seen: { name: string; queue: string }[] = [];
    const record = (name: string) => seen.push({ name, queue: Context.current().info.taskQueue });
    // Mocks at the boundary, typed as the real activities.
    const mocks: Activities = {
      async backfillFeatures() {
        record('backfillFeatures');
        return { manifestUri: 's3://mlo/features/m.json', hash: 'h1', rows: 10, partitions: 1 };
      },
      async trainCandidate(i) {
        record('trainCandidate');
        expect(i.snapshot.manifestUri).toBe('s3://mlo/features/m.json');
        return { runId: 'r1', version: '3', onnxUri: 's3://mlo/models/m.onnx' };
      },
      async evaluateCandidate(i) {
        record('evaluateCandidate');
        expect(i.candidate.version).toBe('3');
        return { passed: true, reportUri: 's3://mlo/reports/e.json', markdown: '| auc |' };
      },
      async shadowScore() {
        record('shadowScore');
        return { passed: true, reportUri: 's3://mlo/reports/s.json', markdown: '| psi |' };
      },
      async promoteCandidate(i) {
        record('promoteCandidate');
        expect(i.requestedBy).toBe('alice@example.com');
        return { outcome: 'promoted' };
      },
    };
    const result = await withWorkers({ cpu: mocks, gpu: { trainCandidate: (i) => mocks.trainCandidate(i) } }, (q) =>
      env.client.workflow.execute(trainAndPromote, { taskQueue: q.wf, workflowId: uniqueName('tap'), args: [input({ cpu: q.cpu, gpu: q.gpu })] }).then((r) => ({ r, q })),
    );
    expect(result.r.outcome).toBe('promoted');
    expect(result.r.candidateVersion).toBe('3');
    expect(result.r.stages.map((s) => [s.stage, s.status])).toEqual([
      ['featureBackfill', 'succeeded'],
      ['training', 'succeeded'],
      ['evaluation', 'succeeded'],
      ['shadow', 'succeeded'],
      ['promotion', 'succeeded'],
    ]);
    expect(seen).toEqual([
      { name: 'backfillFeatures', queue: result.q.cpu },
      { name: 'trainCandidate', queue: result.q.gpu },
      { name: 'evaluateCandidate', queue: result.q.cpu },
      { name: 'shadowScore', queue: result.q.cpu },
      { name: 'promoteCandidate', queue: result.q.cpu },
    ]);
  });

  it('a stage that is not built yet fails the run at once with a typed, non-retryable failure', async () => {
    const cfg = loadConfig();
    const real = createActivities({ config: cfg, s3: createS3Client(cfg.s3) });
    const workflowId = uniqueName('tap');
    let failure: unknown;
    await withWorkers({ cpu: real, gpu: real }, async (q) => {
      try {
        await env.client.workflow.execute(trainAndPromote, { taskQueue: q.wf, workflowId, args: [input({ cpu: q.cpu, gpu: q.gpu })] });
      } catch (err) {
        failure = err;
      }
    });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const stageFailure = (failure as WorkflowFailedError).cause;
    expect(stageFailure).toBeInstanceOf(ApplicationFailure);
    expect((stageFailure as ApplicationFailure).type).toBe(FailureType.StageFailed);
    expect(stageFailure?.message).toMatch(/stage featureBackfill failed: the feature backfill stage is not implemented yet/);
    const activityFailure = stageFailure?.cause;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    const root = (activityFailure as ActivityFailure).cause as ApplicationFailure;
    expect(root.type).toBe(FailureType.NotImplemented);
    expect(root.nonRetryable).toBe(true);

    // Tried once (non-retryable), and no later stage was scheduled.
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    expect(scheduled).toEqual(['backfillFeatures']);
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    expect(started).toHaveLength(1);
    expect(started[0]?.activityTaskStartedEventAttributes?.attempt).toBe(1);
  });
});
