import {
  ApplicationFailure,
  executeChild,
  patched,
  proxyActivities,
  setCurrentDetails,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type {
  Activities,
  CandidateRef,
  EvaluationSummary,
  FeatureSnapshotRef,
  ShadowSummary,
  StageInput,
} from '../activities';
import { FailureType } from '../lib/core/failure-types';
import { runWindows, type RunWindows } from '../lib/core/windows';
import { pickBest, planTrials, type Trial } from '../lib/core/sweep';
import { mapBounded } from '../lib/core/concurrency';
import type { TrialResult } from '../activities/training';
import type { IdenticalCandidate } from '../activities/registry';
import { describeFailedGate, failedGates } from '../lib/core/gate-failures';
import type { DecisionResult, TrainAndPromoteInput, TrainAndPromoteResult } from '../lib/core/definitions';
import type { FeatureSet } from '../lib/features/featureset';
import type { ModelSpec } from '../lib/spec/model-spec';
import { featureBackfill } from './featureBackfill';
import { promotion, type PromotionInput } from './promotion';
import * as profiles from './activity-options';
import { StageTracker } from './stage-tracker';
import { SA } from '../lib/core/search-attributes';
import { featuresWorkflowId, promotionWorkflowId } from '../lib/core/ids';
import { loadDeployedSpec, usesDeployedSpec } from './deployed-spec';
import { requesterIdentity } from './identity';

/** When the run nominally happens: the schedule's nominal time, else the start time. */
function nominalTime(): Date {
  const scheduled = workflowInfo().searchAttributes?.TemporalScheduledStartTime?.[0];
  return scheduled instanceof Date
    ? scheduled
    : typeof scheduled === 'string'
      ? new Date(scheduled)
      : new Date(workflowInfo().startTime);
}

/** One proxy per timeout/retry profile. */
function runActivities(input: TrainAndPromoteInput, spec: ModelSpec) {
  const { training } = spec;
  const { queues } = input;
  const trainQueue = training.trainer.pool === 'gpu' ? queues.gpu : (queues.cpuTraining ?? queues.cpu);
  return {
    cpu: proxyActivities<Activities>(profiles.cpuStage(queues.evaluation ?? queues.cpu)),
    train: proxyActivities<Activities>(profiles.training(trainQueue, training.timeout, training.heartbeat_timeout)),
    registry: proxyActivities<Activities>(profiles.registry(input.queues.cpu)),
  };
}

/**
 * The run's spec and features: the deployed spec with the run's hash; in histories of runs
 * started before it, the input's.
 */
async function runSpec(input: TrainAndPromoteInput): Promise<{ spec: ModelSpec; featureSet: FeatureSet }> {
  if (usesDeployedSpec()) return loadDeployedSpec(input.queues.cpu, input.model, input.specHash);
  if (!input.spec || !input.featureSet)
    throw ApplicationFailure.nonRetryable(`the input of this run carries no model spec`, FailureType.BadInput);
  return { spec: input.spec, featureSet: input.featureSet };
}

/** What the steps of one run share. */
type Run = {
  input: TrainAndPromoteInput;
  /** The validated spec the run uses (see runSpec), and its resolved features. */
  spec: ModelSpec;
  featureSet: FeatureSet;
  stages: StageTracker;
  acts: ReturnType<typeof runActivities>;
  windows: RunWindows;
  workflowId: string;
  /** The fields every stage activity takes. */
  base: StageInput;
};

/** The candidate and the evidence reviewers see. */
type Reviewed = { candidate: CandidateRef; evaluation: EvaluationSummary; shadow: ShadowSummary };

/**
 * trainAndPromote: feature backfill → training dispatch → evaluation → shadow scoring → promotion.
 *
 * Every stage runs on the pool that suits it (CPU or GPU task queue); the workflow carries
 * only URIs and small summaries between them.
 */
export async function trainAndPromote(input: TrainAndPromoteInput): Promise<TrainAndPromoteResult> {
  const stages = new StageTracker();
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
  const { spec, featureSet } = await runSpec(input);
  const acts = runActivities(input, spec);
  const windows = runWindows({ asOf: input.asOf, trainFrom: input.trainFrom, spec }, nominalTime());
  const workflowId = workflowInfo().workflowId;
  const base = { model: input.model, spec, specHash: input.specHash, windows, workflowId };
  const run: Run = { input, spec, featureSet, stages, acts, windows, workflowId, base };

  const snapshot = await stages.run('featureBackfill', async () => {
    const snap = await backfillFeatures(run);
    await checkDataGates(run, snap);
    return snap;
  });
  const { candidate, reused } = await stages.run('training', () => trainCandidate(run, snapshot));
  if (reused) stages.note('training', reusedMessage(reused));
  // The champion the candidate is judged against; promotion later moves `champion` only if it still points here.
  const championAtEvaluation = await acts.registry.getChampion({ model: input.model });
  if (reused && candidate.version === championAtEvaluation) return alreadyChampion(run, candidate);
  const evaluation = await stages.run('evaluation', () => acts.cpu.evaluateCandidate({ ...base, snapshot, candidate }));
  const shadow = await stages.run('shadow', () => acts.cpu.shadowScore({ ...base, snapshot, candidate }));
  const reviewed: Reviewed = { candidate, evaluation, shadow };

  if (!evaluation.passed || !shadow.passed) return await gateFailed(run, reviewed);
  const decision = await stages.run('promotion', () => promote(run, reviewed, championAtEvaluation));
  upsertSearchAttributes([{ key: SA.stage, value: decision.outcome }]);
  return result(run, reviewed, decision.outcome, decision.message);
}

function result(
  run: Run,
  { candidate, evaluation, shadow }: Reviewed,
  outcome: TrainAndPromoteResult['outcome'],
  message?: string,
): TrainAndPromoteResult {
  return {
    model: run.input.model,
    windows: run.windows,
    outcome,
    candidateVersion: candidate.version,
    message,
    evaluationReport: evaluation.reportUri,
    shadowReport: shadow.reportUri,
    stages: run.stages.list,
  };
}

/** The point-in-time feature snapshot of the run's windows, as a child workflow. */
function backfillFeatures({ input, featureSet, windows, workflowId }: Run): Promise<FeatureSnapshotRef> {
  return executeChild(featureBackfill, {
    workflowId: featuresWorkflowId(workflowId),
    taskQueue: workflowInfo().taskQueue,
    args: [
      {
        model: input.model,
        featureSet,
        range: windows.snapshot,
        labelCutoff: windows.labelCutoff,
        cpuQueue: input.queues.features ?? input.queues.cpu,
      },
    ],
  });
}

/**
 * The spec's data gates on the snapshot, before training: a failing one ends the run, non-retryable,
 * with the gate, the value, the threshold and the day in its message and details.
 */
async function checkDataGates(run: Run, snapshot: FeatureSnapshotRef): Promise<void> {
  const gates = run.spec.data.gates ?? [];
  if (gates.length === 0 || !patched('data-gates')) return;
  const r = await run.acts.cpu.checkDataGates({ model: run.input.model, gates, snapshot });
  if (r.passed) return;
  upsertSearchAttributes([{ key: SA.stage, value: 'data-gate-failed' }]);
  setCurrentDetails(r.markdown);
  throw ApplicationFailure.create({
    type: FailureType.DataGateFailed,
    nonRetryable: true,
    message: r.message,
    details: [{ failures: r.failures, judged: r.judged, failed: r.failed }],
  });
}

/**
 * The candidate: the version registered earlier from identical inputs (a rerun trains and
 * registers no copy), else every trial of the spec trained (a sweep: a bounded number at once,
 * under one MLflow parent run) and the best registered.
 */
async function trainCandidate(
  run: Run,
  snapshot: FeatureSnapshotRef,
): Promise<{ candidate: CandidateRef; reused?: IdenticalCandidate }> {
  const featureColumns = run.featureSet.featureOrder;
  if (patched('reuse-identical-candidate')) {
    const reused = await run.acts.registry.findIdenticalCandidate({ ...run.base, snapshot, featureColumns });
    if (reused) return { candidate: reused.candidate, reused };
  }
  return { candidate: await trainAndRegister(run, snapshot, featureColumns) };
}

function reusedMessage(r: IdenticalCandidate): string {
  const by = r.workflowId ? ` by ${r.workflowId}` : '';
  const was = r.outcome ? `; it was ${r.outcome}` : '';
  return `reused version ${r.candidate.version}, trained${by} on identical inputs (nothing trained, no copy registered${was})`;
}

/** A rerun whose identical version already is the champion: nothing to evaluate, decide or move. */
function alreadyChampion(run: Run, candidate: CandidateRef): TrainAndPromoteResult {
  const message =
    `version ${candidate.version}, trained on identical inputs, already is the champion of ${run.input.model}; ` +
    'nothing to evaluate or promote, nothing moved in the registry';
  for (const stage of ['evaluation', 'shadow', 'promotion'] as const) run.stages.skip(stage, message);
  upsertSearchAttributes([
    { key: SA.stage, value: 'already-champion' },
    { key: SA.candidateVersion, value: candidate.version },
  ]);
  return {
    model: run.input.model,
    windows: run.windows,
    outcome: 'already-champion',
    candidateVersion: candidate.version,
    message,
    stages: run.stages.list,
  };
}

/** Trains every trial of the spec and registers the best as the candidate version. */
async function trainAndRegister(
  run: Run,
  snapshot: FeatureSnapshotRef,
  featureColumns: string[],
): Promise<CandidateRef> {
  const { input, acts, base } = run;
  const { training } = run.spec;
  const requestedBy = input.requestedBy;
  const trials = planTrials(training.params, training.sweep, training.seed);
  const parent =
    trials.length > 1 ? await acts.registry.startSweepRun({ ...base, trials: trials.length, requestedBy }) : undefined;
  const parentRunId = parent?.parentRunId;
  const trainTrial = (t: Trial) =>
    acts.train.trainTrial({
      ...base,
      snapshot,
      featureColumns,
      trialIndex: t.index,
      params: t.params,
      parentRunId,
      requestedBy,
    });
  const results = await mapBounded(trials, training.sweep?.parallelism ?? 1, trainTrial);
  const best = bestTrial(training.sweep, results);
  if (parent) await acts.registry.finishSweepRun({ parentRunId: parent.parentRunId, best });
  return acts.registry.registerCandidate({ ...base, snapshot, trial: best, featureColumns, requestedBy, parentRunId });
}

/** The best trial by the sweep's metric; a single trial wins without it. */
function bestTrial(sweep: ModelSpec['training']['sweep'], results: TrialResult[]): TrialResult {
  const metric = sweep?.metric ?? 'valid_auc';
  const best = pickBest(results, metric, sweep?.goal ?? 'maximize') ?? (results.length === 1 ? results[0] : undefined);
  if (!best)
    throw ApplicationFailure.nonRetryable(
      `no trial reported the sweep metric "${metric}"; fix training.sweep.metric or the trainer`,
      FailureType.BadInput,
    );
  return best;
}

/**
 * A failed evaluation or shadow gate ends the run: the promotion stage is skipped. The message
 * names every failing gate with its value, and the reports; the version is tagged with its
 * outcome in MLflow and the failure is recorded in the audit trail.
 */
async function gateFailed(run: Run, reviewed: Reviewed): Promise<TrainAndPromoteResult> {
  const { candidate, evaluation, shadow } = reviewed;
  const failedStages = [!evaluation.passed ? 'evaluation' : '', !shadow.passed ? 'shadow' : ''].filter(Boolean);
  const failed = failedGates(evaluation, shadow);
  const reports = [!evaluation.passed ? evaluation : undefined, !shadow.passed ? shadow : undefined]
    .filter((s) => s !== undefined)
    .map((s) => s.mlflowRunUrl ?? s.reportUri);
  const message =
    failed.length > 0
      ? `not promoted: ${failed.length === 1 ? 'a gate' : `${failed.length} gates`} failed: ` +
        `${failed.map(describeFailedGate).join('; ')}. Report: ${[...new Set(reports)].join(', ')}. ` +
        'Nothing moved in the registry'
      : `not promoted: the ${failedStages.join(' and ')} gates failed; nothing moved in the registry`;
  run.stages.skip('promotion', message);
  upsertSearchAttributes([{ key: SA.stage, value: 'gate-failed' }]);
  const table =
    failed.length > 0
      ? '| stage | gate | value | note |\n|---|---|---|---|\n' +
        failed.map((g) => `| ${g.stage} | \`${g.gate}\` | ${g.value ?? '—'} | ${g.note} |`).join('\n') +
        `\n\nReports: ${[evaluation.reportUri, shadow.reportUri].join(', ')}\n\n`
      : '';
  setCurrentDetails(
    `## Gate failed: ${run.input.model} version ${candidate.version} is not promoted\n\n${table}` +
      `${!evaluation.passed ? evaluation.markdown : ''}\n\n${!shadow.passed ? shadow.markdown : ''}`,
  );
  if (patched('record-gate-failure'))
    await run.acts.registry.recordGateFailure({
      model: run.input.model,
      version: candidate.version,
      workflowId: run.workflowId,
      failed,
      evidence: {
        evaluationReport: evaluation.reportUri,
        shadowReport: shadow.reportUri,
        trainAndPromote: run.workflowId,
        mlflowRun: candidate.runId,
      },
      requester: requesterIdentity(run.input.requestedBy),
    });
  return result(run, reviewed, 'gate-failed', message);
}

/**
 * The promotion child workflow and its decision. One promotion per model at a time: the
 * child's id is the model's lock; while another holds it, wait (when_busy: queue) or refuse.
 */
async function promote(run: Run, reviewed: Reviewed, championAtEvaluation: string | null): Promise<DecisionResult> {
  const args = promotionInput(run, reviewed, championAtEvaluation);
  for (let attempt = 0; ; attempt++) {
    try {
      return await awaitDecision(run, args);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await waitForPendingPromotion(run, attempt);
    }
  }
}

/** What the promotion is told: the candidate and its evidence. It loads reviewers and deadline from the deployed spec. */
function promotionInput(
  { input, workflowId }: Run,
  { candidate, evaluation, shadow }: Reviewed,
  championAtEvaluation: string | null,
): PromotionInput {
  return {
    model: input.model,
    specHash: input.specHash,
    candidateVersion: candidate.version,
    requestedBy: input.requestedBy,
    championAtEvaluation,
    summary: `${evaluation.markdown}\n\n${shadow.markdown}`,
    evidence: {
      evaluationReport: evaluation.reportUri,
      shadowReport: shadow.reportUri,
      trainAndPromote: workflowId,
      mlflowRun: candidate.runId,
    },
    parentWorkflowId: workflowId,
    cpuQueue: input.queues.cpu,
  };
}

/** Starts the promotion (failing if one of the model is pending) and waits for its decision. */
async function awaitDecision({ input, stages }: Run, args: PromotionInput): Promise<DecisionResult> {
  const { model, requestedBy } = input;
  const version = args.candidateVersion;
  const child = await startChild(promotion, {
    workflowId: promotionWorkflowId(model),
    taskQueue: workflowInfo().taskQueue,
    args: [args],
    staticSummary: `Promotion of ${model} version ${version}, requested by ${requestedBy}`,
    staticDetails: args.summary.slice(0, 16_000),
    typedSearchAttributes: [
      { key: SA.model, value: model },
      { key: SA.stage, value: 'awaiting-approval' },
      { key: SA.candidateVersion, value: version },
      { key: SA.requestedBy, value: requestedBy },
    ],
  });
  upsertSearchAttributes([
    { key: SA.stage, value: 'awaiting-approval' },
    { key: SA.candidateVersion, value: version },
  ]);
  stages.waiting('promotion', 'awaiting-approval', `awaiting approval in workflow ${promotionWorkflowId(model)}`);
  const decided = await child.result();
  stages.waiting('promotion', 'decided', decided.message);
  return decided;
}

/** Another promotion of the model is pending: refuse (when_busy: refuse), else back off and retry. */
async function waitForPendingPromotion({ input, spec, stages }: Run, attempt: number): Promise<void> {
  const pending = promotionWorkflowId(input.model);
  if (spec.promotion.when_busy === 'refuse') {
    throw ApplicationFailure.create({
      type: FailureType.PromotionBusy,
      nonRetryable: true,
      message:
        `another promotion of ${input.model} is pending (workflow ${pending}); the model spec says ` +
        'when_busy: refuse. Decide or wait for that one, then run again.',
    });
  }
  stages.waiting(
    'promotion',
    'waiting-for-promotion',
    `waiting for the pending promotion of ${input.model} (${pending}) to finish`,
  );
  await sleep(Math.min(600_000, 5_000 * 2 ** Math.min(attempt, 7)));
}
