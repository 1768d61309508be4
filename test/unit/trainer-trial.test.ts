import { describe, expect, it, vi } from 'vitest';
import { type ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { judgeTrainerRun, MetricRelay } from '../../activities/training';
import { BadInputError } from '../../lib/core/errors';
import { FailureType } from '../../lib/core/failure-types';
import { CancelledError, toActivityFailure } from '../../lib/core/failures';
import type { TrainerResult } from '../../lib/trainer/contract';
import type { TrainerRun } from '../../lib/trainer/process';

const FEATURES = ['amount', 'geo_mismatch'];
const trial = { command: ['python', 'trainers/gbdt/train.py'], featureColumns: FEATURES };
const live = new AbortController().signal;

function run(o: Partial<TrainerRun> = {}): TrainerRun {
  return { exitCode: 0, signal: null, stderrTail: ['line 1', 'line 2'], violations: [], aborted: false, ...o };
}

function result(columns = FEATURES): TrainerResult {
  return {
    type: 'result',
    onnxUri: 's3://mlo/models/m/x/model.onnx',
    metrics: { valid_auc: 0.9 },
    inputSchema: { name: 'features', dtype: 'float32', columns },
    outputs: { probability: 'probabilities', probabilityIndex: 1 },
  };
}

describe('judgeTrainerRun', () => {
  it('a clean exit with a result that takes the snapshot columns in order is the result', () => {
    const r = result();
    expect(judgeTrainerRun(run(), r, { ...trial, cancellation: live })).toEqual({ result: r });
  });
  it('a cancelled trainer ends its run KILLED and fails with the cancellation', () => {
    const c = new AbortController();
    const reason = new CancelledFailure('CANCELLED');
    c.abort(reason);
    expect(judgeTrainerRun(run({ aborted: true }), undefined, { ...trial, cancellation: c.signal })).toEqual({
      endAs: 'KILLED',
      error: reason,
    });
    const plain = new AbortController();
    plain.abort('stop');
    const v = judgeTrainerRun(run({ aborted: true, exitCode: null }), undefined, {
      ...trial,
      cancellation: plain.signal,
    });
    expect(v).toMatchObject({ endAs: 'KILLED', error: new CancelledError('training was cancelled') });
  });
  it('exit 2 is bad input, not retried; the run ends FAILED', () => {
    const v = judgeTrainerRun(run({ exitCode: 2 }), undefined, { ...trial, cancellation: live });
    expect(v).toMatchObject({ endAs: 'FAILED' });
    const err = (v as { error: unknown }).error;
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toBe(
      'trainer `python trainers/gbdt/train.py` rejected its input (exit 2; not retried):\nline 1\nline 2',
    );
  });
  it('exit 3 is a deterministic failure: not retried, the run ends FAILED, the stderr summary says what to change', () => {
    const summary =
      "mlo-trainer: deterministic failure: the ONNX export does not reproduce LightGBM's probabilities …; " +
      'change the model spec\'s training.params (now {"rounds": 200}) or training.seed';
    const v = judgeTrainerRun(run({ exitCode: 3, stderrTail: ['detail', summary] }), undefined, {
      ...trial,
      cancellation: live,
    });
    expect(v).toMatchObject({ endAs: 'FAILED' });
    const err = (v as { error: unknown }).error;
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toBe(
      'trainer `python trainers/gbdt/train.py` failed deterministically (exit 3; not retried: it would fail the same way):' +
        `\ndetail\n${summary}`,
    );
  });
  it('every final verdict reaches the workflow as a non-retryable failure; transient ones stay retryable', () => {
    const final: [TrainerRun, TrainerResult | undefined][] = [
      [run({ exitCode: 2 }), undefined],
      [run({ exitCode: 3 }), undefined],
      [run(), undefined],
      [run({ violations: ['not JSON: hello'] }), result()],
      [run(), result(['geo_mismatch', 'amount'])],
    ];
    for (const [r, res] of final) {
      const v = judgeTrainerRun(r, res, { ...trial, cancellation: live }) as { error: unknown };
      expect(toActivityFailure(v.error)).toMatchObject({ type: FailureType.BadInput, nonRetryable: true });
    }
    for (const r of [run({ exitCode: 75 }), run({ exitCode: 1 }), run({ exitCode: null, signal: 'SIGKILL' })]) {
      const v = judgeTrainerRun(r, undefined, { ...trial, cancellation: live }) as { error: unknown };
      expect(toActivityFailure(v.error)).toMatchObject({ nonRetryable: false });
    }
  });
  it('exit 75 and crashes are retried and leave the run open', () => {
    const transient = judgeTrainerRun(run({ exitCode: 75 }), undefined, { ...trial, cancellation: live });
    expect(transient).not.toHaveProperty('endAs');
    expect((transient as { error: unknown }).error).toMatchObject({
      type: FailureType.TrainerTransient,
      nonRetryable: false,
    });
    const killed = judgeTrainerRun(run({ exitCode: null, signal: 'SIGKILL' }), undefined, {
      ...trial,
      cancellation: live,
    });
    const err = (killed as { error: unknown }).error as ApplicationFailure;
    expect(err).toMatchObject({ type: FailureType.TrainerCrashed, nonRetryable: false });
    expect(err.message).toBe('trainer `python trainers/gbdt/train.py` was killed by SIGKILL:\nline 1\nline 2');
  });
  it('a broken contract is bad input: no result line, lines outside the contract, other input columns', () => {
    const cases: [TrainerRun, TrainerResult | undefined, RegExp][] = [
      [run(), undefined, /broke the trainer contract \(mlo\.trainer\/v1\): it exited 0 without a result line$/],
      [run({ violations: ['not JSON: hello'] }), result(), /printed lines outside the contract: not JSON: hello$/],
      [
        run(),
        result(['geo_mismatch', 'amount']),
        /columns \(geo_mismatch, amount\) are not the snapshot's feature columns in order \(amount, geo_mismatch\)$/,
      ],
    ];
    for (const [r, res, message] of cases) {
      const v = judgeTrainerRun(r, res, { ...trial, cancellation: live });
      expect(v).toMatchObject({ endAs: 'FAILED' });
      const err = (v as { error: unknown }).error;
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe('MetricRelay', () => {
  it('sends pending metrics in batches, in order, and nothing when there is nothing new', async () => {
    const sent: unknown[] = [];
    const logBatch = vi.fn(async (_runId: string, batch: { metrics?: unknown[] }) => {
      sent.push(batch.metrics);
      return Promise.resolve();
    });
    const relay = new MetricRelay({ logBatch } as never, 'run-1');
    relay.push({ key: 'loss', value: 0.5, step: 1, timestamp: 1 });
    relay.push({ key: 'loss', value: 0.4, step: 2, timestamp: 2 });
    const first = relay.flush();
    relay.push({ key: 'loss', value: 0.3, step: 3, timestamp: 3 });
    await relay.flush();
    await first;
    await relay.flush();
    expect(logBatch).toHaveBeenCalledTimes(2);
    expect(logBatch.mock.calls.every(([runId]) => runId === 'run-1')).toBe(true);
    expect(sent).toEqual([
      [
        { key: 'loss', value: 0.5, step: 1, timestamp: 1 },
        { key: 'loss', value: 0.4, step: 2, timestamp: 2 },
      ],
      [{ key: 'loss', value: 0.3, step: 3, timestamp: 3 }],
    ]);
  });
  it('does not send again the steps the run already has (replayed after a resume)', async () => {
    const sent: unknown[] = [];
    const logBatch = vi.fn(async (_runId: string, batch: { metrics?: unknown[] }) => {
      sent.push(batch.metrics);
      return Promise.resolve();
    });
    const relay = new MetricRelay({ logBatch } as never, 'run-1', new Map([['loss', 1150]]));
    for (const step of [1110, 1150, 1160]) relay.push({ key: 'loss', value: step / 1e4, step, timestamp: step });
    relay.push({ key: 'auc', value: 0.8, step: 1110, timestamp: 1110 });
    await relay.flush();
    expect(sent).toEqual([
      [
        { key: 'loss', value: 0.116, step: 1160, timestamp: 1160 },
        { key: 'auc', value: 0.8, step: 1110, timestamp: 1110 },
      ],
    ]);
  });
  it('drops a batch MLflow does not take instead of failing the trial', async () => {
    const logBatch = vi.fn().mockRejectedValueOnce(new Error('MLflow is down')).mockResolvedValue(undefined);
    const relay = new MetricRelay({ logBatch }, 'run-1');
    // The dropped batch is logged through the activity's logger.
    await new MockActivityEnvironment().run(async () => {
      relay.push({ key: 'loss', value: 0.5, step: 1, timestamp: 1 });
      await expect(relay.flush()).resolves.toBeUndefined();
      relay.push({ key: 'loss', value: 0.4, step: 2, timestamp: 2 });
      await relay.flush();
    });
    expect(logBatch).toHaveBeenCalledTimes(2);
  });
});
