/**
 * The training activity as a worker runs it (real MLflow and S3 of the dev stack), with a test
 * trainer that reports its environment: the worker's secrets do not reach the trainer, the
 * contract's variables do, and the command that runs is the deployed spec's, whatever the
 * activity's input says.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildDeps, createGpuActivities } from '../../activities';
import type { TrialInput } from '../../activities/training';
import { FailureType } from '../../lib/core/failure-types';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import type { ModelSpec } from '../../lib/spec/model-spec';
import { isPassedThrough } from '../../lib/trainer/env';
import { deployedSpecsDir, deploySpec, trialInput as sharedTrialInput } from '../helpers/deployed-spec';
import { uniqueName } from '../helpers/temporal';

const cfg = loadConfig();
const TRAINER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'trainers', 'print-env.cjs');
/** Secrets (and a setting) a worker holds, names and values; none may reach a trainer. */
const SECRETS: Record<string, string> = {
  MLO_WORKER_ONLY_SETTING: 'worker-setting-6d2a',
  MLFLOW_TRACKING_PASSWORD: 'mlflow-password-4e1f',
  MLFLOW_TRACKING_USERNAME: 'mlo-registry',
  MLO_MLO_ORCHESTRATOR_CLIENT_SECRET: 'orchestrator-secret-9a7c',
  MLO_OIDC_CLIENT_SECRET: 'oidc-secret-2b6d',
  TEMPORAL_API_KEY: 'temporal-token-51e0',
  MLO_TEMPORAL_TOKEN: 'temporal-token-77aa',
  PYTHON_KEYRING_PASSWORD: 'keyring-password-0c3e',
};
const PROBE = `--probe=${Object.values(SECRETS).join(',')}`;
/** What the trainer contract sets (trainers/README.md §3), and the Python output setting. */
const CONTRACT = [
  'MLO_S3_ENDPOINT',
  'MLO_S3_BUCKET',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_DEFAULT_REGION',
  'MLFLOW_TRACKING_URI',
  'MLFLOW_RUN_ID',
  'CUDA_VISIBLE_DEVICES',
  'PYTHONUNBUFFERED',
  // Passed on when the worker has it (CI and the dev stack set it): boto3's credential chain must not probe
  // the instance-metadata address either.
  'AWS_EC2_METADATA_DISABLED',
];

let specsDir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(() => {
  specsDir = deployedSpecsDir();
  for (const [k, v] of Object.entries(SECRETS)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  saved.LANG = process.env.LANG;
  process.env.LANG ??= 'C.UTF-8';
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(specsDir, { recursive: true, force: true });
});

const marker = path.join(os.tmpdir(), `mlo-forged-trainer-${process.pid}`);
afterEach(() => fs.rmSync(marker, { force: true }));

const trialInput = (spec: ModelSpec, specHash: string): TrialInput =>
  sharedTrialInput(spec, specHash, uniqueName('trainer-env'), cfg.s3.bucket);

/** Runs trainTrial as the GPU pool's worker does, and returns its failure. */
async function trainFailure(input: TrialInput): Promise<ApplicationFailure> {
  const acts = createGpuActivities({ ...buildDeps(cfg), modelsDir: specsDir });
  const err = await new MockActivityEnvironment({ heartbeatTimeoutMs: 60_000 })
    .run((i: TrialInput) => acts.trainTrial(i), input)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

function reported(message: string): { keys: string[]; leaked: string } {
  const keys = /env keys: (.*)/.exec(message)?.[1]?.split(',') ?? [];
  const leaked = /leaked values: (.*)/.exec(message)?.[1] ?? '';
  return { keys, leaked };
}

describe("a trainer's environment", () => {
  it("holds the contract's variables and the runtime's, and none of the worker's secrets", async () => {
    const name = `env-${uniqueName('m')}`;
    const { spec, specHash } = deploySpec(specsDir, name, { trainer: { command: ['node', TRAINER, PROBE] } });
    const failure = await trainFailure(trialInput(spec, specHash));
    expect(failure.type).toBe(FailureType.BadInput);
    expect(failure.message).toContain(`trainer \`node ${TRAINER} ${PROBE}\` rejected its input`);
    const { keys, leaked } = reported(failure.message);
    expect(keys).toEqual(expect.arrayContaining(['PATH', 'LANG', ...CONTRACT]));
    for (const secret of Object.keys(SECRETS)) expect(keys).not.toContain(secret);
    expect(leaked).toBe('none');
    // Nothing else of the worker's: every name is the contract's or allowlisted.
    expect(keys).not.toContain('MLO_WORKER_ONLY_SETTING');
    expect(keys.filter((k) => !CONTRACT.includes(k) && !isPassedThrough(k))).toEqual([]);
  });

  it("runs the deployed spec's command, not the one in the activity's input", async () => {
    const name = `cmd-${uniqueName('m')}`;
    const { spec, specHash } = deploySpec(specsDir, name, { trainer: { command: ['node', TRAINER] } });
    const forged: ModelSpec = {
      ...spec,
      training: { ...spec.training, trainer: { command: ['sh', '-c', `touch ${marker}`], pool: 'cpu' } },
    };
    const failure = await trainFailure(trialInput(forged, specHash));
    expect(failure.message).toContain(`trainer \`node ${TRAINER}\` rejected its input`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('is never made for a spec hash the workers do not deploy: the trial fails at once', async () => {
    const name = `hash-${uniqueName('m')}`;
    const { spec, specHash } = deploySpec(specsDir, name, { trainer: { command: ['sh', '-c', `touch ${marker}`] } });
    expect(specHash).not.toBe('0123456789abcdef');
    const failure = await trainFailure(trialInput(spec, '0123456789abcdef'));
    expect(failure.type).toBe(FailureType.BadInput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^the workers deploy a different .*\.yaml than the run was started with/);
    expect(fs.existsSync(marker)).toBe(false);
  });
});
