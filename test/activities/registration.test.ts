/**
 * Registration of a candidate against the real MLflow registry, as the CPU worker runs it: two
 * attempts of the same activity that overlap (a retry started while a slow attempt still runs)
 * leave exactly one model version, and both return it; an attempt after a registration whose
 * answer was lost finds the version instead of creating a second one.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities } from '../../activities';
import type { RegisterInput } from '../../activities/training';
import type { CandidateRef } from '../../activities/types';
import { runWindows } from '../../lib/core/windows';
import { loadConfig } from '../../lib/infra/config';
import {
  MlflowClient,
  quoteFilterValue,
  tagFilterKey,
  type CallOptions,
  type ModelVersion,
} from '../../lib/registry/mlflow';
import { VersionTag } from '../../lib/registry/tags';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';
import { uniqueName } from '../helpers/temporal';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
let specsDir: string;

beforeAll(() => {
  specsDir = deployedSpecsDir();
});

afterAll(() => {
  fs.rmSync(specsDir, { recursive: true, force: true });
});

type CreateInput = Parameters<MlflowClient['createModelVersion']>[0];

/** The real one-attempt client; each create waits until `parties` creates have arrived. */
class GatedCreates extends MlflowClient {
  creates = 0;
  private arrived = 0;
  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  constructor(private readonly parties: number) {
    super({
      trackingUri: cfg.mlflow.trackingUri,
      ...(cfg.mlflow.credentials ? { credentials: cfg.mlflow.credentials } : {}),
      retry: { attempts: 1 },
    });
  }

  override async createModelVersion(input: CreateInput, opts?: CallOptions): Promise<ModelVersion> {
    this.creates++;
    if (++this.arrived >= this.parties) this.open();
    await this.gate;
    return super.createModelVersion(input, opts);
  }
}

/** The real one-attempt client, losing the answer to the first create (the version is created). */
class LostAnswer extends MlflowClient {
  creates = 0;
  constructor() {
    super({
      trackingUri: cfg.mlflow.trackingUri,
      ...(cfg.mlflow.credentials ? { credentials: cfg.mlflow.credentials } : {}),
      retry: { attempts: 1 },
    });
  }

  override async createModelVersion(input: CreateInput, opts?: CallOptions): Promise<ModelVersion> {
    const mv = await super.createModelVersion(input, opts);
    if (++this.creates === 1) throw new Error(`injected: the answer creating version ${mv.version} was lost`);
    return mv;
  }
}

/** A deployed spec, and a finished trial run in MLflow to register. */
async function registration(): Promise<{ input: RegisterInput; regKey: string; runId: string }> {
  const name = `reg-${uniqueName('m')}`;
  const { spec, specHash } = deploySpec(specsDir, name);
  const exp = await mlflow.getOrCreateExperiment(`mlo/${name}`);
  const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: 'trial-0' });
  await mlflow.endRun(run.info.runId, 'FINISHED');
  const workflowId = `train-and-promote/${name}/2025-01-08`;
  const input: RegisterInput = {
    model: name,
    spec,
    specHash,
    windows: runWindows({ asOf: '2025-01-08', spec }, new Date()),
    workflowId,
    snapshot: {
      manifestUri: 's3://mlo/x/manifest.json',
      hash: 'h',
      rows: 1,
      partitions: 1,
      labeledRows: 1,
      positives: 1,
    },
    trial: {
      trialIndex: 0,
      runId: run.info.runId,
      onnxUri: `s3://${cfg.s3.bucket}/test-models/${name}/model.onnx`,
      metrics: {},
      params: {},
      probabilityOutput: 'probabilities',
      probabilityIndex: 1,
    },
    featureColumns: ['amount'],
    requestedBy: 'carol@example.com',
  };
  return { input, regKey: `${workflowId}/run-1`, runId: run.info.runId };
}

/** An attempt of registerCandidate in workflow run `run-1` of the input's workflow. */
function attempt(mlflowOnce: MlflowClient, input: RegisterInput, n: number) {
  const acts = createCpuActivities({ ...buildDeps(cfg), mlflowOnce, modelsDir: specsDir });
  const env = new MockActivityEnvironment({
    attempt: n,
    heartbeatTimeoutMs: 60_000,
    workflowExecution: { workflowId: input.workflowId, runId: 'run-1' },
  });
  const register = (i: RegisterInput): Promise<CandidateRef> => acts.registerCandidate(i);
  return env.run<[RegisterInput], CandidateRef, typeof register>(register, input);
}

async function versionsWithKey(model: string, regKey: string): Promise<string[]> {
  const filter = `name = ${quoteFilterValue(model)} and ${tagFilterKey(VersionTag.registrationKey)} = ${quoteFilterValue(regKey)}`;
  return (await mlflow.searchModelVersions({ filter })).items.map((v) => v.version);
}

describe('registerCandidate', () => {
  it('two overlapping attempts that both create leave one version, and both return it', async () => {
    const { input, regKey, runId } = await registration();
    const gated = new GatedCreates(2);
    const [a, b] = await Promise.all([attempt(gated, input, 1), attempt(gated, input, 2)]);

    expect(gated.creates).toBe(2); // both searched, found nothing and created
    expect(a.version).toBe(b.version);
    expect(await versionsWithKey(input.model, regKey)).toEqual([a.version]);
    expect((await mlflow.getRun(runId)).data.tags.find((t) => t.key === 'mlo.model_version')?.value).toBe(a.version);
  });

  it('a retry after a create whose answer was lost finds that version', async () => {
    const { input, regKey } = await registration();
    const lost = new LostAnswer();
    const first = await attempt(lost, input, 1).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(first?.message).toMatch(/^injected: the answer creating version (\d+) was lost$/);
    const second = await attempt(lost, input, 2);

    expect(lost.creates).toBe(1);
    expect(await versionsWithKey(input.model, regKey)).toEqual([second.version]);
  });
});
