/**
 * Training dispatch (GPU or CPU pool): run one trainer trial as a child process under the
 * trainer contract, relay its progress as heartbeats and MLflow metrics, resume from the newest
 * valid checkpoint after a crash, and register the chosen candidate in the MLflow registry with
 * its lineage, idempotently.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import { FailureType } from '../lib/core/failure-types';
import { CancelledError, toActivityFailure, withActivityFailures } from '../lib/core/failures';
import { getObjectBytes, isNotFound, parseS3Uri } from '../lib/infra/s3';
import {
  quoteFilterValue,
  tagFilterKey,
  tagsOf,
  type MetricInput,
  type MlflowClient,
  type Run,
} from '../lib/registry/mlflow';
import { ModelTag, RunTag, VersionTag } from '../lib/registry/tags';
import { candidateInputsKey } from '../lib/registry/inputs-key';
import {
  parseTrainerLine,
  TRAINER_CONTRACT,
  TRAINER_EXIT,
  type TrainerInput,
  type TrainerLine,
  type TrainerResult,
} from '../lib/trainer/contract';
import { attemptPrefix, newestValidCheckpoint, savedResult, saveResult } from '../lib/trainer/checkpoints';
import { runTrainerProcess, type TrainerRun } from '../lib/trainer/process';
import { identify, killLeftoverGroup, type ProcessIdentity } from '../lib/trainer/process-identity';
import { makeScratchDir, sweepAbandonedScratch } from '../lib/trainer/scratch';
import type { ActivityDeps } from './deps';
import { registryActivity } from './heartbeat';
import { loadDeployed } from './spec';
import { trainerEnv } from '../lib/trainer/env';
import { trainerMetrics } from '../lib/observability/activity-metrics';
import { traceEnv } from '../lib/observability/tracing';
import type { CandidateRef, FeatureSnapshotRef, StageInput } from './types';

export type ParamValue = string | number | boolean;

export type TrialInput = StageInput & {
  snapshot: FeatureSnapshotRef;
  featureColumns: string[];
  trialIndex: number;
  params: Record<string, ParamValue>;
  parentRunId?: string;
  requestedBy: string;
};

export type TrialResult = {
  trialIndex: number;
  runId: string;
  onnxUri: string;
  metrics: Record<string, number | null>;
  params: Record<string, ParamValue>;
  probabilityOutput: string;
  /** The column of the positive class in `probabilityOutput`; none: known from the output's shape. */
  probabilityIndex?: number;
};

/**
 * Heartbeat details: which process trains (so a retry on the same host can kill a leftover), the
 * progress, and, once the trainer has exited 0, its result (so a retry never trains again).
 */
export type TrialHeartbeat = {
  runId: string;
  /** The checkpoint this attempt resumed from, then the last one it wrote. */
  checkpoint?: { uri: string; step: number };
  step?: number;
  total?: number;
  host?: string;
  trainerPid?: number;
  /** The trainer's process group leader, identified beyond its pid. */
  trainer?: ProcessIdentity;
  result?: TrainerResult;
};

export type SweepRunInput = StageInput & { trials: number; requestedBy: string };

export type RegisterInput = StageInput & {
  snapshot: FeatureSnapshotRef;
  trial: TrialResult;
  featureColumns: string[];
  requestedBy: string;
  parentRunId?: string;
};

function experimentName(model: string): string {
  return `mlo/${model}`;
}

export function trainingActivities(deps: ActivityDeps) {
  return {
    /** The parent MLflow run of a sweep (trials are its child runs); idempotent by workflow id. */
    async startSweepRun(input: SweepRunInput): Promise<{ parentRunId: string }> {
      return registryActivity(() => startSweepRun(deps, input));
    },

    async finishSweepRun(input: { parentRunId: string; best: TrialResult }): Promise<void> {
      return registryActivity(() => finishSweepRun(deps, input));
    },

    /** Runs one trainer trial to completion; resumes from the last heartbeat's checkpoint. */
    async trainTrial(input: TrialInput): Promise<TrialResult> {
      return trainTrial(deps, input);
    },

    /**
     * Registers the chosen trial as a new model version with its lineage. Idempotent: a retry
     * finds the version by its registration tag instead of creating a second one.
     */
    async registerCandidate(input: RegisterInput): Promise<CandidateRef> {
      return registryActivity(() => registerCandidate(deps, input));
    },
  };
}

