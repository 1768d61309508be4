/**
 * A registered version is a complete MLflow model that MLflow's own tools take as it is: after a
 * real training and registration (the real GBDT trainer run by the training activity, the dev
 * stack's S3 and MLflow), MLflow's Python client, signed in as a reader with nothing but the
 * tracking URI and the reader's credentials (no S3 credentials), loads `models:/<model>@champion`
 * with `mlflow.pyfunc.load_model` and scores a DataFrame with named columns, and
 * `mlflow models serve --env-manager local` answers `/invocations`; both give mlo's own scores of
 * the same rows (lib/eval: Arrow → tensor → onnxruntime-node) within 1e-6. A champion registered
 * by an earlier release (a bare model.onnx with the outputs `label` and `probabilities`) still
 * scores in mlo beside a new candidate.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeps, type ActivityDeps, type CandidateRef, type FeatureSnapshotRef } from '../../activities';
import { trainingActivities, type RegisterInput, type TrialInput, type TrialResult } from '../../activities/training';
import type { RunWindows } from '../../lib/core/windows';
import { readManifest, readPartition, partitionsIn } from '../../lib/eval/data';
import { loadModels, releaseModels } from '../../lib/eval/load-models';
import { scoreRows } from '../../lib/eval/score';
import { featureColumns } from '../../lib/eval/tensor';
import { devPassword } from '../../lib/identity/dev-users';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { getObjectBytes, parseS3Uri, putObject } from '../../lib/infra/s3';
import { tagsOf } from '../../lib/registry/mlflow';
import { ModelAlias, VersionTag } from '../../lib/registry/tags';
import { parseSpec, specHash, type ModelSpec } from '../../lib/spec/model-spec';
import { makeFixtureSnapshot, pythonEnv, runPython, VENV_PYTHON } from '../helpers/python';
import { deleteUnder } from '../helpers/s3';

const cfg = loadConfig();
const id = randomUUID().slice(0, 8);
const MODEL = `pyfunc-it-${id}`;
const prefix = `tmp/test-mlflow-pyfunc/${id}/`;
const base = `s3://${cfg.s3.bucket}/${prefix}`;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-pyfunc-'));
/** A dev user with READ on every registered model and no S3 credentials. */
const READER = 'carol@example.com';
/** The day scored: labelled and unlabelled rows, ~3 % missing values in one column. */
const SCORE_DAY = '2025-01-06';

/** Fixture days 2025-01-01 … 01-07; labels null after noon of 01-06. */
const WINDOWS: RunWindows = {
  asOf: '2025-01-08',
  labelCutoff: '2025-01-06T12:00:00.000Z',
  train: { from: '2025-01-01', to: '2025-01-04' },
  validation: { from: '2025-01-04', to: '2025-01-05' },
  holdout: { from: '2025-01-05', to: '2025-01-06' },
  shadow: { from: '2025-01-06', to: '2025-01-08' },
  snapshot: { from: '2025-01-01', to: '2025-01-08' },
};

const SPEC = `
name: ${MODEL}
owner: risk-ml@example.com
data:
  events: { prefix: raw/payments/, timestamp: ts, id: payment_id }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 1d }
features:
  columns: [amount_log, amount_zscore_card, card_tx_count_1h, card_tx_count_24h, card_amount_sum_24h,
            merchant_distinct_7d, geo_mismatch, account_age_days_log]
training:
  trainer: { command: [python, trainers/gbdt/train.py], pool: cpu }
  window: { days: 3 }
  validation: { days: 1 }
evaluation:
  holdout: { days: 1 }
promotion:
  reviewers: [alice@example.com]
`;
const deployedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-pyfunc-specs-'));
fs.writeFileSync(path.join(deployedDir, `${MODEL}.yaml`), SPEC);
const spec: ModelSpec = parseSpec(SPEC, '<mlflow-pyfunc-test>');

let deps: ActivityDeps;
let snapshot: FeatureSnapshotRef;
let features: string[] = [];
let version: CandidateRef;
/** The scored day's Arrow IPC file, on local disk (the reader's Python gets no S3 credentials). */
let dayFile = '';
/** mlo's scores of the day's rows, in file order. */
let mloScores: Float64Array;

function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run<
    A,
    R,
    (...args: A) => Promise<R>
  >(fn, ...args);
}

