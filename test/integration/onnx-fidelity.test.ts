/**
 * Every shipped model spec trains and exports a faithful ONNX model on every as-of day of the
 * sample data (the dataset `npm run demo` writes) on which the spec's windows are valid.
 *
 * Each case is the training activity's own path minus MLflow: the spec's trainer command, params
 * and seed, the activity's process runner and trainer environment, and its judgement of the exit
 * (`judgeTrainerRun`), on that day's real snapshot (computed with the backfill's partition code,
 * test/helpers/sample-snapshots.ts). The trainer checks its export against its own probabilities on
 * the validation rows and exits 3 (deterministic failure) if they differ by more than 1e-5; for the
 * GBDT spec the test then checks the uploaded ONNX model independently against LightGBM (the
 * trainer's last-round checkpoint) on every row of every day of the snapshot
 * (trainers/tools/gbdt_onnx_fidelity.py).
 *
 * Cost, measured on a shared 2-core machine: 4 min for the 12 cases (GBDT 17–38 s each, of which the
 * trainer 9–22 s; logistic regression 7–10 s), 6 min under heavier load. Training is what is under
 * test (each day's model is what its export must reproduce), so every case trains for real with the
 * spec's own params; the cheaper route of exporting one model per spec would not cover the models
 * that other days produce, and the failure this guards against appeared on two days out of six.
 * Measured figures are printed at the end (GBDT: at most 7.5e-7 on every row of every day; logistic
 * regression: at most 3.1e-7 on the validation rows).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeTrainerRun } from '../../activities/training';
import { S3Sink, type LocalDirSink } from '../../lib/datagen';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { findModelSpec } from '../../lib/spec/model-spec';
import { TRAINER_CONTRACT, type TrainerInput, type TrainerResult } from '../../lib/trainer/contract';
import { trainerEnv } from '../../lib/trainer/env';
import { runTrainerProcess } from '../../lib/trainer/process';
import { runPython } from '../helpers/python';
import { deleteUnder, removeTestData } from '../helpers/s3';
import { sampleData, validAsOfDays, writeSampleSnapshot } from '../helpers/sample-snapshots';

const cfg = loadConfig();
const prefix = `tmp/test-onnx-fidelity/${randomUUID().slice(0, 8)}/`;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-onnx-fidelity-'));
const SPECS = ['fraud-detector', 'fraud-baseline'];
const TOLERANCE = 1e-5;
let s3: S3Client | undefined;
let raw: LocalDirSink;
/** What each case measured, printed at the end (the figures trainers/README.md quotes). */
const measured: Record<string, string | number>[] = [];

beforeAll(async () => {
  s3 = createS3Client(cfg.s3);
  raw = await sampleData(path.join(tmpDir, 'raw'));
});

afterAll(async () => {
  if (measured.length) console.info(`ONNX fidelity per as-of day:\n${JSON.stringify(measured, null, 1)}`);
  await removeTestData({ tmpDir, s3, bucket: cfg.s3.bucket, prefix });
});

const env = trainerEnv(process.env, {
  s3: cfg.s3,
  mlflowTrackingUri: cfg.mlflow.trackingUri,
  mlflowRunId: '',
  cudaVisibleDevices: '',
});

type Case = {
  result: TrainerResult;
  checkpoints: { uri: string; step: number }[];
  manifestUri: string;
  trainerMs: number;
};