/** The id of the workflow run the current activity works for ('' outside one). */
function workflowRunId(): string {
  return Context.current().info.workflowExecution?.runId ?? '';
}

function safeId(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9._=-]+/g, '_');
}

/** The number-valued entries of a metrics record, as MLflow metrics (keys optionally prefixed). */
function numericMetrics(metrics: Record<string, number | null>, prefix = ''): MetricInput[] {
  return Object.entries(metrics)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([key, value]) => ({ key: `${prefix}${key}`, value }));
}

async function findRun(
  mlflow: MlflowClient,
  experimentId: string,
  key: string,
  value: string,
): Promise<Run | undefined> {
  const page = await mlflow.searchRuns({
    experimentIds: [experimentId],
    filter: `${tagFilterKey(key)} = ${quoteFilterValue(value)}`,
    maxResults: 1,
  });
  return page.items[0];
}

// ---- sweeps -------------------------------------------------------------------------------

async function startSweepRun(deps: ActivityDeps, input: SweepRunInput): Promise<{ parentRunId: string }> {
  const { mlflow } = deps;
  const exp = await mlflow.getOrCreateExperiment(experimentName(input.model));
  const sweepKey = `${input.workflowId}/${workflowRunId()}`;
  const existing = await findRun(mlflow, exp.experimentId, RunTag.sweepKey, sweepKey);
  if (existing) return { parentRunId: existing.info.runId };
  // One HTTP attempt: a create whose answer was lost is found by the next activity attempt.
  const run = await deps.mlflowOnce.createRun({
    experimentId: exp.experimentId,
    runName: `${input.model}-sweep`,
    tags: {
      [RunTag.sweepKey]: sweepKey,
      [RunTag.workflowId]: input.workflowId,
      [RunTag.requestedBy]: input.requestedBy,
      [RunTag.trials]: String(input.trials),
    },
  });
  return { parentRunId: run.info.runId };
}

async function finishSweepRun(
  { mlflow }: ActivityDeps,
  input: { parentRunId: string; best: TrialResult },
): Promise<void> {
  await mlflow.logBatch(input.parentRunId, {
    metrics: numericMetrics(input.best.metrics, 'best_'),
    tags: { [RunTag.bestTrial]: String(input.best.trialIndex), [RunTag.bestRunId]: input.best.runId },
  });
  await mlflow.endRun(input.parentRunId, 'FINISHED');
}

// ---- one trial ----------------------------------------------------------------------------

/**
 * Runs one trainer trial to completion; a retry resumes from the newest valid checkpoint of the
 * earlier attempts, and never trains again once a trainer has exited 0. The trainer and seed come
 * from the deployed spec with the run's hash, never from the activity's input.
 */
async function trainTrial(deps: ActivityDeps, forwarded: TrialInput): Promise<TrialResult> {
  const input: TrialInput = { ...forwarded, spec: loadDeployed(deps, forwarded).spec };
  const ctx = Context.current();
  const previous = ctx.info.heartbeatDetails as TrialHeartbeat | undefined;
  const trial = await trialRun(deps, input, previous);
  if (typeof trial !== 'string') return trial;
  const state: TrialHeartbeat = { runId: trial, host: os.hostname() };
  const earlier = previous?.result ?? (await resultOfEarlierAttempt(deps, input));
  if (earlier) {
    // The trainer of an earlier attempt exited 0; only the steps after it are left.
    return finishBeating(deps, input, { ...state, result: earlier });
  }
  await clearLeftovers(previous);
  state.checkpoint = (await resumePoint(deps, input)) ?? undefined;
  if (state.checkpoint) await noteResume(deps.mlflow, state.runId, state.checkpoint);
  ctx.heartbeat(state);
  trainerMetrics(ctx, input.trialIndex).started(state.checkpoint !== undefined);

  const { run, result, relay } = await runTrainer(deps, input, state);
  const verdict = judgeTrainerRun(run, result, {
    command: input.spec.training.trainer.command,
    featureColumns: input.featureColumns,
    cancellation: ctx.cancellationSignal,
  });
  if ('error' in verdict) {
    await relay.flush();
    if (verdict.endAs) await deps.mlflow.endRun(state.runId, verdict.endAs).catch(() => undefined);
    throw toActivityFailure(verdict.error);
  }
  // Saved before MLflow and S3 are touched again: if they fail, the retry starts from here.
  const done = { ...state, result: verdict.result };
  ctx.heartbeat(done);
  await keepResult(deps, input, verdict.result);
  return finishBeating(deps, input, done, relay);
}

