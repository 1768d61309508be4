/**
 * What becomes of a candidate, recorded in the real MLflow registry and the audit trail: a version
 * registered from identical inputs is found again (a rerun registers no copy), a gate-failed
 * version is tagged with its failing gates and audited, and a decided version carries its outcome
 * and no longer says it awaits approval.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities, type Activities } from '../../activities';
import type { RegisterInput } from '../../activities/training';
import { runWindows } from '../../lib/core/windows';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { readAudit } from '../../lib/registry/audit';
import { MlflowClient, tagsOf } from '../../lib/registry/mlflow';
import { VersionTag } from '../../lib/registry/tags';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';
import { uniqueName } from '../helpers/temporal';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
let specsDir: string;
let acts: Activities;

beforeAll(() => {
  specsDir = deployedSpecsDir();
  acts = createCpuActivities({ ...buildDeps(cfg), modelsDir: specsDir });
});

afterAll(() => {
  fs.rmSync(specsDir, { recursive: true, force: true });
});

/** Runs one activity as workflow run `run-1` of `workflowId` would. */
function inActivity<A extends unknown[], R>(workflowId: string, fn: (...a: A) => Promise<R>, ...args: A): Promise<R> {
  const env = new MockActivityEnvironment({
    heartbeatTimeoutMs: 60_000,
    workflowExecution: { workflowId, runId: 'run-1' },
  });
  return env.run(fn, ...args);
}

/** A registered candidate of a fresh model (a finished trial run, then registerCandidate). */
async function registered(): Promise<{ input: RegisterInput; version: string }> {
  const name = `outcome-${uniqueName('m')}`;
  const { spec, specHash } = deploySpec(specsDir, name);
  const exp = await mlflow.getOrCreateExperiment(`mlo/${name}`);
  const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: 'trial-0' });
  await mlflow.endRun(run.info.runId, 'FINISHED');
  const input: RegisterInput = {
    model: name,
    spec,
    specHash,
    windows: runWindows({ asOf: '2025-01-08', spec }, new Date()),
    workflowId: `train-and-promote/${name}/2025-01-08`,
    snapshot: {
      manifestUri: 's3://mlo/x/manifest.json',
      hash: 'snap-1',
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
  const c = await inActivity(input.workflowId, (i: RegisterInput) => acts.registerCandidate(i), input);
  return { input, version: c.version };
}

async function tags(model: string, version: string): Promise<Record<string, string>> {
  return tagsOf(await mlflow.getModelVersion(model, version));
}

describe('candidate outcomes in the registry', () => {
  it('a rerun on identical inputs finds the registered version; other inputs find none', async () => {
    const { input, version } = await registered();
    const rerun = { ...input, workflowId: `${input.workflowId}-rerun` };
    const find = (i: typeof rerun) => acts.findIdenticalCandidate(i);
    const found = await inActivity(rerun.workflowId, find, rerun);
    expect(found).toEqual({
      candidate: { runId: input.trial.runId, version, onnxUri: input.trial.onnxUri },
      outcome: null,
      workflowId: input.workflowId,
    });

    const otherSnapshot = { ...rerun, snapshot: { ...rerun.snapshot, hash: 'snap-2' } };
    expect(await inActivity(rerun.workflowId, find, otherSnapshot)).toBeNull();
    const otherSeed = {
      ...rerun,
      spec: { ...rerun.spec, training: { ...rerun.spec.training, seed: rerun.spec.training.seed + 1 } },
    };
    expect(await inActivity(rerun.workflowId, find, otherSeed)).toBeNull();
    const otherColumns = { ...rerun, featureColumns: ['amount', 'hour'] };
    expect(await inActivity(rerun.workflowId, find, otherColumns)).toBeNull();
    expect(await inActivity(rerun.workflowId, find, { ...rerun, model: `${input.model}-none` })).toBeNull();
  });

  it('a gate-failed version is tagged with its failing gates and recorded in the audit trail', async () => {
    const { input, version } = await registered();
    const failed = [
      { stage: 'evaluation' as const, gate: 'auc >= 0.80', value: 0.7712, note: '' },
      { stage: 'shadow' as const, gate: 'psi <= 0.2', value: 0.31, note: 'population shifted' },
    ];
    const record = (i: Parameters<Activities['recordGateFailure']>[0]) => acts.recordGateFailure(i);
    const gateInput = {
      model: input.model,
      version,
      workflowId: input.workflowId,
      failed,
      evidence: { evaluationReport: 's3://mlo/reports/e.json' },
    };
    await inActivity(input.workflowId, record, gateInput);
    await inActivity(input.workflowId, record, gateInput); // a retry records nothing twice

    const t = await tags(input.model, version);
    expect(t[VersionTag.outcome]).toBe('gate-failed');
    expect(JSON.parse(t[VersionTag.failedGates]!)).toEqual(failed);
    const audit = (await readAudit(createS3Client(cfg.s3), cfg.s3.bucket, input.model)).filter(
      (r) => r.action === 'gate-failed',
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      version,
      actor: 'mlo',
      reason: 'evaluation: auc >= 0.80 — value 0.7712; shadow: psi <= 0.2 — value 0.31 (population shifted)',
      evidence: { evaluationReport: 's3://mlo/reports/e.json' },
    });
  });

  it('a rejected version carries its outcome and no longer awaits approval; a promoted one likewise', async () => {
    const { input, version } = await registered();
    const wf = `promotion/${input.model}`;
    const challenger = (i: Parameters<Activities['setChallenger']>[0]) => acts.setChallenger(i);
    await inActivity(wf, challenger, { model: input.model, version, requestedBy: 'carol@example.com', workflowId: wf });
    expect((await tags(input.model, version))[VersionTag.awaitingApprovalIn]).toBe(wf);
    const drop = (i: Parameters<Activities['dropChallenger']>[0]) => acts.dropChallenger(i);
    await inActivity(wf, drop, {
      model: input.model,
      version,
      actor: 'alice@example.com',
      reason: 'recall too low',
      action: 'rejected',
      workflowId: wf,
    });
    const rejected = await tags(input.model, version);
    expect(rejected[VersionTag.outcome]).toBe('rejected');
    expect(rejected[VersionTag.awaitingApprovalIn]).toBeUndefined();

    const next = await registered();
    const wf2 = `promotion/${next.input.model}`;
    await inActivity(wf2, challenger, {
      model: next.input.model,
      version: next.version,
      requestedBy: 'carol@example.com',
      workflowId: wf2,
    });
    const move = (i: Parameters<Activities['moveChampion']>[0]) => acts.moveChampion(i);
    await inActivity(wf2, move, {
      model: next.input.model,
      version: next.version,
      expectedChampion: null,
      actor: 'alice@example.com',
      action: 'champion-moved',
      workflowId: wf2,
    });
    const promoted = await tags(next.input.model, next.version);
    expect(promoted[VersionTag.outcome]).toBe('promoted');
    expect(promoted[VersionTag.awaitingApprovalIn]).toBeUndefined();
  });
});
