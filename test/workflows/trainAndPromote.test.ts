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
import { buildDeps, createActivities, type Activities, type CandidateRef } from '../../activities';
import type { TrialInput, TrialResult } from '../../activities/training';
import { loadConfig, WORKFLOWS_PATH } from '../../lib/config';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { findModelSpec, specHash } from '../../lib/spec';
import { FailureType } from '../../lib/failure-types';
import { trainAndPromote } from '../../workflows';
import type { TrainAndPromoteInput } from '../../workflows/definitions';
import { createTestEnv, uniqueName } from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.teardown();
});

function input(queues: { cpu: string; gpu: string }): TrainAndPromoteInput {
  const { spec } = findModelSpec('fraud-detector');
  return {
    model: spec.name,
    spec,
    specHash: specHash(spec),
    featureSet: featureSetFromSpec(spec),
    asOf: '2026-03-15',
    requestedBy: 'carol@example.com',
    queues,
  };
}

// The feature stage's activities, mocked at the boundary and typed as the real ones.
const featureMocks: Pick<Activities, 'planFeatureBackfill' | 'computeFeaturePartition' | 'writeFeatureManifest'> = {
  async planFeatureBackfill(i) {
    return { featureSetHash: 'fs1', days: [i.range.from, i.range.to].sort().slice(0, 2), outputPrefix: 'features/x/fs1/' };
  },
  async computeFeaturePartition(i) {
    return { day: i.day, hash: `h-${i.day}`, rows: 10, labeledRows: 8, positives: 1, reused: false };
  },
  async writeFeatureManifest(i) {
    return { manifestUri: 's3://mlo/features/m.json', hash: 'snap', rows: i.partitions.length * 10, partitions: i.partitions.length, labeledRows: 16, positives: 2 };
  },
};

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
      ...featureMocks,
      async planFeatureBackfill(i) {
        record('planFeatureBackfill');
        return featureMocks.planFeatureBackfill(i);
      },
      async trainTrial(i) {
        record('trainTrial');
        expect(i.snapshot.manifestUri).toBe('s3://mlo/features/m.json');
        expect(i.featureColumns[0]).toBe('amount');
        return { trialIndex: i.trialIndex, runId: 'r1', onnxUri: 's3://mlo/models/m.onnx', metrics: { valid_auc: 0.9 }, params: i.params, probabilityOutput: 'probabilities', probabilityIndex: 1 };
      },
      async registerCandidate(i) {
        record('registerCandidate');
        expect(i.trial.runId).toBe('r1');
        return { runId: 'r1', version: '3', onnxUri: i.trial.onnxUri };
      },
      async startSweepRun() {
        throw new Error('no sweep in this spec');
      },
      async finishSweepRun() {
        throw new Error('no sweep in this spec');
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
        expect(i.requestedBy).toBe('carol@example.com');
        return { outcome: 'promoted' };
      },
    };
    const result = await withWorkers({ cpu: mocks, gpu: { trainTrial: (i) => mocks.trainTrial(i) } }, (q) =>
      env.client.workflow.execute(trainAndPromote, { taskQueue: q.wf, workflowId: uniqueName('tap'), args: [input({ cpu: q.cpu, gpu: q.gpu })] }).then((r) => ({ r, q })),
    );
    expect(result.r.outcome).toBe('promoted');
    // Windows end at the as-of day: holdout after training, labels matured (30d).
    expect(result.r.windows).toMatchObject({
      asOf: '2026-03-15',
      labelCutoff: '2026-03-15T00:00:00.000Z',
      holdout: { from: '2026-02-08', to: '2026-02-13' },
      validation: { from: '2026-02-03', to: '2026-02-08' },
      shadow: { from: '2026-03-12', to: '2026-03-15' },
    });
    expect(result.r.candidateVersion).toBe('3');
    expect(result.r.stages.map((s) => [s.stage, s.status])).toEqual([
      ['featureBackfill', 'succeeded'],
      ['training', 'succeeded'],
      ['evaluation', 'succeeded'],
      ['shadow', 'succeeded'],
      ['promotion', 'succeeded'],
    ]);
    expect(seen).toEqual([
      { name: 'planFeatureBackfill', queue: result.q.cpu },
      { name: 'trainTrial', queue: result.q.gpu },
      { name: 'registerCandidate', queue: result.q.cpu },
      { name: 'evaluateCandidate', queue: result.q.cpu },
      { name: 'shadowScore', queue: result.q.cpu },
      { name: 'promoteCandidate', queue: result.q.cpu },
    ]);
  });

  it('a stage that is not built yet fails the run at once with a typed, non-retryable failure', async () => {
    const cfg = loadConfig();
    const real = {
      ...createActivities(buildDeps(cfg)),
      ...featureMocks,
      async trainTrial(i: TrialInput): Promise<TrialResult> {
        return { trialIndex: i.trialIndex, runId: 'r1', onnxUri: 's3://mlo/models/m.onnx', metrics: { valid_auc: 0.9 }, params: i.params, probabilityOutput: 'probabilities', probabilityIndex: 1 };
      },
      async registerCandidate(): Promise<CandidateRef> {
        return { runId: 'r1', version: '3', onnxUri: 's3://mlo/models/m.onnx' };
      },
    };
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
    expect(stageFailure?.message).toMatch(/stage evaluation failed: the evaluation stage is not implemented yet/);
    const activityFailure = stageFailure?.cause;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    const root = (activityFailure as ActivityFailure).cause as ApplicationFailure;
    expect(root.type).toBe(FailureType.NotImplemented);
    expect(root.nonRetryable).toBe(true);

    // Tried once (non-retryable), and no later stage was scheduled.
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    expect(scheduled).toEqual(['trainTrial', 'registerCandidate', 'evaluateCandidate']);
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    expect(started).toHaveLength(3);
    expect(started[2]?.activityTaskStartedEventAttributes?.attempt).toBe(1);
  });
});