/** The result line also in S3, in case the worker dies before the SDK sends the heartbeat; best effort. */
async function keepResult(deps: ActivityDeps, input: TrialInput, result: TrainerResult): Promise<void> {
  const prefix = trialCheckpointPrefix(deps.config.s3.bucket, input);
  const attempt = Context.current().info.attempt;
  await saveResult(deps.s3, prefix, attempt, result, AbortSignal.timeout(10_000)).catch((err: unknown) => {
    log.warn('could not keep the trainer result in S3; the heartbeat has it', { error: String(err) });
  });
}

/** A result line an earlier attempt kept in S3 (its heartbeat lost with its worker), or undefined. */
async function resultOfEarlierAttempt(deps: ActivityDeps, input: TrialInput): Promise<TrainerResult | undefined> {
  const prefix = trialCheckpointPrefix(deps.config.s3.bucket, input);
  const saved = await savedResult(deps.s3, prefix, Context.current().cancellationSignal);
  if (saved === undefined) return undefined;
  const line = parseTrainerLine(JSON.stringify(saved));
  if (line.ok && line.value.type === 'result') return line.value;
  log.warn('ignoring a kept trainer result that is not a result line', { prefix });
  return undefined;
}

/** Finishes the trial from the trainer's result, heartbeating it all along (uploads can take minutes). */
async function finishBeating(
  deps: ActivityDeps,
  input: TrialInput,
  state: TrialHeartbeat & { result: TrainerResult },
  relay?: MetricRelay,
): Promise<TrialResult> {
  return whileBeating(state, async () => {
    await relay?.flush();
    // A result whose MLflow model does not match its ONNX file fails the same way on every retry: bad input.
    return withActivityFailures(() => finishTrial(deps, input, state.runId, state.result));
  });
}

/** Runs `fn`, heartbeating `details` now and then well inside the heartbeat timeout, so only a dead worker misses it. */
async function whileBeating<T>(details: TrialHeartbeat, fn: () => Promise<T>, onBeat?: () => void): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details);
  const beatMs = Math.min(10_000, Math.max(1000, (ctx.info.heartbeatTimeoutMs ?? 60_000) / 4));
  const beat = setInterval(() => {
    ctx.heartbeat(details);
    onBeat?.();
  }, beatMs);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}

/** The trial's MLflow run id, or the trial's result when an earlier attempt finished it. */
async function trialRun(
  deps: ActivityDeps,
  input: TrialInput,
  previous: TrialHeartbeat | undefined,
): Promise<string | TrialResult> {
  if (previous?.runId) return previous.runId;
  const exp = await deps.mlflow.getOrCreateExperiment(experimentName(input.model));
  // Keyed by the workflow run, not just its id: a later run with the same id trains anew.
  const trialKey = `${input.workflowId}/${workflowRunId()}#${input.trialIndex}`;
  const found = await findRun(deps.mlflow, exp.experimentId, RunTag.trialKey, trialKey);
  if (!found) return createTrialRun(deps, input, exp.experimentId, trialKey);
  // A previous attempt finished this trial but its completion was lost: same answer.
  const done = tagsOf(found)[RunTag.trialResult];
  if (found.info.status === 'FINISHED' && done) return JSON.parse(done) as TrialResult;
  return found.info.runId;
}

/**
 * Before a retry trains: kills the trainer group an earlier attempt left running on this host
 * (identified by pid, boot and start time, so a recycled pid is never touched), and removes the
 * scratch directories of workers that died.
 */
