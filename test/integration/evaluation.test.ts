/**
 * Evaluation and shadow scoring against the real dev stack: a fixture snapshot in S3, two GBDT
 * models trained by the real training activity (different parameters) and registered in MLflow
 * under a unique model name, the first made champion; then the activities run directly
 * (MockActivityEnvironment, so Context.current() works) — metrics checked against
 * scikit-learn on the same rows, gates, the reports in S3 and in the candidate's MLflow run,
 * a failing gate, bad input, and shadow scoring with and without a champion.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDeps,
  type ActivityDeps,
  type CandidateRef,
  type EvaluationSummary,
  type FeatureSnapshotRef,
  type StageInput,
} from '../../activities';
import { evaluationActivities, type EvaluateInput } from '../../activities/evaluation';
import { shadowActivities, type ShadowInput } from '../../activities/shadow';
import { trainingActivities, type RegisterInput, type TrialInput, type TrialResult } from '../../activities/training';
import { loadConfig } from '../../lib/infra/config';
import type { EvaluationReport, ShadowReport } from '../../lib/eval/report';
import { FailureType } from '../../lib/core/failure-types';
import { metricsOf, quoteFilterValue, tagFilterKey, tagsOf } from '../../lib/registry/mlflow';
import { ModelAlias, RunTag, VersionTag } from '../../lib/registry/tags';
import { getObjectBytes, listKeys, parseS3Uri } from '../../lib/infra/s3';
import { parseSpec, specHash, type ModelSpec } from '../../lib/spec/model-spec';
import type { RunWindows } from '../../lib/core/windows';
import { makeFixtureSnapshot, PY_S3_READER, pythonEnv, runPython, type PythonRun } from '../helpers/python';
import { deleteUnder } from '../helpers/s3';

const cfg = loadConfig();
const id = randomUUID().slice(0, 8);
const MODEL = `eval-it-${id}`;
const prefix = `tmp/test-evaluation/${id}/`;
const base = `s3://${cfg.s3.bucket}/${prefix}`;

/** Fixture days 2025-01-01 … 01-08; labels null after noon of 01-07 (01-08 has none). */
const WINDOWS: RunWindows = {
  asOf: '2025-01-09',
  labelCutoff: '2025-01-07T12:00:00.000Z',
  train: { from: '2025-01-01', to: '2025-01-04' },
  validation: { from: '2025-01-04', to: '2025-01-05' },
  holdout: { from: '2025-01-05', to: '2025-01-07' },
  shadow: { from: '2025-01-07', to: '2025-01-09' },
  snapshot: { from: '2025-01-01', to: '2025-01-09' },
};
const GATES = ['auc >= 0.7', 'auc_delta >= -0.05', 'slice_auc_delta >= -0.15 where n >= 500'];
const SHADOW_GATES = ['psi <= 5', 'block_rate_delta <= 0.5'];

function specYaml(o: { gates?: string[]; shadowGates?: string[] } = {}): string {
  return `
name: ${MODEL}
owner: risk-ml@example.com
data:
  events: { prefix: raw/payments/, timestamp: ts, id: payment_id }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 1d }
features:
  columns:
    - amount_log
    - amount_zscore_card
    - card_tx_count_1h
    - card_tx_count_24h
    - card_amount_sum_24h
    - merchant_distinct_7d
    - geo_mismatch
    - account_age_days_log
  slices: [country, channel]
training:
  trainer: { command: [python, trainers/gbdt/train.py], pool: cpu }
  window: { days: 3 }
  validation: { days: 1 }
evaluation:
  holdout: { days: 2 }
  slices: [country, channel]
  operating_threshold: 0.2
  fixed_fpr: 0.05
  gates: ${JSON.stringify(o.gates ?? GATES)}
shadow:
  days: 2
  batch_size: 1000
  gates: ${JSON.stringify(o.shadowGates ?? SHADOW_GATES)}
promotion:
  reviewers: [alice@example.com]
`;
}

function spec(o: { gates?: string[]; shadowGates?: string[] } = {}): ModelSpec {
  return parseSpec(specYaml(o), '<evaluation-test>');
}

