/**
 * Training dispatch (GPU or CPU pool): run one trainer trial as a child process under the
 * trainer contract, relay its progress as heartbeats and MLflow metrics, resume from the last
 * checkpoint after a crash, and register the chosen candidate in the MLflow registry with its
 * lineage, idempotently.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { FailureType } from '../lib/core/failure-types';
import { MlflowClient, isRetryable, quoteFilterValue, tagFilterKey, tagsOf, type Run } from '../lib/registry/mlflow';
import { getObjectBytes, parseS3Uri } from '../lib/infra/s3';
import { TRAINER_CONTRACT, TRAINER_EXIT, type TrainerInput, type TrainerResult } from '../lib/trainer/contract';
import { runTrainerProcess } from '../lib/trainer/process';
import { trainerEnv } from '../lib/trainer/env';
import type { ActivityDeps } from './deps';
import { loadDeployed } from './spec';
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
  probabilityIndex: number;
};

/** Heartbeat details: enough to resume after a crash, and to tell an operator which process trains. */
export type TrialHeartbeat = {
  runId: string;
  checkpoint?: { uri: string; step: number };
  step?: number;
  total?: number;
  host?: string;
  trainerPid?: number;
};

export type SweepRunInput = StageInput & { trials: number; requestedBy: string };

export type RegisterInput = StageInput & {
  snapshot: FeatureSnapshotRef;
  trial: TrialResult;
  featureColumns: string[];
  requestedBy: string;
  parentRunId?: string;
};

export const TAG = {
  trialKey: 'mlo.trial_key',
  trialResult: 'mlo.trial_result',
  registrationKey: 'mlo.registration_key',
  sweepKey: 'mlo.sweep_key',
} as const;

export function experimentName(model: string): string {
  return `mlo/${model}`;
}

function fail(type: string, message: string, nonRetryable: boolean): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable });
}

function safeId(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9._=-]+/g, '_');
}