async function clearLeftovers(previous: TrialHeartbeat | undefined): Promise<void> {
  if (previous?.trainer) {
    const outcome = await killLeftoverGroup(previous.trainer);
    if (outcome === 'killed')
      log.warn('killed the trainer group an earlier attempt left running', { ...previous.trainer });
  }
  const removed = await sweepAbandonedScratch();
  if (removed.length > 0) log.info('removed scratch directories of dead workers', { removed });
}

/** Checkpoints of one trial, all attempts: `<checkpoints>/<model>/<workflow>/<run>/trial-<i>/`. */
function trialCheckpointPrefix(bucket: string, input: TrialInput): string {
  const run = safeId(workflowRunId() || 'run');
  return `s3://${bucket}/checkpoints/${input.model}/${safeId(input.workflowId)}/${run}/trial-${input.trialIndex}/`;
}

/** The newest valid checkpoint any earlier attempt of this trial wrote, or null. */
async function resumePoint(deps: ActivityDeps, input: TrialInput): Promise<{ uri: string; step: number } | null> {
  const found = await newestValidCheckpoint(deps.s3, trialCheckpointPrefix(deps.config.s3.bucket, input), {
    signal: Context.current().cancellationSignal,
    skipped: (c, why) => {
      log.warn('skipping a checkpoint that is not valid', { uri: c.uri, why });
    },
  });
  return found && { uri: found.uri, step: found.step };
}

/** The trial's MLflow run, with its lineage tags and parameters. */
async function createTrialRun(
  { mlflow, codeVersion }: ActivityDeps,
  input: TrialInput,
  experimentId: string,
  trialKey: string,
): Promise<string> {
  const trainer = input.spec.training.trainer;
  const run = await mlflow.createRun({
    experimentId,
    runName: `${input.model}-${input.parentRunId ? `trial-${input.trialIndex}` : 'train'}`,
    parentRunId: input.parentRunId,
    tags: {
      [RunTag.trialKey]: trialKey,
      [RunTag.workflowId]: input.workflowId,
      [RunTag.workflowRunId]: workflowRunId(),
      [RunTag.requestedBy]: input.requestedBy,
      [RunTag.trainerCommand]: trainer.command.join(' '),
      [RunTag.codeVersion]: codeVersion,
      [RunTag.featureSnapshotHash]: input.snapshot.hash,
      [RunTag.specHash]: input.specHash,
    },
  });
  const runId = run.info.runId;
  await mlflow.logBatch(runId, {
    params: { ...input.params, seed: input.spec.training.seed, trainer: trainer.command.join(' '), pool: trainer.pool },
  });
  return runId;
}

async function noteResume(
  mlflow: MlflowClient,
  runId: string,
  checkpoint: NonNullable<TrialHeartbeat['checkpoint']>,
): Promise<void> {
  const attempt = Context.current().info.attempt;
  await mlflow.setRunTag(
    runId,
    RunTag.resumedFrom,
    `step ${checkpoint.step} (${checkpoint.uri}) at attempt ${attempt}`,
  );
  log.info('resuming training from its last checkpoint', { runId, step: checkpoint.step });
}

/** The trainer's input file: where the snapshot is, what to train on, where to write. */
function trainerInput(bucket: string, input: TrialInput, state: TrialHeartbeat, device: string): TrainerInput {
  const base = `${safeId(input.workflowId)}/trial-${input.trialIndex}/`;
  const attempt = Context.current().info.attempt;
  return {
    contract: TRAINER_CONTRACT,
    manifestUri: input.snapshot.manifestUri,
    featureColumns: input.featureColumns,
    labelColumn: 'label',
    train: input.windows.train,
    validation: input.windows.validation,
    params: input.params,
    seed: input.spec.training.seed,
    outputPrefix: `s3://${bucket}/models/${input.model}/${base}`,
    // Each attempt its own prefix: an orphaned trainer and its retry never write the same objects.
    checkpointPrefix: attemptPrefix(trialCheckpointPrefix(bucket, input), attempt),
    resume: state.checkpoint ? { uri: state.checkpoint.uri, step: state.checkpoint.step } : null,
    // CUDA_VISIBLE_DEVICES renumbers the one visible GPU as 0
    device: device === 'cpu' ? 'cpu' : 'cuda:0',
    stdinLease: true,
  };
}