/** The spec as the test's workers deploy it: trainTrial takes its trainer from here, by hash. */
const deployedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-eval-specs-'));
fs.writeFileSync(path.join(deployedDir, `${MODEL}.yaml`), specYaml());

/** Runs an activity function in a mock activity context (quiet: expected failures are asserted, not logged). */
function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run<
    A,
    R,
    (...args: A) => Promise<R>
  >(fn, ...args);
}

let deps: ActivityDeps;
let snapshot: FeatureSnapshotRef;
let features: string[] = [];
let champion: CandidateRef;
let candidate: CandidateRef;

function stage(s: ModelSpec, over: Partial<StageInput> = {}): StageInput {
  return { model: MODEL, spec: s, specHash: specHash(s), windows: WINDOWS, workflowId: `wf-${id}`, ...over };
}

const python = (args: string[]): Promise<PythonRun> => runPython(args, pythonEnv(cfg));

async function manifestRef(uri: string): Promise<FeatureSnapshotRef> {
  const loc = parseS3Uri(uri);
  const m = JSON.parse(new TextDecoder().decode(await getObjectBytes(deps.s3, loc.bucket, loc.key))) as {
    hash: string;
    rows: number;
    partitions: unknown[];
    labeledRows: number;
    positives: number;
    columns: { features: { name: string }[] };
  };
  features = m.columns.features.map((f) => f.name);
  return {
    manifestUri: uri,
    hash: m.hash,
    rows: m.rows,
    partitions: m.partitions.length,
    labeledRows: m.labeledRows,
    positives: m.positives,
  };
}

/** Trains and registers one version through the real training activities. */
async function trainAndRegister(tag: string, params: Record<string, number>): Promise<CandidateRef> {
  const s = spec();
  const acts = trainingActivities(deps);
  const wf = `wf-${id}-${tag}`;
  const trial: TrialResult = await runActivity((i: TrialInput) => acts.trainTrial(i), {
    ...stage(s, { workflowId: wf }),
    snapshot,
    featureColumns: features,
    trialIndex: 0,
    params,
    requestedBy: 'test@example.com',
  });
  return runActivity((i: RegisterInput) => acts.registerCandidate(i), {
    ...stage(s, { workflowId: wf }),
    snapshot,
    trial,
    featureColumns: features,
    requestedBy: 'test@example.com',
  });
}

const evaluate = (
  s: ModelSpec,
  cand: CandidateRef,
  over: Partial<StageInput> & { snapshot?: FeatureSnapshotRef } = {},
) =>
  runActivity((i: EvaluateInput) => evaluationActivities(deps).evaluateCandidate(i), {
    ...stage(s, over),
    snapshot: over.snapshot ?? snapshot,
    candidate: cand,
  });
const shadow = (s: ModelSpec, cand: CandidateRef) =>
  runActivity((i: ShadowInput) => shadowActivities(deps).shadowScore(i), { ...stage(s), snapshot, candidate: cand });

async function readJson<T>(uri: string): Promise<T> {
  const loc = parseS3Uri(uri);
  return JSON.parse(new TextDecoder().decode(await getObjectBytes(deps.s3, loc.bucket, loc.key))) as T;
}

