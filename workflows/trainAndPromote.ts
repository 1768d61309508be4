import { ApplicationFailure, isCancellation, log, proxyActivities, setHandler, workflowInfo, type ActivityFailure } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType } from '../lib/failure-types';
import { STAGES, progressQuery, type StageName, type StageProgress, type TrainAndPromoteInput, type TrainAndPromoteResult } from './definitions';

/**
 * trainAndPromote: feature backfill → training dispatch → evaluation → shadow scoring → promotion.
 *
 * Every stage is an activity on the pool that suits it (CPU or GPU task queue); the
 * workflow carries only URIs and small summaries between them.
 */
export async function trainAndPromote(input: TrainAndPromoteInput): Promise<TrainAndPromoteResult> {
  const stages: StageProgress[] = STAGES.map((stage) => ({ stage, status: 'pending' }));
  setHandler(progressQuery, () => stages);

  // One proxy per timeout/retry profile.
  const cpu = proxyActivities<Activities>({
    taskQueue: input.queues.cpu,
    startToCloseTimeout: '2h',
    heartbeatTimeout: '2m',
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 10 },
  });
  const gpu = proxyActivities<Activities>({
    taskQueue: input.queues.gpu,
    startToCloseTimeout: '24h',
    heartbeatTimeout: '5m',
    retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 5 },
  });
  const registry = proxyActivities<Activities>({
    taskQueue: input.queues.cpu,
    startToCloseTimeout: '2m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20 },
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
      const cause = err as ActivityFailure;
      const inner = cause.cause instanceof Error ? cause.cause : cause;
      s.message = inner.message;
      log.warn('stage failed', { stage: name, error: inner.message });
      throw ApplicationFailure.create({
        type: FailureType.StageFailed,
        message: `stage ${name} failed: ${inner.message}`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
        details: [{ stage: name }],
      });
    } finally {
      s.endedAt = new Date().toISOString();
    }
  };

  const base = { model: input.model, specUri: input.specUri, specHash: input.specHash, window: input.window, workflowId: workflowInfo().workflowId };
  const snapshot = await run('featureBackfill', () => cpu.backfillFeatures(base));
  const candidate = await run('training', () => gpu.trainCandidate({ ...base, snapshot }));
  const evaluation = await run('evaluation', () => cpu.evaluateCandidate({ ...base, snapshot, candidate }));
  const shadow = await run('shadow', () => cpu.shadowScore({ ...base, candidate }));
  const decision = await run('promotion', () => registry.promoteCandidate({ ...base, candidate, evaluation, shadow, requestedBy: input.requestedBy }));
  return { model: input.model, outcome: decision.outcome, candidateVersion: candidate.version, stages };
}
