import {
  ApplicationFailure,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { rootCause } from '../lib/core/causes';
import { FailureType } from '../lib/core/failure-types';
import { runWindows } from '../lib/core/windows';
import { parseDuration } from '../lib/core/duration';
import { pickBest, planTrials } from '../lib/core/sweep';
import type { TrialResult } from '../activities/training';
import {
  STAGES,
  progressQuery,
  type StageName,
  type StageProgress,
  type TrainAndPromoteInput,
  type TrainAndPromoteResult,
} from '../lib/core/definitions';
import { featureBackfill } from './featureBackfill';
import { promotion } from './promotion';
import { SA } from '../lib/core/search-attributes';
import { featuresWorkflowId, promotionWorkflowId } from '../lib/core/ids';

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw ApplicationFailure.nonRetryable(`"${text}" is not a duration`, FailureType.BadInput);
  return ms;
}

/** When the run nominally happens: the schedule's nominal time, else the start time. */
function nominalTime(): Date {
  const scheduled = workflowInfo().searchAttributes?.TemporalScheduledStartTime?.[0];
  return scheduled instanceof Date
    ? scheduled
    : typeof scheduled === 'string'
      ? new Date(scheduled)
      : new Date(workflowInfo().startTime);
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
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: 10,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  });
  const train = proxyActivities<Activities>({
    taskQueue: input.spec.training.trainer.pool === 'gpu' ? input.queues.gpu : input.queues.cpu,
    startToCloseTimeout: durationMs(input.spec.training.timeout),
    heartbeatTimeout: durationMs(input.spec.training.heartbeat_timeout),
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: 6,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  });
  const registry = proxyActivities<Activities>({
    taskQueue: input.queues.cpu,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 20,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  });

  const run = async <T>(name: StageName, fn: () => Promise<T>): Promise<T> => {
    const s = stages.find((x) => x.stage === name);
    if (!s) throw ApplicationFailure.nonRetryable(`unknown stage ${name}`, FailureType.StageFailed);
    s.status = 'running';
    s.startedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: SA.stage, value: name }]);
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
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
  const windows = runWindows(input, nominalTime());
  const workflowId = workflowInfo().workflowId;
  const base = { model: input.model, spec, specHash: input.specHash, windows, workflowId };

  const snapshot = await run('featureBackfill', () =>
    executeChild(featureBackfill, {
      workflowId: featuresWorkflowId(workflowId),
      taskQueue: workflowInfo().taskQueue,
      args: [
        {
          model: input.model,
          featureSet: input.featureSet,
          range: windows.snapshot,
          labelCutoff: windows.labelCutoff,
          cpuQueue: input.queues.cpu,
        },
      ],
    }),
  );
  const featureColumns = input.featureSet.featureOrder;
  const candidate = await run('training', async () => {
    const trials = planTrials(spec.training.params, spec.training.sweep, spec.training.seed);
    const parent =
      trials.length > 1
        ? await registry.startSweepRun({ ...base, trials: trials.length, requestedBy: input.requestedBy })
        : undefined;
    const results: TrialResult[] = [];
    let next = 0;
    const lane = async () => {
      while (next < trials.length) {
        const t = trials[next++] as (typeof trials)[number];
        results.push(
          await train.trainTrial({
            ...base,
            snapshot,
            featureColumns,
            trialIndex: t.index,
            params: t.params,
            parentRunId: parent?.parentRunId,
            requestedBy: input.requestedBy,
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(spec.training.sweep?.parallelism ?? 1, trials.length) }, lane));
    const metric = spec.training.sweep?.metric ?? 'valid_auc';
    const best =
      pickBest(results, metric, spec.training.sweep?.goal ?? 'maximize') ??
      (results.length === 1 ? results[0] : undefined);
    if (!best)
      throw ApplicationFailure.nonRetryable(
        `no trial reported the sweep metric "${metric}"; fix training.sweep.metric or the trainer`,
        FailureType.BadInput,
      );
    if (parent) await registry.finishSweepRun({ parentRunId: parent.parentRunId, best });
    return registry.registerCandidate({
      ...base,
      snapshot,
      trial: best,
      featureColumns,
      requestedBy: input.requestedBy,
      parentRunId: parent?.parentRunId,
    });
  });
  // The champion the candidate is judged against; promotion later moves `champion` only if it still points here.
  const championAtEvaluation = await registry.getChampion({ model: input.model });
  const evaluation = await run('evaluation', () => cpu.evaluateCandidate({ ...base, snapshot, candidate }));
  const shadow = await run('shadow', () => cpu.shadowScore({ ...base, snapshot, candidate }));
  const result = (outcome: TrainAndPromoteResult['outcome'], message?: string): TrainAndPromoteResult => ({
    model: input.model,
    windows,
    outcome,
    candidateVersion: candidate.version,
    message,
    evaluationReport: evaluation.reportUri,
    shadowReport: shadow.reportUri,
    stages,
  });

  if (!evaluation.passed || !shadow.passed) {
    const failed = [!evaluation.passed ? 'evaluation' : '', !shadow.passed ? 'shadow' : '']
      .filter(Boolean)
      .join(' and ');
    const promo = stages.find((x) => x.stage === 'promotion');
    if (promo) {
      promo.status = 'skipped';
      promo.message = `not promoted: the ${failed} gates failed; nothing moved in the registry`;
    }
    upsertSearchAttributes([{ key: SA.stage, value: 'gate-failed' }]);
    setCurrentDetails(
      `## Gate failed: ${input.model} version ${candidate.version} is not promoted\n\n${!evaluation.passed ? evaluation.markdown : ''}\n\n${!shadow.passed ? shadow.markdown : ''}`,
    );
    return result('gate-failed', promo?.message);
  }

  const decision = await run('promotion', async () => {
    const summary = `${evaluation.markdown}\n\n${shadow.markdown}`;
    const args = {
      model: input.model,
      candidateVersion: candidate.version,
      requestedBy: input.requestedBy,
      reviewers: spec.promotion.reviewers,
      deadline: spec.promotion.deadline,
      championAtEvaluation,
      summary,
      evidence: {
        evaluationReport: evaluation.reportUri,
        shadowReport: shadow.reportUri,
        trainAndPromote: workflowId,
        mlflowRun: candidate.runId,
      },
      parentWorkflowId: workflowId,
      cpuQueue: input.queues.cpu,
    };
    // One promotion per model at a time: the child's id is the model's lock.
    for (let attempt = 0; ; attempt++) {
      try {
        const child = await startChild(promotion, {
          workflowId: promotionWorkflowId(input.model),
          taskQueue: workflowInfo().taskQueue,
          args: [args],
          staticSummary: `Promotion of ${input.model} version ${candidate.version}, requested by ${input.requestedBy}`,
          staticDetails: summary.slice(0, 16_000),
          typedSearchAttributes: [
            { key: SA.model, value: input.model },
            { key: SA.stage, value: 'awaiting-approval' },
            { key: SA.candidateVersion, value: candidate.version },
            { key: SA.requestedBy, value: input.requestedBy },
          ],
        });
        upsertSearchAttributes([
          { key: SA.stage, value: 'awaiting-approval' },
          { key: SA.candidateVersion, value: candidate.version },
        ]);
        const s = stages.find((x) => x.stage === 'promotion');
        if (s)
          Object.assign(s, {
            phase: 'awaiting-approval',
            message: `awaiting approval in workflow ${promotionWorkflowId(input.model)}`,
          });
        const decided = await child.result();
        if (s) Object.assign(s, { phase: 'decided', message: decided.message });
        return decided;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        if (spec.promotion.when_busy === 'refuse') {
          throw ApplicationFailure.create({
            type: FailureType.PromotionBusy,
            nonRetryable: true,
            message: `another promotion of ${input.model} is pending (workflow ${promotionWorkflowId(input.model)}); the model spec says when_busy: refuse. Decide or wait for that one, then run again.`,
          });
        }
        const s = stages.find((x) => x.stage === 'promotion');
        if (s)
          Object.assign(s, {
            phase: 'waiting-for-promotion',
            message: `waiting for the pending promotion of ${input.model} (${promotionWorkflowId(input.model)}) to finish`,
          });
        await sleep(Math.min(600_000, 5_000 * 2 ** Math.min(attempt, 7)));
      }
    }
  });
  upsertSearchAttributes([{ key: SA.stage, value: decision.outcome }]);
  return result(decision.outcome, decision.message);
}
