/**
 * The training activity's retries as a worker runs them (the dev stack's real MLflow and S3, a
 * real trainer process): a retry resumes from the newest valid checkpoint of any earlier attempt
 * and writes under its own prefix; a trainer that already exited 0 is never run again; a failure
 * before the trainer starts does not keep the worker's GPU slot.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildDeps, createGpuActivities } from '../../activities';
import type { TrialHeartbeat, TrialInput, TrialResult } from '../../activities/training';
import { FailureType } from '../../lib/core/failure-types';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client, putObject } from '../../lib/infra/s3';
import { MlflowClient, quoteFilterValue, tagFilterKey, tagsOf } from '../../lib/registry/mlflow';
import { RunTag } from '../../lib/registry/tags';
import type { ModelSpec } from '../../lib/spec/model-spec';
import { identify } from '../../lib/trainer/process-identity';
import { deployedSpecsDir, deploySpec, trialInput as sharedTrialInput } from '../helpers/deployed-spec';
import { deleteUnder } from '../helpers/s3';
import { uniqueName } from '../helpers/temporal';

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const mlflow = MlflowClient.fromConfig(cfg);
const REPORTER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'trainers', 'report-input.cjs');
const RUN_ID = randomUUID();
let specsDir: string;
const models: string[] = [];

beforeAll(() => {
  specsDir = deployedSpecsDir();
});

afterAll(async () => {
  fs.rmSync(specsDir, { recursive: true, force: true });
  for (const m of models) await deleteUnder(s3, cfg.s3.bucket, `checkpoints/${m}/`);
});

function deployReporter(): { spec: ModelSpec; specHash: string } {
  const name = `recovery-${randomUUID().slice(0, 8)}`;
  models.push(name);
  return deploySpec(specsDir, name, { trainer: { command: ['node', REPORTER] } });
}

const trialInput = (spec: ModelSpec, specHash: string, workflowId: string): TrialInput =>
  sharedTrialInput(spec, specHash, workflowId, cfg.s3.bucket);

/** Runs trainTrial as attempt `attempt` of the activity, with the heartbeat details of the one before. */
function attemptOf(
  input: TrialInput,
  attempt: number,
  heartbeatDetails?: TrialHeartbeat,
  devices: string[] = [],
): Promise<TrialResult> {
  const acts = createGpuActivities({ ...buildDeps(cfg, devices), modelsDir: specsDir });
  const env = new MockActivityEnvironment({
    attempt,
    heartbeatDetails,
    heartbeatTimeoutMs: 60_000,
    workflowExecution: { workflowId: input.workflowId, runId: RUN_ID },
  });
  return env.run((i: TrialInput) => acts.trainTrial(i), input);
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

type Report = {
  resume: { uri: string; step: number } | null;
  checkpointPrefix: string;
  stdinLease: boolean;
  stdinIsPipe: boolean;
  tmpdir: string;
  tmpdirExists: boolean;
};
const reportOf = (f: ApplicationFailure) => JSON.parse(/report: (.*)/.exec(f.message)?.[1] ?? 'null') as Report;

/** Writes a checkpoint object as a trainer does: metadata with its step and the sha256 of its bytes. */
async function putCheckpoint(uri: string, step: number, body: string, sha = sha256(body)): Promise<void> {
  const key = uri.slice(`s3://${cfg.s3.bucket}/`.length);
  await putObject(s3, cfg.s3.bucket, key, body, { metadata: { sha256: sha, step: String(step) } });
}
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('a retried trial', () => {
  it('resumes from the newest valid checkpoint of any earlier attempt, not the one in the last heartbeat', async () => {
    const { spec, specHash } = deployReporter();
    const wf = uniqueName('recovery');
    const input = trialInput(spec, specHash, wf);
    const trial = `s3://${cfg.s3.bucket}/checkpoints/${spec.name}/${wf}/${RUN_ID}/trial-0/`;
    // Attempt 1 reached step 20 (the last heartbeat the server saw), attempt 2 step 40; attempt 2's
    // step 60 was never completed (no checksum), attempt 3's step 50 does not match its checksum.
    await putCheckpoint(`${trial}attempt-1/step-20.txt`, 20, 'tree 20');
    await putCheckpoint(`${trial}attempt-2/step-40.txt`, 40, 'tree 40');
    await putObject(s3, cfg.s3.bucket, `${trial}attempt-2/step-60.txt`.slice(`s3://${cfg.s3.bucket}/`.length), 'x');
    await putCheckpoint(`${trial}attempt-3/step-50.txt`, 50, 'tree 50 (torn)', sha256('tree 50'));

    await failureOf(attemptOf(input, 1)); // creates the trial's MLflow run
    const failure = await failureOf(
      attemptOf(input, 4, {
        runId: await trialRunId(input),
        checkpoint: { uri: `${trial}attempt-1/step-20.txt`, step: 20 },
      }),
    );
    expect(failure.type).toBe(FailureType.BadInput);
    const report = reportOf(failure);
    expect(report.resume).toEqual({ uri: `${trial}attempt-2/step-40.txt`, step: 40 });
    expect(report.checkpointPrefix).toBe(`${trial}attempt-4/`);
    // The stdin lease and a TMPDIR inside the scratch directory, which is gone afterwards.
    expect(report.stdinLease).toBe(true);
    expect(report.stdinIsPipe).toBe(true);
    expect(report.tmpdirExists).toBe(true);
    expect(path.dirname(report.tmpdir)).toMatch(new RegExp(`^${os.tmpdir()}/mlo-trainer-`));
    expect(fs.existsSync(path.dirname(report.tmpdir))).toBe(false);
    const run = await mlflow.getRun(await trialRunId(input));
    expect(tagsOf(run)[RunTag.resumedFrom]).toBe(`step 40 (${trial}attempt-2/step-40.txt) at attempt 4`);
  });

  it('with no earlier checkpoint starts from scratch under its own attempt prefix', async () => {
    const { spec, specHash } = deployReporter();
    const wf = uniqueName('recovery');
    const report = reportOf(await failureOf(attemptOf(trialInput(spec, specHash, wf), 2)));
    expect(report.resume).toBeNull();
    expect(report.checkpointPrefix).toBe(
      `s3://${cfg.s3.bucket}/checkpoints/${spec.name}/${wf}/${RUN_ID}/trial-0/attempt-2/`,
    );
  });

  it('first kills the trainer group the heartbeat names when it still runs on this host', async () => {
    const { spec, specHash } = deployReporter();
    const input = trialInput(spec, specHash, uniqueName('recovery'));
    await failureOf(attemptOf(input, 1));
    // A trainer that outlived its worker (it ignores the stdin lease), with a child of its own.
    const script =
      "require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });" +
      'setInterval(() => {}, 1000);';
    const leftover = spawn(process.execPath, ['-e', script], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const trainer = identify(leftover.pid!)!;
    const gone = new Promise((r) => leftover.once('exit', (_c, sig) => r(sig)));
    const failure = await failureOf(attemptOf(input, 2, { runId: await trialRunId(input), trainer }));
    expect(reportOf(failure).checkpointPrefix).toMatch(/attempt-2\/$/);
    expect(await gone).toBe('SIGKILL');
    expect(() => process.kill(-trainer.pid, 0)).toThrow();
  });

  it('never runs the trainer again once an earlier attempt saved its result in the heartbeat', async () => {
    const { spec, specHash } = deployReporter();
    const input = trialInput(spec, specHash, uniqueName('recovery'));
    // Attempt 1 created the run and its trainer exited 0; MLflow then failed before the trial was finished.
    await failureOf(attemptOf(input, 1));
    const runId = await trialRunId(input);
    const onnxKey = `checkpoints/${spec.name}/${input.workflowId}/model-test.onnx`;
    await putObject(s3, cfg.s3.bucket, onnxKey, new Uint8Array([8, 7, 1, 2, 3]));
    const manifestKey = `checkpoints/${spec.name}/${input.workflowId}/manifest.json`;
    await putObject(s3, cfg.s3.bucket, manifestKey, '{"kind":"mlo.feature-snapshot/v1"}');
    input.snapshot = { ...input.snapshot, manifestUri: `s3://${cfg.s3.bucket}/${manifestKey}` };
    const result = {
      type: 'result' as const,
      onnxUri: `s3://${cfg.s3.bucket}/${onnxKey}`,
      metrics: { valid_auc: 0.81, valid_logloss: 0.3 },
      inputSchema: { name: 'features', dtype: 'float32', columns: ['amount'] },
      outputs: { probability: 'probabilities', probabilityIndex: 1 },
    };
    // The reporter trainer always fails: a retry that ran it would fail.
    const out = await attemptOf(input, 2, { runId, result });
    expect(out).toMatchObject({ runId, onnxUri: result.onnxUri, metrics: result.metrics, probabilityIndex: 1 });
    const run = await mlflow.getRun(runId);
    expect(run.info.status).toBe('FINISHED');
    expect(JSON.parse(tagsOf(run)[RunTag.trialResult] ?? '{}')).toEqual(out);
    const model = await mlflow.downloadArtifact(run.info.artifactUri, 'model/model.onnx');
    expect(Array.from(model)).toEqual([8, 7, 1, 2, 3]);
  });

  it('finishes from the result an earlier attempt kept in S3 when its heartbeat was lost with its worker', async () => {
    const { spec, specHash } = deployReporter();
    const input = trialInput(spec, specHash, uniqueName('recovery'));
    await failureOf(attemptOf(input, 1));
    const runId = await trialRunId(input);
    const dir = `checkpoints/${spec.name}/${input.workflowId}`;
    await putObject(s3, cfg.s3.bucket, `${dir}/model-kept.onnx`, new Uint8Array([8, 1, 1]));
    await putObject(s3, cfg.s3.bucket, `${dir}/manifest.json`, '{"kind":"mlo.feature-snapshot/v1"}');
    input.snapshot = { ...input.snapshot, manifestUri: `s3://${cfg.s3.bucket}/${dir}/manifest.json` };
    const result = {
      type: 'result',
      onnxUri: `s3://${cfg.s3.bucket}/${dir}/model-kept.onnx`,
      metrics: { valid_auc: 0.77 },
      inputSchema: { name: 'features', dtype: 'float32', columns: ['amount'] },
      outputs: { probability: 'probabilities', probabilityIndex: 1 },
    };
    await putObject(s3, cfg.s3.bucket, `${dir}/${RUN_ID}/trial-0/attempt-1/result.json`, JSON.stringify(result));
    // The last heartbeat that reached the server predates the result; the reporter trainer would fail if run.
    const out = await attemptOf(input, 2, { runId, step: 40 });
    expect(out).toMatchObject({ runId, onnxUri: result.onnxUri, metrics: result.metrics });
    expect((await mlflow.getRun(runId)).info.status).toBe('FINISHED');
  });

  it('a failure before the trainer starts gives the GPU slot back', async () => {
    const { spec, specHash } = deployReporter();
    const input = trialInput(spec, specHash, uniqueName('recovery'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = path.join(os.tmpdir(), `no-such-dir-${randomUUID()}`);
    try {
      const acts = createGpuActivities({ ...buildDeps(cfg, ['0']), modelsDir: specsDir });
      const env = new MockActivityEnvironment({
        attempt: 1,
        workflowExecution: { workflowId: input.workflowId, runId: RUN_ID },
      });
      // Twice on the same one-GPU worker: the second attempt fails the same way, not for want of a slot.
      for (let i = 0; i < 2; i++) {
        const err = await env
          .run((x: TrialInput) => acts.trainTrial(x), input)
          .then(
            () => undefined,
            (e: unknown) => e as Error,
          );
        expect(err?.message).toMatch(/ENOENT.*no-such-dir/);
      }
    } finally {
      process.env.TMPDIR = saved;
    }
  });
});

/** The MLflow run the trial's first attempt created (found by its trial key). */
async function trialRunId(input: TrialInput): Promise<string> {
  const exp = await mlflow.getOrCreateExperiment(`mlo/${input.model}`);
  const page = await mlflow.searchRuns({
    experimentIds: [exp.experimentId],
    filter: `${tagFilterKey(RunTag.trialKey)} = ${quoteFilterValue(`${input.workflowId}/${RUN_ID}#0`)}`,
    maxResults: 1,
  });
  const id = page.items[0]?.info.runId;
  if (!id) throw new Error(`no MLflow run for trial ${input.workflowId}`);
  return id;
}