const stage = (workflowId: string) => ({ model: MODEL, spec, specHash: specHash(spec), windows: WINDOWS, workflowId });

/** The environment of a reader's MLflow client: the tracking URI and the reader's credentials, nothing else. */
function readerEnv(): NodeJS.ProcessEnv {
  return {
    PATH: `${path.dirname(VENV_PYTHON)}:${process.env.PATH ?? ''}`,
    HOME: tmpDir,
    LANG: 'C.UTF-8',
    MLFLOW_TRACKING_URI: cfg.mlflow.trackingUri,
    MLFLOW_TRACKING_USERNAME: READER,
    MLFLOW_TRACKING_PASSWORD: devPassword(READER),
  };
}

/** Reads a float64 file a Python script wrote. */
function readF64(file: string): Float64Array {
  const buf = fs.readFileSync(file);
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** The largest |a - b| and where, over two arrays of the same length. */
function worstDiff(a: Float64Array, b: Float64Array): { diff: number; row: number } {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let row = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) {
      diff = d;
      row = i;
    }
  }
  return { diff, row };
}

/** mlo's scores (lib/eval) of the scored day's rows, by the candidate and, if any, the champion. */
async function scoreWithMlo(candidate: CandidateRef): Promise<{ candidate: Float64Array; champion?: Float64Array }> {
  const models = await loadModels(deps, MODEL, { version: candidate.version, onnxUri: candidate.onnxUri }, features);
  try {
    const manifest = await readManifest(deps.s3, snapshot.manifestUri);
    const [part] = partitionsIn(manifest, { from: SCORE_DAY, to: '2025-01-07' });
    const t = await readPartition(deps.s3, part!);
    const scorers = models.champion ? [models.candidate, models.champion] : [models.candidate];
    const [cand, champ] = await scoreRows(scorers, featureColumns(t, features, part!.uri), null, {
      batchSize: 1000,
      where: part!.uri,
    });
    return { candidate: cand!, ...(champ ? { champion: champ } : {}) };
  } finally {
    await releaseModels(models);
  }
}

/** Lines that open a reader's Python script: the scored day's rows as a DataFrame `df` of named float32 columns. */
const PY_DAY_FRAME = [
  'import sys, json, numpy as np, pandas as pd, pyarrow as pa, pyarrow.ipc as ipc',
  'cols = json.loads(sys.argv[1])',
  't = ipc.open_file(pa.memory_map(sys.argv[2])).read_all()',
  'df = pd.DataFrame({c: t.column(c).to_numpy(zero_copy_only=False).astype(np.float32) for c in cols})',
];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  deps = { ...buildDeps(cfg), modelsDir: deployedDir };
  const r = await makeFixtureSnapshot(
    `${base}snapshot/`,
    ['--seed', '21', '--rows-per-day', '3000', '--model', MODEL],
    pythonEnv(cfg),
  );
  expect(r.code, r.stderr).toBe(0);
  const manifest = await readManifest(deps.s3, r.manifestUri);
  features = manifest.columns.features.map((f) => f.name);
  snapshot = {
    manifestUri: r.manifestUri,
    hash: manifest.hash,
    rows: manifest.rows,
    partitions: manifest.partitions.length,
    labeledRows: manifest.labeledRows,
    positives: manifest.positives,
  };
  const [part] = partitionsIn(manifest, { from: SCORE_DAY, to: '2025-01-07' });
  const loc = parseS3Uri(part!.uri);
  dayFile = path.join(tmpDir, `${SCORE_DAY}.arrow`);
  fs.writeFileSync(dayFile, await getObjectBytes(deps.s3, loc.bucket, loc.key));

  const acts = trainingActivities(deps);
  const wf = `wf-${id}-gbdt`;
  const trial: TrialResult = await runActivity((i: TrialInput) => acts.trainTrial(i), {
    ...stage(wf),
    snapshot,
    featureColumns: features,
    trialIndex: 0,
    params: { rounds: 80 },
    requestedBy: 'test@example.com',
  });
  version = await runActivity((i: RegisterInput) => acts.registerCandidate(i), {
    ...stage(wf),
    snapshot,
    trial,
    featureColumns: features,
    requestedBy: 'test@example.com',
  });
  await deps.mlflow.setAlias(MODEL, ModelAlias.champion, version.version);
  mloScores = (await scoreWithMlo(version)).candidate;
}, 600_000);