/** Builds the day's snapshot in S3 and runs the spec's trainer on it as the training activity does. */
async function trainOn(model: string, asOf: string): Promise<Case> {
  const { spec } = findModelSpec(model);
  const where = `${prefix}${model}/${asOf}/`;
  const snap = await writeSampleSnapshot({
    raw,
    spec,
    asOf,
    sink: new S3Sink(s3!, cfg.s3.bucket),
    prefix: `${where}snapshot/`,
    uriBase: `s3://${cfg.s3.bucket}/`,
  });
  const input: TrainerInput = {
    contract: TRAINER_CONTRACT,
    manifestUri: snap.manifestUri,
    featureColumns: snap.featureColumns,
    labelColumn: 'label',
    train: snap.windows.train,
    validation: snap.windows.validation,
    params: spec.training.params,
    seed: spec.training.seed,
    outputPrefix: `s3://${cfg.s3.bucket}/${where}model/`,
    checkpointPrefix: `s3://${cfg.s3.bucket}/${where}checkpoints/`,
    resume: null,
    device: 'cpu',
  };
  const inputFile = path.join(tmpDir, `${model}-${asOf}.json`);
  fs.writeFileSync(inputFile, JSON.stringify(input));
  let result: TrainerResult | undefined;
  const checkpoints: Case['checkpoints'] = [];
  const cancellation = new AbortController().signal;
  const t0 = Date.now();
  const run = await runTrainerProcess({
    command: spec.training.trainer.command,
    inputFile,
    env,
    signal: cancellation,
    onLine: (line) => {
      if (line.type === 'result') result = line;
      if (line.type === 'checkpoint') checkpoints.push({ uri: line.uri, step: line.step });
    },
  });
  const verdict = judgeTrainerRun(run, result, {
    command: spec.training.trainer.command,
    featureColumns: snap.featureColumns,
    cancellation,
  });
  if ('error' in verdict) throw verdict.error;
  return { result: verdict.result, checkpoints, manifestUri: snap.manifestUri, trainerMs: Date.now() - t0 };
}

type Fidelity = { rows: number; days: number; maxAbsDiff: number; maxRelDiff: number; perDay: Record<string, number> };

for (const model of SPECS) {
  const { spec } = findModelSpec(model);
  const days = validAsOfDays(spec);

  describe(`${model}: the ONNX export reproduces the trainer on every as-of day of the sample data`, () => {
    it('the sample data has as-of days with valid windows', () => {
      // 75 days from 2026-01-01; 30 training + 5 validation + 5 holdout days, 30-day label maturity, 3 shadow days.
      expect(days).toEqual(['2026-03-12', '2026-03-13', '2026-03-14', '2026-03-15', '2026-03-16', '2026-03-17']);
    });

    for (const asOf of days) {
      it(`as of ${asOf}`, async () => {
        const t0 = Date.now();
        const c = await trainOn(model, asOf);
        const m = c.result.metrics;
        const row: (typeof measured)[number] = { model, asOf, validAuc: m.valid_auc ?? NaN, trainerMs: c.trainerMs };
        measured.push(row);
        row.validMaxAbsDiff = m.onnx_max_abs_diff ?? NaN;
        expect(c.result.validRows).toBeGreaterThan(1000);
        expect(m.onnx_max_abs_diff).toBeLessThanOrEqual(TOLERANCE);
        if (spec.training.trainer.command.join(' ').includes('gbdt')) {
          const f = await checkEveryRow(c);
          Object.assign(row, { allRows: f.rows, allRowsMaxAbsDiff: f.maxAbsDiff, allRowsMaxRelDiff: f.maxRelDiff });
        }
        row.caseMs = Date.now() - t0;
        await deleteUnder(s3!, cfg.s3.bucket, `${prefix}${model}/${asOf}/`);
      });
    }
  });
}

/** The uploaded ONNX model against LightGBM's last-round checkpoint on every row of every snapshot day. */
async function checkEveryRow(c: Case): Promise<Fidelity> {
  const last = c.checkpoints.at(-1);
  expect(last?.step).toBe(c.result.metrics.rounds);
  const r = await runPython(
    [
      'trainers/tools/gbdt_onnx_fidelity.py',
      '--booster',
      last!.uri,
      '--onnx',
      c.result.onnxUri,
      '--manifest',
      c.manifestUri,
      '--columns',
      c.result.inputSchema.columns.join(','),
    ],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
  const f = JSON.parse(r.stdout) as Fidelity;
  expect(f.days).toBe(35);
  expect(f.rows).toBeGreaterThan(150_000);
  expect(f.maxAbsDiff).toBeLessThanOrEqual(TOLERANCE);
  return f;
}