export function trainingActivities(deps: ActivityDeps) {
  const { mlflow, config } = deps;
  const bucket = config.s3.bucket;

  async function findRun(experimentId: string, key: string, value: string): Promise<Run | undefined> {
    const page = await mlflow.searchRuns({
      experimentIds: [experimentId],
      filter: `tags.${tagFilterKey(key)} = ${quoteFilterValue(value)}`,
      maxResults: 1,
    });
    return page.items[0];
  }

  return {
    /** The parent MLflow run of a sweep (trials are its child runs); idempotent by workflow id. */
    async startSweepRun(input: SweepRunInput): Promise<{ parentRunId: string }> {
      const exp = await mlflow.getOrCreateExperiment(experimentName(input.model));
      const sweepKey = `${input.workflowId}/${Context.current().info.workflowExecution?.runId ?? ''}`;
      const existing = await findRun(exp.experimentId, TAG.sweepKey, sweepKey);
      if (existing) return { parentRunId: existing.info.runId };
      const run = await mlflow.createRun({
        experimentId: exp.experimentId,
        runName: `${input.model}-sweep`,
        tags: {
          [TAG.sweepKey]: sweepKey,
          'mlo.workflow_id': input.workflowId,
          'mlo.requested_by': input.requestedBy,
          'mlo.trials': String(input.trials),
        },
      });
      return { parentRunId: run.info.runId };
    },

    async finishSweepRun(input: { parentRunId: string; best: TrialResult }): Promise<void> {
      const metrics = Object.entries(input.best.metrics)
        .filter((e): e is [string, number] => typeof e[1] === 'number')
        .map(([key, value]) => ({ key: `best_${key}`, value }));
      await mlflow.logBatch(input.parentRunId, {
        metrics,
        tags: { 'mlo.best_trial': String(input.best.trialIndex), 'mlo.best_run_id': input.best.runId },
      });
      await mlflow.endRun(input.parentRunId, 'FINISHED');
    },

    /**
     * Runs one trainer trial to completion; resumes from the last heartbeat's checkpoint. The
     * trainer and seed come from the deployed spec with the run's hash, not from the input.
     */
    async trainTrial(input: TrialInput): Promise<TrialResult> {
      const ctx = Context.current();
      const info = ctx.info;
      const previous = info.heartbeatDetails as TrialHeartbeat | undefined;
      const { spec } = loadDeployed(deps, input);
      const trainer = spec.training.trainer;
      const exp = await mlflow.getOrCreateExperiment(experimentName(input.model));
      // Keyed by the workflow run, not just its id: a later run with the same id trains anew.
      const trialKey = `${input.workflowId}/${info.workflowExecution?.runId ?? ''}#${input.trialIndex}`;

      let runId = previous?.runId;
      if (!runId) {
        const found = await findRun(exp.experimentId, TAG.trialKey, trialKey);
        if (found) {
          // A previous attempt finished this trial but its completion was lost: same answer.
          const done = tagsOf(found)[TAG.trialResult];
          if (found.info.status === 'FINISHED' && done) return JSON.parse(done) as TrialResult;
          runId = found.info.runId;
        }
      }
      if (!runId) {
        const run = await mlflow.createRun({
          experimentId: exp.experimentId,
          runName: `${input.model}-${input.parentRunId ? `trial-${input.trialIndex}` : 'train'}`,
          parentRunId: input.parentRunId,
          tags: {
            [TAG.trialKey]: trialKey,
            'mlo.workflow_id': input.workflowId,
            'mlo.workflow_run_id': info.workflowExecution?.runId ?? '',
            'mlo.requested_by': input.requestedBy,
            'mlo.trainer_command': trainer.command.join(' '),
            'mlo.code_version': deps.codeVersion,
            'mlo.feature_snapshot_hash': input.snapshot.hash,
            'mlo.spec_hash': input.specHash,
          },
        });
        runId = run.info.runId;
        await mlflow.logBatch(runId, {
          params: {
            ...input.params,
            seed: spec.training.seed,
            trainer: trainer.command.join(' '),
            pool: trainer.pool,
          },
        });
      }
      const state: TrialHeartbeat = { runId, checkpoint: previous?.checkpoint, host: os.hostname() };
      if (state.checkpoint) {
        await mlflow.setRunTag(
          runId,
          'mlo.resumed_from',
          `step ${state.checkpoint.step} (${state.checkpoint.uri}) at attempt ${info.attempt}`,
        );
        log.info('resuming training from its last checkpoint', { runId, step: state.checkpoint.step });
      }
      ctx.heartbeat(state);

      const base = `${safeId(input.workflowId)}/trial-${input.trialIndex}/`;
      const trainerInput: TrainerInput = {
        contract: TRAINER_CONTRACT,
        manifestUri: input.snapshot.manifestUri,
        featureColumns: input.featureColumns,
        labelColumn: 'label',
        train: input.windows.train,
        validation: input.windows.validation,
        params: input.params,
        seed: spec.training.seed,
        outputPrefix: `s3://${bucket}/models/${input.model}/${base}`,
        checkpointPrefix: `s3://${bucket}/checkpoints/${input.model}/${base}`,
        resume: state.checkpoint ?? null,
        device: 'cpu',
      };
      const device = deps.devices.acquire();
      trainerInput.device = device === 'cpu' ? 'cpu' : 'cuda:0'; // CUDA_VISIBLE_DEVICES renumbers the one visible GPU as 0
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlo-trainer-'));
      const inputFile = path.join(dir, 'input.json');
      await fs.writeFile(inputFile, JSON.stringify(trainerInput, null, 2));

      let result: TrainerResult | undefined;
      let pending: { key: string; value: number; step: number; timestamp: number }[] = [];
      let flushing: Promise<void> = Promise.resolve();
      const flush = (): Promise<void> => {
        const batch = pending;
        pending = [];
        if (batch.length === 0) return flushing;
        const send = async (): Promise<void> => {
          try {
            await mlflow.logBatch(state.runId, { metrics: batch });
          } catch (err) {
            log.warn('could not log trainer metrics to MLflow; this batch is dropped', { error: String(err) });
          }
        };
        flushing = flushing.then(send);
        return flushing;
      };
      // Beat well inside the heartbeat timeout, so only a dead worker misses it.
      const beatMs = Math.min(10_000, Math.max(1000, (info.heartbeatTimeoutMs ?? 60_000) / 4));
      const beat = setInterval(() => {
        ctx.heartbeat(state);
        void flush();
      }, beatMs);
      let run;
      try {
        run = await runTrainerProcess({
          command: trainer.command,
          inputFile,
          signal: ctx.cancellationSignal,
          onPid: (pid) => {
            state.trainerPid = pid;
            ctx.heartbeat(state);
          },
          env: trainerEnv(process.env, {
            s3: { ...config.s3, bucket },
            mlflowTrackingUri: config.mlflow.trackingUri,
            mlflowRunId: state.runId,
            cudaVisibleDevices: device === 'cpu' ? '' : device,
          }),
          onLine: (line) => {
            const now = Date.now();
            if (line.type === 'progress') {
              state.step = line.step;
              state.total = line.total;
              for (const [key, value] of Object.entries(line.metrics))
                if (typeof value === 'number')
                  pending.push({ key, value, step: Math.trunc(line.step), timestamp: now });
              ctx.heartbeat(state);
            } else if (line.type === 'checkpoint') {
              state.checkpoint = { uri: line.uri, step: line.step };
              ctx.heartbeat(state);
            } else {
              result = line;
            }
          },
        });
      } finally {
        clearInterval(beat);
        deps.devices.release(device);
        await fs.rm(dir, { recursive: true, force: true });
        await flush();
      }

      const cmd = trainer.command.join(' ');
      const tail = run.stderrTail.slice(-12).join('\n');
      if (run.aborted) {
        await mlflow.endRun(state.runId, 'KILLED').catch(() => undefined);
        throw ctx.cancellationSignal.reason instanceof Error
          ? ctx.cancellationSignal.reason
          : fail(FailureType.Cancelled, 'training was cancelled', true);
      }
      if (run.exitCode === TRAINER_EXIT.badInput) {
        await mlflow.endRun(state.runId, 'FAILED').catch(() => undefined);
        throw fail(
          FailureType.BadInput,
          `trainer \`${cmd}\` rejected its input (exit ${TRAINER_EXIT.badInput}; not retried):\n${tail}`,
          true,
        );
      }
      if (run.exitCode === TRAINER_EXIT.transient) {
        throw fail(
          FailureType.TrainerTransient,
          `trainer \`${cmd}\` hit a transient failure (exit ${TRAINER_EXIT.transient}; retrying):\n${tail}`,
          false,
        );
      }
      if (run.exitCode !== 0) {
        throw fail(
          FailureType.TrainerCrashed,
          `trainer \`${cmd}\` ${run.exitCode === null ? `was killed by ${run.signal}` : `exited ${run.exitCode}`}:\n${tail}`,
          false,
        );
      }
      if (!result || run.violations.length > 0) {
        await mlflow.endRun(state.runId, 'FAILED').catch(() => undefined);
        const why = !result
          ? 'exited 0 without a result line'
          : `printed lines outside the contract: ${run.violations.slice(0, 3).join(' | ')}`;
        throw fail(
          FailureType.BadInput,
          `trainer \`${cmd}\` broke the trainer contract (${TRAINER_CONTRACT}): it ${why}`,
          true,
        );
      }
      const cols = result.inputSchema.columns;
      if (cols.length !== input.featureColumns.length || cols.some((c, i) => c !== input.featureColumns[i])) {
        await mlflow.endRun(state.runId, 'FAILED').catch(() => undefined);
        throw fail(
          FailureType.BadInput,
          `trainer \`${cmd}\` produced a model whose input columns (${cols.join(', ')}) are not the snapshot's feature columns in order (${input.featureColumns.join(', ')})`,
          true,
        );
      }

      // The ONNX model and the feature manifest become artifacts of the run.
      const onnx = parseS3Uri(result.onnxUri);
      const manifest = parseS3Uri(input.snapshot.manifestUri);
      const runInfo = await mlflow.getRun(state.runId);
      await mlflow.uploadArtifact(
        runInfo.info.artifactUri,
        'model/model.onnx',
        await getObjectBytes(deps.s3, onnx.bucket, onnx.key),
      );
      await mlflow.uploadArtifact(
        runInfo.info.artifactUri,
        'features/manifest.json',
        await getObjectBytes(deps.s3, manifest.bucket, manifest.key),
      );
      const finalMetrics = Object.entries(result.metrics)
        .filter((e): e is [string, number] => typeof e[1] === 'number')
        .map(([key, value]) => ({ key, value }));
      const out: TrialResult = {
        trialIndex: input.trialIndex,
        runId: state.runId,
        onnxUri: result.onnxUri,
        metrics: result.metrics,
        params: input.params,
        probabilityOutput: result.outputs.probability,
        probabilityIndex: result.outputs.probabilityIndex ?? 1,
      };
      await mlflow.logBatch(state.runId, {
        metrics: finalMetrics,
        tags: { [TAG.trialResult]: JSON.stringify(out), 'mlo.onnx_uri': result.onnxUri },
      });
      await mlflow.endRun(state.runId, 'FINISHED');
      return out;
    },

    /**
     * Registers the chosen trial as a new model version with its lineage. Idempotent: a retry
     * finds the version by its registration tag instead of creating a second one.
     */
    async registerCandidate(input: RegisterInput): Promise<CandidateRef> {
      const ctx = Context.current();
      const name = input.model;
      const regKey = `${input.workflowId}/${ctx.info.workflowExecution?.runId ?? ''}`;
      await mlflow.createRegisteredModel(name, {
        description: input.spec.description,
        tags: { 'mlo.owner': input.spec.owner },
      });
      const filter = `name = ${quoteFilterValue(name)} and tags.${tagFilterKey(TAG.registrationKey)} = ${quoteFilterValue(regKey)}`;
      const once = new MlflowClient({ trackingUri: config.mlflow.trackingUri, retry: { attempts: 1 } });
      const run = await mlflow.getRun(input.trial.runId);
      const w = input.windows;
      const tags: Record<string, string> = {
        [TAG.registrationKey]: regKey,
        'mlo.feature_snapshot_hash': input.snapshot.hash,
        'mlo.feature_manifest_uri': input.snapshot.manifestUri,
        'mlo.train_window': `${w.train.from}..${w.train.to}`,
        'mlo.validation_window': `${w.validation.from}..${w.validation.to}`,
        'mlo.holdout_window': `${w.holdout.from}..${w.holdout.to}`,
        'mlo.label_cutoff': w.labelCutoff,
        'mlo.code_version': deps.codeVersion,
        'mlo.trainer_command': input.spec.training.trainer.command.join(' '),
        'mlo.spec_hash': input.specHash,
        'mlo.workflow_id': input.workflowId,
        'mlo.workflow_run_id': ctx.info.workflowExecution?.runId ?? '',
        'mlo.requested_by': input.requestedBy,
        'mlo.onnx_uri': input.trial.onnxUri,
        'mlo.input_columns': JSON.stringify(input.featureColumns),
        'mlo.probability_output': `${input.trial.probabilityOutput}[${input.trial.probabilityIndex}]`,
        ...(input.parentRunId ? { 'mlo.sweep_run_id': input.parentRunId } : {}),
      };
      // Search before every create attempt: a create whose response was lost must not be repeated.
      for (let attempt = 0; ; attempt++) {
        const found = (await mlflow.searchModelVersions({ filter, maxResults: 5 })).items[0];
        if (found) return { runId: input.trial.runId, version: found.version, onnxUri: input.trial.onnxUri };
        try {
          const mv = await once.createModelVersion({
            name,
            source: `${run.info.artifactUri}/model`,
            runId: input.trial.runId,
            tags,
            description: `trained by ${input.workflowId}`,
          });
          await mlflow.waitForModelVersionReady(name, mv.version, { signal: ctx.cancellationSignal });
          await mlflow.setRunTag(input.trial.runId, 'mlo.model_version', mv.version);
          return { runId: input.trial.runId, version: mv.version, onnxUri: input.trial.onnxUri };
        } catch (err) {
          if (!isRetryable(err) || attempt >= 10) throw err;
          ctx.heartbeat({ attempt });
          await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt)));
        }
      }
    },
  };
}