afterAll(async () => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.rmSync(deployedDir, { recursive: true, force: true });
  if (!deps) return;
  try {
    for (const p of [prefix, `models/${MODEL}/`, `checkpoints/${MODEL}/`]) await deleteUnder(deps.s3, cfg.s3.bucket, p);
    await deps.mlflow.deleteRegisteredModel(MODEL).catch(() => undefined);
  } finally {
    deps.s3.destroy();
  }
});

describe('a registered version in MLflow', () => {
  it('is an MLflow model in the onnx flavor: pyfunc entry point, named float columns in feature order, input example, pinned requirements', async () => {
    const script = [
      'import sys, json, os, yaml, mlflow',
      'from mlflow.tracking import MlflowClient',
      'uri = sys.argv[1]',
      'name, alias = uri[len("models:/"):].split("@")',
      'mv = MlflowClient().get_model_version_by_alias(name, alias)',
      'local = mlflow.artifacts.download_artifacts(uri, dst_path=sys.argv[2])',
      'mlmodel = yaml.safe_load(open(os.path.join(local, "MLmodel")))',
      'info = mlflow.models.get_model_info(uri)',
      'example = mlflow.models.Model.load(local).load_input_example(local)',
      'print(json.dumps({',
      '  "source": mv.source,',
      '  "files": sorted(os.listdir(local)),',
      '  "flavors": sorted(mlmodel["flavors"]),',
      '  "loader": mlmodel["flavors"]["python_function"]["loader_module"],',
      '  "inputs": info.signature.inputs.to_dict(),',
      '  "outputs": info.signature.outputs.to_dict(),',
      '  "requirements": open(os.path.join(local, "requirements.txt")).read().split(),',
      '  "example": {"columns": list(example.columns), "rows": len(example)},',
      '  "metadata": mlmodel.get("metadata"),',
      '}))',
    ].join('\n');
    const r = await runPython(
      ['-c', script, `models:/${MODEL}@${ModelAlias.champion}`, path.join(tmpDir, 'download')],
      readerEnv(),
    );
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      source: string;
      files: string[];
      flavors: string[];
      loader: string;
      inputs: { name: string; type: string }[];
      outputs: { name: string; type: string }[];
      requirements: string[];
      example: { columns: string[]; rows: number };
      metadata: { mlo: { inputColumns: string[]; onnxSha256: string; onnxUri: string } };
    };
    // the version's source is the trial run's model/ artifacts, served by MLflow's artifact proxy
    expect(got.source).toMatch(/^mlflow-artifacts:\/.*\/artifacts\/model$/);
    expect(got.files).toEqual(
      expect.arrayContaining(['MLmodel', 'model.onnx', 'input_example.json', 'requirements.txt', 'python_env.yaml']),
    );
    expect(got.flavors).toEqual(['onnx', 'python_function']);
    expect(got.loader).toBe('mlflow.onnx');
    expect(got.inputs.map((c) => [c.name, c.type])).toEqual(features.map((f) => [f, 'float']));
    expect(got.outputs.map((c) => [c.name, c.type])).toEqual([['probability', 'float']]);
    expect(got.example.columns).toEqual(features);
    expect(got.example.rows).toBeGreaterThan(0);
    expect(got.metadata.mlo.inputColumns).toEqual(features);
    expect(got.metadata.mlo.onnxUri).toBe(version.onnxUri);
    // the pins are those of requirements.txt, the trainer's environment
    const pinned = new Map(
      fs
        .readFileSync(path.join(PROJECT_ROOT, 'requirements.txt'), 'utf8')
        .split('\n')
        .map((l) => l.trim().split('=='))
        .filter((p): p is [string, string] => p.length === 2)
        .map(([n, v]) => [n.toLowerCase(), v]),
    );
    const want = ['mlflow', 'onnx', 'onnxruntime', 'numpy', 'pandas'].map((n) => `${n}==${pinned.get(n)}`);
    expect(got.requirements).toEqual(expect.arrayContaining(want));
    // mlo's loader finds the same ONNX model through its tag and in the model directory
    const mv = await deps.mlflow.getModelVersion(MODEL, version.version);
    expect(tagsOf(mv)[VersionTag.probabilityOutput]).toBe('probability[0]');
    const onnx = parseS3Uri(version.onnxUri);
    const fromS3 = await getObjectBytes(deps.s3, onnx.bucket, onnx.key);
    const fromMlflow = fs.readFileSync(path.join(tmpDir, 'download', 'model.onnx'));
    expect(Buffer.compare(Buffer.from(fromS3), fromMlflow)).toBe(0);
  });

  it('mlflow.pyfunc.load_model("models:/…@champion") scores a DataFrame with named columns as mlo does, within 1e-6', async () => {
    const out = path.join(tmpDir, 'pyfunc.f64');
    const script = [
      ...PY_DAY_FRAME,
      'import mlflow.pyfunc',
      'model = mlflow.pyfunc.load_model(sys.argv[3])',
      // the columns are taken by name: another order gives the same scores
      'pred = model.predict(df[cols[::-1]])',
      'assert list(pred.columns) == ["probability"], list(pred.columns)',
      'pred["probability"].to_numpy(np.float64).tofile(sys.argv[4])',
    ].join('\n');
    const r = await runPython(
      ['-c', script, JSON.stringify(features), dayFile, `models:/${MODEL}@${ModelAlias.champion}`, out],
      readerEnv(),
    );
    expect(r.code, r.stderr).toBe(0);
    const py = readF64(out);
    expect(py.length).toBe(mloScores.length);
    expect(py.length).toBeGreaterThan(2000);
    const { diff, row } = worstDiff(py, mloScores);
    expect(diff, `row ${row}: pyfunc ${py[row]}, mlo ${mloScores[row]}`).toBeLessThanOrEqual(1e-6);
    console.log(`pyfunc vs mlo: ${py.length} rows, max |diff| ${diff.toExponential(2)}`);
    // real probabilities, not a constant
    expect(new Set(Array.from(py.subarray(0, 500), (x) => x.toFixed(6))).size).toBeGreaterThan(50);
  });

  it('`mlflow models serve --env-manager local` answers /invocations with the same scores', async () => {
    const port = await freePort();
    const server = spawn(
      path.join(path.dirname(VENV_PYTHON), 'mlflow'),
      [
        'models',
        'serve',
        '--env-manager',
        'local',
        '-m',
        `models:/${MODEL}@${ModelAlias.champion}`,
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-w',
        '1',
      ],
      { cwd: tmpDir, env: readerEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    server.stdout.on('data', (b: Buffer) => (log += b.toString()));
    server.stderr.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    try {
      const deadline = Date.now() + 150_000;
      for (;;) {
        if (server.exitCode !== null) throw new Error(`mlflow models serve exited ${server.exitCode}:\n${log}`);
        if (Date.now() > deadline) throw new Error(`mlflow models serve did not answer /ping:\n${log}`);
        const ok = await fetch(`${url}/ping`).then(
          (res) => res.ok,
          () => false,
        );
        if (ok) break;
        await new Promise((res) => setTimeout(res, 500));
      }
      // the rows as a client sends them: named columns, missing values as null
      const rowsFile = path.join(tmpDir, 'rows.json');
      const r = await runPython(
        [
          '-c',
          [
            ...PY_DAY_FRAME,
            'rows = [[None if np.isnan(v) else float(v) for v in row] for row in df.to_numpy()]',
            'json.dump({"dataframe_split": {"columns": cols, "data": rows}}, open(sys.argv[3], "w"))',
          ].join('\n'),
          JSON.stringify(features),
          dayFile,
          rowsFile,
        ],
        readerEnv(),
      );
      expect(r.code, r.stderr).toBe(0);
      const res = await fetch(`${url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: fs.readFileSync(rowsFile),
      });
      const text = await res.text();
      expect(res.status, text.slice(0, 500)).toBe(200);
      const body = JSON.parse(text) as { predictions: { probability: number }[] };
      const served = Float64Array.from(body.predictions, (p) => p.probability);
      const { diff, row } = worstDiff(served, mloScores);
      expect(diff, `row ${row}: served ${served[row]}, mlo ${mloScores[row]}`).toBeLessThanOrEqual(1e-6);
      console.log(`served vs mlo: ${served.length} rows, max |diff| ${diff.toExponential(2)}`);
    } finally {
      // the server and its workers: the process group it leads
      try {
        process.kill(-server.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const killed = setTimeout(() => {
        try {
          process.kill(-server.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, 10_000);
      await exited;
      clearTimeout(killed);
    }
  }, 240_000);

  it('a champion registered before the single output (bare model.onnx, outputs label and probabilities) still scores in mlo', async () => {
    // The earlier release's logistic-regression export: imputer, scaler, logistic regression, two outputs.
    const onnxFile = path.join(tmpDir, 'old.onnx');
    const refFile = path.join(tmpDir, 'old.f64');
    const script = [
      ...PY_DAY_FRAME,
      'import onnxruntime as ort',
      'from sklearn.impute import SimpleImputer',
      'from sklearn.linear_model import LogisticRegression',
      'from sklearn.pipeline import Pipeline',
      'from sklearn.preprocessing import StandardScaler',
      'from skl2onnx import convert_sklearn',
      'from skl2onnx.common.data_types import FloatTensorType',
      'y = t.column("label").to_numpy(zero_copy_only=False); keep = ~np.isnan(y)',
      'X = df.to_numpy()',
      'pipe = Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler()), ("c", LogisticRegression())])',
      'pipe.fit(X[keep].astype(np.float64), y[keep].astype(np.int64))',
      'proto = convert_sklearn(pipe, initial_types=[("features", FloatTensorType([None, len(cols)]))],',
      '                        options={LogisticRegression: {"zipmap": False}}, target_opset={"": 15, "ai.onnx.ml": 3})',
      'assert [o.name for o in proto.graph.output] == ["label", "probabilities"]',
      'open(sys.argv[3], "wb").write(proto.SerializeToString())',
      'so = ort.SessionOptions(); so.intra_op_num_threads = 1',
      'sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])',
      'sess.run(["probabilities"], {"features": X})[0][:, 1].astype(np.float64).tofile(sys.argv[4])',
    ].join('\n');
    const r = await runPython(['-c', script, JSON.stringify(features), dayFile, onnxFile, refFile], readerEnv());
    expect(r.code, r.stderr).toBe(0);
    const oldBytes = fs.readFileSync(onnxFile);
    const oldUri = `${base}old/model.onnx`;
    await putObject(deps.s3, cfg.s3.bucket, `${prefix}old/model.onnx`, oldBytes);
    // registered as the earlier release did: the bare ONNX file as the run's model/model.onnx
    const exp = await deps.mlflow.getOrCreateExperiment(`mlo/${MODEL}`);
    const run = await deps.mlflow.createRun({ experimentId: exp.experimentId, runName: 'earlier-release' });
    await deps.mlflow.uploadArtifact(run.info.artifactUri, 'model/model.onnx', oldBytes);
    await deps.mlflow.endRun(run.info.runId, 'FINISHED');
    const acts = trainingActivities(deps);
    const old = await runActivity((i: RegisterInput) => acts.registerCandidate(i), {
      ...stage(`wf-${id}-earlier-release`),
      snapshot,
      trial: {
        trialIndex: 0,
        runId: run.info.runId,
        onnxUri: oldUri,
        metrics: {},
        params: {},
        probabilityOutput: 'probabilities',
        probabilityIndex: 1,
      },
      featureColumns: features,
      requestedBy: 'test@example.com',
    });
    await deps.mlflow.setAlias(MODEL, ModelAlias.champion, old.version);
    try {
      const scores = await scoreWithMlo(version);
      expect(scores.champion).toBeDefined();
      const ref = readF64(refFile);
      const champ = worstDiff(scores.champion!, ref);
      expect(champ.diff, `row ${champ.row}`).toBeLessThanOrEqual(1e-6);
      console.log(`earlier champion, mlo vs onnxruntime: max |diff| ${champ.diff.toExponential(2)}`);
      const cand = worstDiff(scores.candidate, mloScores);
      expect(cand.diff).toBe(0);
      expect(tagsOf(await deps.mlflow.getModelVersion(MODEL, old.version))[VersionTag.probabilityOutput]).toBe(
        'probabilities[1]',
      );
    } finally {
      await deps.mlflow.setAlias(MODEL, ModelAlias.champion, version.version);
    }
  });
});