/** scikit-learn's metrics of both models on the holdout's labelled rows, scored by Python onnxruntime. */
async function sklearnHoldout(
  uris: string[],
): Promise<{ n: number; positives: number; auc: number[]; ap: number[]; logloss: number[]; brier: number[] }> {
  const script = [
    ...PY_S3_READER,
    'from sklearn.metrics import roc_auc_score, average_precision_score, log_loss, brier_score_loss',
    'm = json.loads(get(sys.argv[2])); w = json.loads(sys.argv[3])',
    'cols = [f["name"] for f in m["columns"]["features"]]',
    'parts = sorted((p for p in m["partitions"] if w["from"] <= p["day"] < w["to"]), key=lambda p: p["day"])',
    't = pa.concat_tables([ipc.open_file(pa.py_buffer(get(p["uri"]))).read_all() for p in parts])',
    'y = t.column("label").to_numpy(zero_copy_only=False); keep = ~np.isnan(y); y = y[keep]',
    'X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32)[keep]',
    'out = {"n": int(len(y)), "positives": int(y.sum()), "auc": [], "ap": [], "logloss": [], "brier": []}',
    'so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1',
    'for u in sys.argv[4:]:',
    '    sess = ort.InferenceSession(get(u), so, providers=["CPUExecutionProvider"])',
    '    p = sess.run(["probability"], {"features": X})[0].astype(np.float64)',
    '    out["auc"].append(roc_auc_score(y, p)); out["ap"].append(average_precision_score(y, p))',
    '    out["logloss"].append(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))); out["brier"].append(brier_score_loss(y, p))',
    'print(json.dumps(out))',
  ].join('\n');
  const r = await python([
    '-c',
    script,
    cfg.s3.endpoint ?? '',
    snapshot.manifestUri,
    JSON.stringify(WINDOWS.holdout),
    ...uris,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    n: number;
    positives: number;
    auc: number[];
    ap: number[];
    logloss: number[];
    brier: number[];
  };
}

beforeAll(async () => {
  deps = { ...buildDeps(cfg), modelsDir: deployedDir };
  const r = await makeFixtureSnapshot(
    `${base}snapshot/`,
    ['--seed', '5', '--days', '8', '--rows-per-day', '4000', '--immature-days', '2', '--model', MODEL],
    pythonEnv(cfg),
  );
  expect(r.code, r.stderr).toBe(0);
  snapshot = await manifestRef(r.manifestUri);
  // A weak model first (the future champion), then a stronger one (the candidate).
  champion = await trainAndRegister('a', { rounds: 12, num_leaves: 4, min_data_in_leaf: 200 });
  candidate = await trainAndRegister('b', { rounds: 150, learning_rate: 0.05 });
}, 900_000);

afterAll(async () => {
  if (!deps) return;
  try {
    for (const p of [prefix, `reports/${MODEL}/`, `models/${MODEL}/`, `checkpoints/${MODEL}/`])
      await deleteUnder(deps.s3, cfg.s3.bucket, p);
    await deps.mlflow.deleteRegisteredModel(MODEL).catch(() => undefined);
  } finally {
    deps.s3.destroy();
  }
});

describe('registerCandidate', () => {
  it('a retried registration finds the version it created instead of registering a second one', async () => {
    const s = spec();
    const acts = trainingActivities(deps);
    const wf = `wf-${id}-retried-registration`;
    const trial: TrialResult = await runActivity((i: TrialInput) => acts.trainTrial(i), {
      ...stage(s, { workflowId: wf }),
      snapshot,
      featureColumns: features,
      trialIndex: 0,
      params: { rounds: 5 },
      requestedBy: 'test@example.com',
    });
    const register = () =>
      runActivity((i: RegisterInput) => acts.registerCandidate(i), {
        ...stage(s, { workflowId: wf }),
        snapshot,
        trial,
        featureColumns: features,
        requestedBy: 'test@example.com',
      });
    const first = await register();
    const again = await register();
    expect(again.version).toBe(first.version);
    const versions = await deps.mlflow.searchModelVersions({
      filter: `name = ${quoteFilterValue(s.name)} and ${tagFilterKey(VersionTag.workflowId)} = ${quoteFilterValue(wf)}`,
    });
    expect(versions.items.map((v) => v.version)).toEqual([first.version]);
  });
});

describe('evaluateCandidate', () => {
  let firstEval: EvaluationSummary;

  it('judges the first version on absolute gates alone (no champion)', async () => {
    expect(champion.version).toBe('1');
    firstEval = await evaluate(spec(), champion);
    expect(firstEval.passed).toBe(true);
    expect(firstEval.championVersion).toBeNull();
    expect(firstEval.gates!.map((g) => [g.gate, g.status])).toEqual([
      ['auc >= 0.7', 'pass'],
      ['auc_delta >= -0.05', 'n/a'],
      ['slice_auc_delta >= -0.15 where n >= 500', 'n/a'],
    ]);
    expect(firstEval.gates![1]!.note).toMatch(/^n\/a: no champion/);
    expect(firstEval.markdown).toMatch(
      /no champion \(no version of eval-it-.* has the alias @champion yet \(first version\)\)/,
    );
  });

  it('compares the candidate with the champion: metrics equal scikit-learn on the same rows, gates, reports in S3 and MLflow', async () => {
    await deps.mlflow.setAlias(MODEL, ModelAlias.champion, champion.version);
    const s = await evaluate(spec(), candidate);
    expect(s.championVersion).toBe(champion.version);
    expect(s.passed).toBe(true);
    const report = await readJson<EvaluationReport>(s.reportUri);
    expect(report.kind).toBe('mlo.evaluation-report/v1');
    const r = report.result;

    // Against scikit-learn, with the models scored by Python onnxruntime.
    const ref = await sklearnHoldout([candidate.onnxUri, champion.onnxUri]);
    expect(report.rows).toMatchObject({ labelled: ref.n, positives: ref.positives, total: 8000 });
    expect(r.candidate.values.auc).toBeCloseTo(ref.auc[0]!, 9);
    expect(r.champion!.values.auc).toBeCloseTo(ref.auc[1]!, 9);
    expect(r.candidate.values.pr_auc).toBeCloseTo(ref.ap[0]!, 9);
    expect(r.champion!.values.pr_auc).toBeCloseTo(ref.ap[1]!, 9);
    expect(r.candidate.values.log_loss).toBeCloseTo(ref.logloss[0]!, 9);
    expect(r.candidate.values.brier).toBeCloseTo(ref.brier[0]!, 9);
    expect(r.delta!.auc).toBeCloseTo(ref.auc[0]! - ref.auc[1]!, 9);
    expect(r.candidate.values.auc!).toBeGreaterThan(r.champion!.values.auc!);
    // DeLong interval around the difference
    const d = r.aucDifference!;
    expect(d.method).toBe('delong-paired');
    expect(d.ciLow).toBeLessThan(d.delta);
    expect(d.ciHigh).toBeGreaterThan(d.delta);

    // Slices: every country and channel, counts adding up.
    const countries = r.slices.filter((x) => x.column === 'country');
    expect(countries.map((x) => x.value).sort()).toEqual(['BR', 'DE', 'FR', 'GB', 'IN', 'US']);
    expect(countries.reduce((n, x) => n + x.n, 0)).toBe(ref.n);
    expect(r.slices.filter((x) => x.column === 'channel').reduce((n, x) => n + x.positives, 0)).toBe(ref.positives);

    expect(r.gates.map((g) => [g.gate, g.status])).toEqual([
      ['auc >= 0.7', 'pass'],
      ['auc_delta >= -0.05', 'pass'],
      ['slice_auc_delta >= -0.15 where n >= 500', 'pass'],
    ]);
    expect(r.gates[1]!.value).toBeCloseTo(r.delta!.auc!, 12);
    expect(r.gates[2]!.slices!.every((x) => x.n >= 500)).toBe(true);

    // The files, under a content-addressed prefix, in S3 and as MLflow artifacts.
    expect(report.reportPrefix).toMatch(
      new RegExp(`^s3://${cfg.s3.bucket}/reports/${MODEL}/${candidate.version}/[0-9a-f]{16}/evaluation/$`),
    );
    expect(s.reportUri).toBe(`${report.reportPrefix}report.json`);
    const files = ['calibration.svg', 'pr.svg', 'report.json', 'report.md', 'roc.svg', 'scores.svg'];
    const keys = await listKeys(deps.s3, cfg.s3.bucket, parseS3Uri(report.reportPrefix).key);
    expect(keys.map((k) => k.key.split('/').at(-1)).sort()).toEqual(files);
    const roc = new TextDecoder().decode(
      await getObjectBytes(deps.s3, cfg.s3.bucket, `${parseS3Uri(report.reportPrefix).key}roc.svg`),
    );
    expect(roc).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(roc.match(/<polyline/g)).toHaveLength(2);
    const run = await deps.mlflow.getRun(candidate.runId);
    const artifacts = await deps.mlflow.listArtifacts(run.info.artifactUri, 'evaluation');
    expect(artifacts.map((a) => a.path).sort()).toEqual(files.map((f) => `evaluation/${f}`));
    const metrics = metricsOf(run);
    expect(metrics.holdout_auc).toBeCloseTo(r.candidate.values.auc!, 9);
    expect(metrics.holdout_auc_delta).toBeCloseTo(r.delta!.auc!, 9);
    expect(metrics.evaluation_passed).toBe(1);
    expect(tagsOf(run)[RunTag.evaluationReport]).toBe(s.reportUri);

    // The summary for the reviewer.
    const url = `${cfg.mlflow.uiUrl}/#/experiments/${run.info.experimentId}/runs/${candidate.runId}`;
    expect(s.mlflowRunUrl).toBe(url);
    expect(s.markdown).toContain(`[MLflow run](${url})`);
    expect(s.markdown).toContain(
      `### Evaluation: ${MODEL} v${candidate.version} vs champion v${champion.version} — PASSED`,
    );
    expect(s.markdown).toMatch(/\| ROC AUC \| 0\.\d{4} \| 0\.\d{4} \| \+0\.\d{4} \|/);
    expect(new TextEncoder().encode(s.markdown).length).toBeLessThan(8192);

    // A retry writes the same report to the same place.
    const again = await evaluate(spec(), candidate);
    expect(again.reportUri).toBe(s.reportUri);
  });

  it('a failed gate returns passed: false with the failing gates named', async () => {
    const s = await evaluate(
      spec({ gates: ['auc >= 0.99', 'auc_delta >= 0.5', 'slice_auc_delta >= 0.3 where n >= 500', 'ece <= 0.5'] }),
      candidate,
    );
    expect(s.passed).toBe(false);
    expect(s.gates!.map((g) => g.status)).toEqual(['fail', 'fail', 'fail', 'pass']);
    expect(s.markdown).toContain('— FAILED');
    expect(s.markdown).toContain('| `auc >= 0.99` |');
    expect(s.markdown).toContain('❌ FAIL');
    expect(s.markdown).toMatch(/Failing slices:\n- (country|channel)=/);
    const run = await deps.mlflow.getRun(candidate.runId);
    expect(tagsOf(run)[RunTag.evaluationPassed]).toBe('false');
    // nothing moved in the registry
    expect((await deps.mlflow.getModelVersionByAlias(MODEL, ModelAlias.champion))?.version).toBe(champion.version);
  });

  it('treats a champion that is the candidate itself as no champion', async () => {
    const s = await evaluate(spec(), champion);
    expect(s.championVersion).toBeNull();
    expect(s.markdown).toContain('@champion already points at the candidate v1');
    expect(s.gates![1]!.status).toBe('n/a');
  });

  describe('bad input is a non-retryable MloBadInput failure naming what is wrong', () => {
    const badInput = (message: RegExp) => ({
      type: FailureType.BadInput,
      nonRetryable: true,
      message: expect.stringMatching(message) as unknown,
    });

    it('input columns that differ from the snapshot', async () => {
      const swapped = [features[1]!, features[0]!, ...features.slice(2)];
      await deps.mlflow.setModelVersionTag(MODEL, candidate.version, VersionTag.inputColumns, JSON.stringify(swapped));
      try {
        await expect(evaluate(spec(), candidate)).rejects.toMatchObject(
          badInput(
            /candidate v2 .* does not fit the snapshot.*its input columns \(mlo.input_columns\) are not the snapshot's feature columns in order: columns in another order: position 0: model "amount_zscore_card", snapshot "amount_log"/s,
          ),
        );
      } finally {
        await deps.mlflow.setModelVersionTag(
          MODEL,
          candidate.version,
          VersionTag.inputColumns,
          JSON.stringify(features),
        );
      }
    });

    it('a file that is not ONNX', async () => {
      await expect(evaluate(spec(), { ...candidate, onnxUri: snapshot.manifestUri })).rejects.toMatchObject(
        badInput(/candidate v2 \(s3:\/\/.*manifest-.*\.json\) is not an ONNX model/),
      );
    });

    it('an empty holdout, and one without labelled rows', async () => {
      await expect(
        evaluate(spec(), candidate, { windows: { ...WINDOWS, holdout: { from: '2025-03-01', to: '2025-03-05' } } }),
      ).rejects.toMatchObject(
        badInput(/the holdout 2025-03-01..2025-03-05 is empty: the snapshot .* has no partition in it/),
      );
      await expect(
        evaluate(spec(), candidate, { windows: { ...WINDOWS, holdout: { from: '2025-01-08', to: '2025-01-09' } } }),
      ).rejects.toMatchObject(badInput(/the holdout 2025-01-08..2025-01-09 has no labelled rows/));
    });

    it('a holdout with one class, and an infinite feature value', async () => {
      // A small snapshot with the same feature columns: 02-01 all negatives, 02-02 an Infinity.
      const script = [
        'import sys, json, boto3, numpy as np, pyarrow as pa, pyarrow.ipc as ipc',
        's3 = boto3.client("s3", endpoint_url=sys.argv[1])',
        'bucket, key = sys.argv[2][5:].split("/", 1); cols = json.loads(sys.argv[3])',
        'parts = []',
        'for d, day in enumerate(["2025-02-01", "2025-02-02"]):',
        '    n = 300; rng = np.random.default_rng(d)',
        '    t = {"payment_id": pa.array(np.arange(n) + 9_000_000 + d * 1000, pa.int64()),',
        '         "ts": pa.array(np.full(n, 1738368000000 + d * 86400000), pa.timestamp("ms", tz="UTC")),',
        '         "label": pa.array(np.zeros(n) if d == 0 else (np.arange(n) % 5 == 0).astype(float), pa.float64()),',
        '         "country": pa.array(["US"] * n), "channel": pa.array(["web"] * n)}',
        '    for c in cols: t[c] = pa.array(rng.normal(size=n), pa.float64())',
        '    if d == 1: t[cols[0]] = pa.array(np.where(np.arange(n) == 7, np.inf, rng.normal(size=n)), pa.float64())',
        '    tab = pa.table(t); sink = pa.BufferOutputStream()',
        '    with ipc.new_file(sink, tab.schema) as w: w.write_table(tab)',
        '    k = key + f"p/{day}.arrow"; s3.put_object(Bucket=bucket, Key=k, Body=sink.getvalue().to_pybytes())',
        '    parts.append({"day": day, "uri": f"s3://{bucket}/{k}", "rows": n, "labeledRows": n,',
        '                  "positives": int(d * 60), "hash": day})',
        'm = {"kind": "mlo.feature-snapshot/v1", "model": "x", "featureSetHash": "x", "hash": "bad-input-snapshot",',
        '     "window": {"from": "2025-02-01", "to": "2025-02-03"}, "labelCutoff": "2025-03-01T00:00:00Z",',
        '     "columns": {"id": "payment_id", "timestamp": "ts", "label": "label",',
        '                 "features": [{"name": c, "type": "float64"} for c in cols],',
        '                 "slices": ["country", "channel"]},',
        '     "partitions": parts, "rows": 600, "labeledRows": 600, "positives": 60}',
        's3.put_object(Bucket=bucket, Key=key + "manifest.json", Body=json.dumps(m).encode())',
        'print(f"s3://{bucket}/{key}manifest.json")',
      ].join('\n');
      const r = await python(['-c', script, cfg.s3.endpoint ?? '', `${base}bad/`, JSON.stringify(features)]);
      expect(r.code, r.stderr).toBe(0);
      const bad = {
        manifestUri: r.stdout.trim(),
        hash: 'bad-input-snapshot',
        rows: 600,
        partitions: 2,
        labeledRows: 600,
        positives: 60,
      };
      await expect(
        evaluate(spec(), candidate, {
          snapshot: bad,
          windows: { ...WINDOWS, holdout: { from: '2025-02-01', to: '2025-02-02' } },
        }),
      ).rejects.toMatchObject(
        badInput(/the holdout 2025-02-01..2025-02-02 holds one class only \(300 labelled rows, 0 positives\)/),
      );
      await expect(
        evaluate(spec(), candidate, {
          snapshot: bad,
          windows: { ...WINDOWS, holdout: { from: '2025-02-01', to: '2025-02-03' } },
        }),
      ).rejects.toMatchObject(
        badInput(
          /feature "amount_log" is Infinity at row 7, payment_id 9001007, 2025-02-02T00:00:00.000Z; infinite feature values are not allowed/,
        ),
      );
    });
  });
});

describe('shadowScore', () => {
  it('replays the recent days through champion and candidate side by side', async () => {
    const s = await shadow(spec(), candidate);
    expect(s.passed).toBe(true);
    expect(s.championVersion).toBe(champion.version);
    const report = await readJson<ShadowReport>(s.reportUri);
    const r = report.result;
    expect(report.window.days).toEqual(['2025-01-07', '2025-01-08']);
    expect(r.n).toBe(8000);
    expect(r.psi!.psi).toBeGreaterThan(0);
    expect(r.psi!.expected.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(r.ks!).toBeGreaterThan(0);
    expect(r.ks!).toBeLessThan(1);
    expect(r.agreement!).toBeGreaterThan(0.5);
    expect(r.agreement!).toBeLessThanOrEqual(1);
    expect(r.blockRateDelta).toBeCloseTo(r.candidate.blockRate - r.champion!.blockRate, 12);
    expect(r.flips!.newlyBlocked + r.flips!.newlyAllowed).toBe(Math.round((1 - r.agreement!) * 8000));
    // batches of spec.shadow.batch_size (1000) → 4 per day and model
    expect(r.latency.candidate.batches).toBe(8);
    expect(r.latency.champion!.batches).toBe(8);
    expect(r.latency.candidate.p50).toBeGreaterThan(0);
    expect(r.latency.candidate.p99).toBeGreaterThanOrEqual(r.latency.candidate.p50);
    // the 20 largest disagreements, largest first, with event id and time
    expect(r.top).toHaveLength(20);
    for (let i = 1; i < r.top.length; i++)
      expect(Math.abs(r.top[i - 1]!.delta)).toBeGreaterThanOrEqual(Math.abs(r.top[i]!.delta));
    for (const t of r.top) {
      expect(t.delta).toBeCloseTo(t.candidate - t.champion, 12);
      expect(typeof t.id).toBe('number');
      expect(t.ts!.slice(0, 10)).toBe(t.day);
      expect(['2025-01-07', '2025-01-08']).toContain(t.day);
    }
    expect(r.gates.map((g) => [g.gate, g.status])).toEqual([
      ['psi <= 5', 'pass'],
      ['block_rate_delta <= 0.5', 'pass'],
    ]);
    const keys = await listKeys(deps.s3, cfg.s3.bucket, parseS3Uri(report.reportPrefix).key);
    expect(keys.map((k) => k.key.split('/').at(-1)).sort()).toEqual(['report.json', 'report.md', 'scores.svg']);
    expect(report.reportPrefix).toMatch(new RegExp(`/reports/${MODEL}/${candidate.version}/[0-9a-f]{16}/shadow/$`));
    const run = await deps.mlflow.getRun(candidate.runId);
    expect((await deps.mlflow.listArtifacts(run.info.artifactUri, 'shadow')).map((a) => a.path).sort()).toEqual([
      'shadow/report.json',
      'shadow/report.md',
      'shadow/scores.svg',
    ]);
    expect(metricsOf(run).shadow_psi).toBeCloseTo(r.psi!.psi, 9);
    expect(metricsOf(run).shadow_block_rate_delta).toBeCloseTo(r.blockRateDelta!, 9);
    expect(s.markdown).toContain('| PSI (champion deciles) |');
    expect(s.markdown).toContain('Largest disagreements:');
    expect(new TextEncoder().encode(s.markdown).length).toBeLessThan(8192);
  });

  it('fails a shadow gate with passed: false', async () => {
    const s = await shadow(spec({ shadowGates: ['psi <= 0.0000001', 'agreement >= 0.5'] }), candidate);
    expect(s.passed).toBe(false);
    expect(s.gates!.map((g) => g.status)).toEqual(['fail', 'pass']);
  });

  it('without a champion reports the candidate alone and marks the comparisons n/a', async () => {
    const s = await shadow(
      spec({ shadowGates: ['psi <= 0.2', 'block_rate_delta <= 0.01', 'block_rate <= 0.9'] }),
      champion,
    );
    expect(s.championVersion).toBeNull();
    expect(s.passed).toBe(true);
    expect(s.gates!.map((g) => g.status)).toEqual(['n/a', 'n/a', 'pass']);
    const r = (await readJson<ShadowReport>(s.reportUri)).result;
    expect(r.champion).toBeNull();
    expect(r.psi).toBeNull();
    expect(r.top).toEqual([]);
    expect(r.candidate.histogram.reduce((a, b) => a + b, 0)).toBe(8000);
  });
});