/**
 * The trainer's environment: an allowlist of the worker's, plus S3 and MLflow coordinates, its run,
 * its GPU, and a TMPDIR inside its scratch directory (removed with it, also after a crash).
 */
function trialEnv(config: ActivityDeps['config'], runId: string, device: string, tmp: string): NodeJS.ProcessEnv {
  const env = trainerEnv(process.env, {
    s3: config.s3,
    mlflowTrackingUri: config.mlflow.trackingUri,
    mlflowRunId: runId,
    cudaVisibleDevices: device === 'cpu' ? '' : device,
    trace: traceEnv(),
  });
  return { ...env, TMPDIR: tmp };
}

/**
 * Relays the trainer's progress metrics to MLflow in batches, one batch at a time and in order.
 * A batch MLflow does not take is dropped with a warning: metrics never fail a trial. A metric at
 * a step the run already has (logged by an earlier attempt, replayed after a resume) is not sent again.
 */
export class MetricRelay {
  private pending: MetricInput[] = [];
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly mlflow: Pick<MlflowClient, 'logBatch'>,
    private readonly runId: string,
    /** The last step logged so far of each metric. */
    private readonly loggedThrough: ReadonlyMap<string, number> = new Map(),
  ) {}

  push(metric: MetricInput): void {
    const last = this.loggedThrough.get(metric.key);
    if (last !== undefined && (metric.step ?? 0) <= last) return;
    this.pending.push(metric);
  }

  /** Sends what is pending; resolves once every batch sent so far is done. */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.send(batch));
    return this.flushing;
  }

  private async send(batch: MetricInput[]): Promise<void> {
    try {
      await this.mlflow.logBatch(this.runId, { metrics: batch });
    } catch (err) {
      log.warn('could not log trainer metrics to MLflow; this batch is dropped', { error: String(err) });
    }
  }
}

/**
 * Takes one trainer line into the trial's state (heartbeating it) and its metrics into the
 * relay; returns the trainer's result line when this is it.
 */
function onTrainerLine(
  line: TrainerLine,
  state: TrialHeartbeat,
  relay: MetricRelay,
  heartbeat: () => void,
): TrainerResult | undefined {
  if (line.type === 'progress') {
    const now = Date.now();
    state.step = line.step;
    state.total = line.total;
    for (const [key, value] of Object.entries(line.metrics))
      if (typeof value === 'number') relay.push({ key, value, step: Math.trunc(line.step), timestamp: now });
    heartbeat();
    return undefined;
  }
  if (line.type === 'checkpoint') {
    state.checkpoint = { uri: line.uri, step: line.step };
    heartbeat();
    return undefined;
  }
  return line;
}

/** The last step MLflow holds of each of the run's metrics (its latest value is at its largest step). */
async function loggedSteps(mlflow: MlflowClient, runId: string): Promise<Map<string, number>> {
  const run = await mlflow.getRun(runId);
  return new Map(run.data.metrics.map((m) => [m.key, m.step]));
}

/**
 * Runs the trainer on one of this worker's devices, heartbeating the trial's state well inside
 * the heartbeat timeout and relaying its metrics, and cleans up whatever happens.
 */
async function runTrainer(
  deps: ActivityDeps,
  input: TrialInput,
  state: TrialHeartbeat,
): Promise<{ run: TrainerRun; result: TrainerResult | undefined; relay: MetricRelay }> {
  // One attempt per batch: metrics are best effort, and a batch MLflow does not take must not hold the trial.
  const relay = new MetricRelay(deps.mlflowOnce, state.runId, await loggedSteps(deps.mlflow, state.runId));
  const device = deps.devices.acquire();
  try {
    const scratch = await makeScratchDir();
    try {
      const inputFile = path.join(scratch.dir, 'input.json');
      const body = trainerInput(deps.config.s3.bucket, input, state, device);
      await fs.writeFile(inputFile, JSON.stringify(body, null, 2));
      const done = await superviseTrainer(deps, input, state, relay, {
        inputFile,
        env: trialEnv(deps.config, state.runId, device, scratch.tmp),
        recordTrainer: (id) => void scratch.recordTrainer(id).catch(() => undefined),
      });
      return { ...done, relay };
    } finally {
      await scratch.remove();
    }
  } finally {
    deps.devices.release(device);
  }
}

