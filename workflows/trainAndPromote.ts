import { ApplicationFailure, executeChild, isCancellation, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType } from '../lib/failure-types';
import { planWindows } from '../lib/windows';
import { STAGES, progressQuery, type StageName, type StageProgress, type TrainAndPromoteInput, type TrainAndPromoteResult } from './definitions';
import { featureBackfill } from './featureBackfill';

/** The run's as-of day: given, else the schedule's nominal time, else the start time. */
function resolveAsOf(input: TrainAndPromoteInput): string {
  if (input.asOf) return input.asOf;
  const scheduled = workflowInfo().searchAttributes?.TemporalScheduledStartTime?.[0];
  const at = scheduled instanceof Date ? scheduled : typeof scheduled === 'string' ? new Date(scheduled) : new Date(workflowInfo().startTime);
  return at.toISOString().slice(0, 10);
}

/**
 * trainAndPromote: feature backfill → training dispatch → evaluation → shadow scoring → promotion.
 *
 * Every stage runs on the pool that suits it (CPU or GPU task queue); the workflow carries
 * only URIs and small summaries between them.
 */
export async function trainAndPromote(input: TrainAndPromoteInput): Promise<TrainAndPromoteResult> {
  const stages: StageProgress[] = STAGES.map((stage) => ({ stage, status: 'pending' }));
  setHandler(progressQuery, () => stages);

  // One proxy per timeout/retry profile.
  const cpu = proxyActivities<Activities>({
    taskQueue: input.queues.cpu,
    startToCloseTimeout: '2h',
    heartbeatTimeout: '2m',
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 10, nonRetryableErrorTypes: [FailureType.BadInput] },
  });
  const gpu = proxyActivities<Activities>({
    taskQueue: input.spec.training.trainer.pool === 'gpu' ? input.queues.gpu : input.queues.cpu,
    startToCloseTimeout: '24h',
    heartbeatTimeout: '5m',
    retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 5, nonRetryableErrorTypes: [FailureType.BadInput] },
  });
  const registry = proxyActivities<Activities>({
    taskQueue: input.queues.cpu,
    startToCloseTimeout: '2m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20, nonRetryableErrorTypes: [FailureType.BadInput] },
  });

  const run = async <T>(name: StageName, fn: () => Promise<T>): Promise<T> => {
    const s = stages.find((x) => x.stage === name);
    if (!s) throw ApplicationFailure.nonRetryable(`unknown stage ${name}`, FailureType.StageFailed);
    s.status = 'running';
    s.startedAt = new Date().toISOString();
    try {
      const out = await fn();
      s.status = 'succeeded';
      return out;
    } catch (err) {
      s.status = 'failed';
      if (isCancellation(err)) throw err;
      const inner = rootCause(err);
      s.message = inner.message;
      log.warn('stage failed', { stage: name, error: inner.message });
      throw ApplicationFailure.create({
        type: FailureType.StageFailed,
        message: `stage ${name} failed: ${inner.message}`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
        details: [{ stage: name, type: (inner as { type?: string }).type }],
      });
    } finally {
      s.endedAt = new Date().toISOString();
    }
  };

  const spec = input.spec;
  const windows = planWindows(resolveAsOf(input), {
    maturity: spec.data.labels.maturity,
    trainDays: spec.training.window.days,
    validationDays: spec.training.validation.days,
    holdoutDays: spec.evaluation.holdout.days,
    shadowDays: spec.shadow.days,
  });
  const workflowId = workflowInfo().workflowId;
  const base = { model: input.model, spec, specHash: input.specHash, windows, workflowId };

  const snapshot = await run('featureBackfill', () =>
    executeChild(featureBackfill, {
      workflowId: `${workflowId}/features`,
      taskQueue: workflowInfo().taskQueue,
      args: [{ model: input.model, featureSet: input.featureSet, range: windows.snapshot, labelCutoff: windows.labelCutoff, cpuQueue: input.queues.cpu }],
    }),
  );
  const candidate = await run('training', () => gpu.trainCandidate({ ...base, snapshot }));
  const evaluation = await run('evaluation', () => cpu.evaluateCandidate({ ...base, snapshot, candidate }));
  const shadow = await run('shadow', () => cpu.shadowScore({ ...base, candidate }));
  const decision = await run('promotion', () => registry.promoteCandidate({ ...base, candidate, evaluation, shadow, requestedBy: input.requestedBy }));
  return { model: input.model, windows, outcome: decision.outcome, candidateVersion: candidate.version, stages };
}

/** The innermost failure: an activity's or child workflow's own error, not its wrappers. */
function rootCause(err: unknown): Error {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e : new Error(String(e));
}
