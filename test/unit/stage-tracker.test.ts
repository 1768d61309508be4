import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as Workflow from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, CancelledFailure, RetryState } from '@temporalio/common';
import { FailureType } from '../../lib/core/failure-types';
import { SA } from '../../lib/core/search-attributes';
import { STAGES, type StageProgress } from '../../lib/core/definitions';
import { StageTracker } from '../../workflows/stage-tracker';

// The workflow APIs the tracker calls, recorded instead (they work only inside a workflow); vi.mock is hoisted
// above the imports.
const wf = vi.hoisted(() => ({
  queries: new Map<string, () => unknown>(),
  upserts: [] as unknown[],
  warnings: [] as unknown[],
  stageMetrics: [] as [string, string][],
}));
// The stage-duration histogram goes through the workflow's metric meter (workflow context only): recorded here.
vi.mock('../../workflows/metrics', () => ({
  recordStage: (name: string, outcome: string) => wf.stageMetrics.push([name, outcome]),
}));
vi.mock('@temporalio/workflow', async (importOriginal) => ({
  ...(await importOriginal<typeof Workflow>()),
  setHandler: (def: { name: string }, handler: () => unknown) => wf.queries.set(def.name, handler),
  upsertSearchAttributes: (updates: unknown) => wf.upserts.push(updates),
  log: { warn: (message: string, attrs: unknown) => wf.warnings.push({ message, attrs }) },
}));

const stage = (t: StageTracker, name: string) => t.list.find((s) => s.stage === name) as StageProgress;

beforeEach(() => {
  wf.queries.clear();
  wf.upserts.length = 0;
  wf.warnings.length = 0;
  wf.stageMetrics.length = 0;
});

describe('StageTracker', () => {
  it('starts with every stage pending and answers the progress query with its list', () => {
    const t = new StageTracker();
    expect(t.list).toEqual(STAGES.map((s) => ({ stage: s, status: 'pending' })));
    expect(wf.queries.get('progress')?.()).toBe(t.list);
  });

  it('runs a stage: running, then succeeded with its times, named in the MloStage search attribute', async () => {
    const t = new StageTracker();
    let during: StageProgress | undefined;
    const out = await t.run('training', async () => {
      during = { ...stage(t, 'training') };
      return 42;
    });
    expect(out).toBe(42);
    expect(during?.status).toBe('running');
    expect(stage(t, 'training').status).toBe('succeeded');
    expect(Date.parse(stage(t, 'training').startedAt ?? '')).not.toBeNaN();
    expect(Date.parse(stage(t, 'training').endedAt ?? '')).not.toBeNaN();
    expect(wf.upserts).toEqual([[{ key: SA.stage, value: 'training' }]]);
    expect(wf.stageMetrics).toEqual([['training', 'succeeded']]);
  });

  it('wraps a failure in a non-retryable StageFailed naming the stage and the innermost cause', async () => {
    const t = new StageTracker();
    const inner = ApplicationFailure.create({ type: FailureType.BadInput, message: 'no such column: amount' });
    const err = new ActivityFailure('activity failed', 'trainTrial', '7', RetryState.NON_RETRYABLE_FAILURE, 'w', inner);
    const thrown = await t.run('training', () => Promise.reject(err)).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect(thrown).toMatchObject({
      type: FailureType.StageFailed,
      message: 'stage training failed: no such column: amount',
      nonRetryable: true,
      cause: err,
      details: [{ stage: 'training', type: FailureType.BadInput }],
    });
    expect(stage(t, 'training')).toMatchObject({ status: 'failed', message: 'no such column: amount' });
    expect(Date.parse(stage(t, 'training').endedAt ?? '')).not.toBeNaN();
    expect(wf.warnings).toEqual([
      { message: 'stage failed', attrs: { stage: 'training', error: 'no such column: amount' } },
    ]);
  });

  it('a thrown non-error becomes the message, with no cause', async () => {
    const t = new StageTracker();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
    const thrown = await t.run('shadow', () => Promise.reject('disk full')).catch((e: unknown) => e);
    expect(thrown).toMatchObject({ type: FailureType.StageFailed, message: 'stage shadow failed: disk full' });
    expect((thrown as ApplicationFailure).cause).toBeUndefined();
    expect((thrown as ApplicationFailure).details).toEqual([{ stage: 'shadow', type: undefined }]);
  });

  it('rethrows a cancellation as it is: the stage failed, with no message and no warning', async () => {
    const t = new StageTracker();
    const cancelled = new CancelledFailure('cancelled');
    await expect(t.run('evaluation', () => Promise.reject(cancelled))).rejects.toBe(cancelled);
    expect(stage(t, 'evaluation').status).toBe('failed');
    expect(stage(t, 'evaluation').message).toBeUndefined();
    expect(wf.warnings).toEqual([]);
  });

  it('records what a running stage waits on, and skipped stages with their reason', () => {
    const t = new StageTracker();
    t.waiting('promotion', 'awaiting-approval', 'awaiting approval in workflow promotion/m');
    expect(stage(t, 'promotion')).toEqual({
      stage: 'promotion',
      status: 'pending',
      phase: 'awaiting-approval',
      message: 'awaiting approval in workflow promotion/m',
    });
    t.skip('promotion', 'not promoted: the shadow gates failed');
    expect(stage(t, 'promotion')).toMatchObject({
      status: 'skipped',
      message: 'not promoted: the shadow gates failed',
    });
    expect(wf.upserts).toEqual([]);
  });
});