/** Runs the trainer process, heartbeating well inside the heartbeat timeout so only a dead worker misses it. */
async function superviseTrainer(
  deps: ActivityDeps,
  input: TrialInput,
  state: TrialHeartbeat,
  relay: MetricRelay,
  proc: { inputFile: string; env: NodeJS.ProcessEnv; recordTrainer: (id: ProcessIdentity | undefined) => void },
): Promise<{ run: TrainerRun; result: TrainerResult | undefined }> {
  const ctx = Context.current();
  const heartbeat = () => ctx.heartbeat(state);
  const metrics = trainerMetrics(ctx, input.trialIndex);
  let result: TrainerResult | undefined;
  const run = await whileBeating(
    state,
    () =>
      runTrainerProcess({
        command: input.spec.training.trainer.command,
        inputFile: proc.inputFile,
        signal: ctx.cancellationSignal,
        onPid: (pid) => {
          state.trainerPid = pid;
          state.trainer = identify(pid);
          proc.recordTrainer(state.trainer);
          heartbeat();
        },
        env: proc.env,
        onLine: (line) => {
          metrics.line(line);
          result = onTrainerLine(line, state, relay, heartbeat) ?? result;
        },
      }),
    () => void relay.flush(),
  );
  return { run, result };
}

type TrainerVerdict =
  | { result: TrainerResult }
  | { error: unknown; /** How the trial's MLflow run ends, if the failure ends it. */ endAs?: 'KILLED' | 'FAILED' };

/**
 * What the trainer's exit means: its result, or the error the activity fails with. Bad input,
 * deterministic failures (exit 3) and broken contracts are final (the run ends FAILED); a transient
 * failure or a crash is retried (the run stays open for the next attempt).
 */
export function judgeTrainerRun(
  run: TrainerRun,
  result: TrainerResult | undefined,
  trial: { command: string[]; featureColumns: string[]; cancellation: AbortSignal },
): TrainerVerdict {
  const cmd = trial.command.join(' ');
  const tail = run.stderrTail.slice(-12).join('\n');
  if (run.aborted) {
    const reason: unknown = trial.cancellation.reason;
    return { endAs: 'KILLED', error: reason instanceof Error ? reason : new CancelledError('training was cancelled') };
  }
  if (run.exitCode === TRAINER_EXIT.badInput) {
    const why = `rejected its input (exit ${TRAINER_EXIT.badInput}; not retried)`;
    return { endAs: 'FAILED', error: new BadInputError(`trainer \`${cmd}\` ${why}:\n${tail}`) };
  }
  if (run.exitCode === TRAINER_EXIT.deterministic) {
    const why = `failed deterministically (exit ${run.exitCode}; not retried: it would fail the same way)`;
    return { endAs: 'FAILED', error: new BadInputError(`trainer \`${cmd}\` ${why}:\n${tail}`) };
  }
  if (run.exitCode === TRAINER_EXIT.transient) {
    const message = `trainer \`${cmd}\` hit a transient failure (exit ${TRAINER_EXIT.transient}; retrying):\n${tail}`;
    return { error: ApplicationFailure.create({ type: FailureType.TrainerTransient, message, nonRetryable: false }) };
  }
  if (run.exitCode !== 0) {
    const how = run.exitCode === null ? `was killed by ${run.signal}` : `exited ${run.exitCode}`;
    const message = `trainer \`${cmd}\` ${how}:\n${tail}`;
    return { error: ApplicationFailure.create({ type: FailureType.TrainerCrashed, message, nonRetryable: false }) };
  }
  if (!result || run.violations.length > 0) {
    const why = !result
      ? 'exited 0 without a result line'
      : `printed lines outside the contract: ${run.violations.slice(0, 3).join(' | ')}`;
    const message = `trainer \`${cmd}\` broke the trainer contract (${TRAINER_CONTRACT}): it ${why}`;
    return { endAs: 'FAILED', error: new BadInputError(message) };
  }
  const cols = result.inputSchema.columns;
  if (cols.length !== trial.featureColumns.length || cols.some((c, i) => c !== trial.featureColumns[i])) {
    const message =
      `trainer \`${cmd}\` produced a model whose input columns (${cols.join(', ')}) are not ` +
      `the snapshot's feature columns in order (${trial.featureColumns.join(', ')})`;
    return { endAs: 'FAILED', error: new BadInputError(message) };
  }
  return { result };
}

/**
 * The model becomes the run's `model/` artifacts (the registered version's source): the trainer's
 * MLflow model directory when it wrote one (`mlflowModel`, copied file by file, `MLmodel` last, so a
 * reader that finds `MLmodel` finds the rest), else the bare ONNX file as `model/model.onnx`. Either
 * way `model/model.onnx` holds the bytes of `onnxUri`.
 */
async function uploadModel(deps: ActivityDeps, artifactUri: string, result: TrainerResult): Promise<void> {
  const { mlflow, s3 } = deps;
  const onnx = parseS3Uri(result.onnxUri);
  const onnxBytes = await getObjectBytes(s3, onnx.bucket, onnx.key);
  const dir = result.mlflowModel;
  if (!dir?.files.includes('model.onnx')) await mlflow.uploadArtifact(artifactUri, 'model/model.onnx', onnxBytes);
  if (!dir) return;
  const files = [...dir.files.filter((f) => f !== 'MLmodel'), 'MLmodel'];
  for (const file of files) {
    const loc = parseS3Uri(`${dir.uri}${file}`);
    let bytes: Uint8Array;
    try {
      bytes = await getObjectBytes(s3, loc.bucket, loc.key);
    } catch (err) {
      if (isNotFound(err))
        throw new BadInputError(
          `the trainer's result lists ${file} in its MLflow model ${dir.uri}, but ${dir.uri}${file} does not exist`,
        );
      throw err;
    }
    if (file === 'model.onnx' && !sameBytes(bytes, onnxBytes))
      throw new BadInputError(
        `the trainer's MLflow model ${dir.uri} holds another model.onnx than its ONNX model ${result.onnxUri}; ` +
          'the two must be the same bytes (trainers/README.md §6)',
      );
    await mlflow.uploadArtifact(artifactUri, `model/${file}`, bytes);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
  );
}

/** The model and the feature manifest become artifacts of the run; its metrics and result are logged. */
async function finishTrial(
  deps: ActivityDeps,
  input: TrialInput,
  runId: string,
  result: TrainerResult,
): Promise<TrialResult> {
  const { mlflow, s3 } = deps;
  const manifest = parseS3Uri(input.snapshot.manifestUri);
  const runInfo = await mlflow.getRun(runId);
  const artifactUri = runInfo.info.artifactUri;
  await uploadModel(deps, artifactUri, result);
  await mlflow.uploadArtifact(
    artifactUri,
    'features/manifest.json',
    await getObjectBytes(s3, manifest.bucket, manifest.key),
  );
  const out: TrialResult = {
    trialIndex: input.trialIndex,
    runId,
    onnxUri: result.onnxUri,
    metrics: result.metrics,
    params: input.params,
    probabilityOutput: result.outputs.probability,
    ...(result.outputs.probabilityIndex === undefined ? {} : { probabilityIndex: result.outputs.probabilityIndex }),
  };
  // One batch with the result tag: a retry that finds the tag does not log the final metrics twice.
  if (tagsOf(runInfo)[RunTag.trialResult] === undefined)
    await mlflow.logBatch(runId, {
      metrics: numericMetrics(result.metrics),
      tags: { [RunTag.trialResult]: JSON.stringify(out), [RunTag.onnxUri]: result.onnxUri },
    });
  await mlflow.endRun(runId, 'FINISHED');
  return out;
}

// ---- registration -------------------------------------------------------------------------

/** The lineage a registered version carries, with the registration's idempotency key. */
function versionTags(deps: ActivityDeps, input: RegisterInput, regKey: string): Record<string, string> {
  const w = input.windows;
  return {
    [VersionTag.registrationKey]: regKey,
    [VersionTag.inputsKey]: candidateInputsKey({
      snapshotHash: input.snapshot.hash,
      windows: w,
      featureColumns: input.featureColumns,
      training: input.spec.training,
      codeVersion: deps.codeVersion,
    }),
    [VersionTag.featureSnapshotHash]: input.snapshot.hash,
    [VersionTag.featureManifestUri]: input.snapshot.manifestUri,
    [VersionTag.trainWindow]: `${w.train.from}..${w.train.to}`,
    [VersionTag.validationWindow]: `${w.validation.from}..${w.validation.to}`,
    [VersionTag.holdoutWindow]: `${w.holdout.from}..${w.holdout.to}`,
    [VersionTag.labelCutoff]: w.labelCutoff,
    [VersionTag.codeVersion]: deps.codeVersion,
    [VersionTag.trainerCommand]: input.spec.training.trainer.command.join(' '),
    [VersionTag.specHash]: input.specHash,
    [VersionTag.workflowId]: input.workflowId,
    [VersionTag.workflowRunId]: workflowRunId(),
    [VersionTag.requestedBy]: input.requestedBy,
    [VersionTag.onnxUri]: input.trial.onnxUri,
    [VersionTag.inputColumns]: JSON.stringify(input.featureColumns),
    // `<output>[<index>]`, or the bare name when the trainer left the column to the output's shape
    [VersionTag.probabilityOutput]:
      input.trial.probabilityIndex === undefined
        ? input.trial.probabilityOutput
        : `${input.trial.probabilityOutput}[${input.trial.probabilityIndex}]`,
    ...(input.parentRunId ? { [VersionTag.sweepRunId]: input.parentRunId } : {}),
  };
}

/**
 * Registers the trial once per workflow run, however many attempts run, even two at once: the
 * version carries the run's registration key (a tag set in the create call itself), so an attempt
 * first looks for it, and creates only when none exists, with one HTTP attempt (a create whose
 * answer was lost is found by the next activity attempt, never sent twice). Two overlapping
 * attempts that both created keep the lowest version and delete the other. Any failure fails the
 * attempt; Temporal retries it within the registry profile's time budget.
 */
async function registerCandidate(deps: ActivityDeps, input: RegisterInput): Promise<CandidateRef> {
  const { mlflow } = deps;
  const name = input.model;
  const regKey = `${input.workflowId}/${workflowRunId()}`;
  await mlflow.createRegisteredModel(name, {
    description: input.spec.description,
    tags: { [ModelTag.owner]: input.spec.owner },
  });
  let version = (await registeredVersions(mlflow, name, regKey))[0];
  if (!version) {
    const run = await mlflow.getRun(input.trial.runId);
    await deps.mlflowOnce.createModelVersion({
      name,
      source: `${run.info.artifactUri}/model`,
      runId: input.trial.runId,
      tags: versionTags(deps, input, regKey),
      description: `trained by ${input.workflowId}`,
    });
    version = await keepOneVersion(mlflow, name, regKey);
  }
  await mlflow.waitForModelVersionReady(name, version, { signal: Context.current().cancellationSignal });
  await mlflow.setRunTag(input.trial.runId, RunTag.modelVersion, version);
  return { runId: input.trial.runId, version, onnxUri: input.trial.onnxUri };
}

/** The versions registered under this key, lowest first. */
async function registeredVersions(mlflow: MlflowClient, name: string, regKey: string): Promise<string[]> {
  const filter =
    `name = ${quoteFilterValue(name)} and ` +
    `${tagFilterKey(VersionTag.registrationKey)} = ${quoteFilterValue(regKey)}`;
  const found = (await mlflow.searchModelVersions({ filter, maxResults: 50 })).items.map((v) => v.version);
  return found.sort((a, b) => Number(a) - Number(b));
}

/** Keeps the lowest version registered under the key (an overlapping attempt may have made another). */
async function keepOneVersion(mlflow: MlflowClient, name: string, regKey: string): Promise<string> {
  const [keep, ...extra] = await registeredVersions(mlflow, name, regKey);
  if (!keep) throw new Error(`MLflow created a version of ${name} but finds none tagged ${regKey}; retrying`);
  for (const v of extra) {
    log.warn('an overlapping registration attempt created a second version; deleting it', { name, version: v, keep });
    await mlflow.deleteModelVersion(name, v);
  }
  return keep;
}
