/**
 * The Python trainers follow the trainer contract (mlo.trainer/v1, trainers/README.md), run
 * the way the training activity runs them: `.venv/bin/python trainers/<name>/train.py --input
 * <file>` from the repository root, with the contract's environment, against the dev stack's
 * S3 and a synthetic snapshot written by trainers/tools/make_fixture_snapshot.py.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client, getObjectBytes, headObject, parseS3Uri, putObject } from '../../lib/infra/s3';
import {
  FIXTURE_FEATURES as FEATURES,
  makeFixtureSnapshot,
  PY_S3_READER,
  pythonEnv,
  runPython,
  VENV_PYTHON as PYTHON,
} from '../helpers/python';
import { removeTestData } from '../helpers/s3';

const cfg = loadConfig();
const GBDT = 'trainers/gbdt/train.py';
const LOGREG = 'trainers/logreg/train.py';
/** The fixture's days: 2025-01-01 … 2025-01-07; labels are null after noon of 01-06 (01-07 has none). */
const TRAIN = { from: '2025-01-01', to: '2025-01-05' };
const VALIDATION = { from: '2025-01-05', to: '2025-01-07' };
const VALIDATION_DAY = '2025-01-05';

type ProgressLine = { type: 'progress'; step: number; total: number; metrics: Record<string, number | null> };
type CheckpointLine = { type: 'checkpoint'; uri: string; step: number };
type ResultLine = {
  type: 'result';
  onnxUri: string;
  metrics: Record<string, number | null>;
  inputSchema: { name: string; dtype: string; shape: (number | null)[]; columns: string[] };
  outputs: { probability: string; probabilityIndex: number };
  mlflowModel?: { uri: string; files: string[]; flavor: string };
  trainedRows: number;
  validRows: number;
  bestIteration?: number;
  sha256?: string;
};
type Line = ProgressLine | CheckpointLine | ResultLine;
type Run = { code: number | null; stdout: string; stderr: string; lines: Line[]; ms: number };

const runId = randomUUID().slice(0, 8);
const prefix = `tmp/test-trainers/${runId}/`;
const base = `s3://${cfg.s3.bucket}/${prefix}`;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-trainers-'));
let s3: S3Client;
let manifestUri = '';

/** The environment the training activity gives a trainer. */
function contractEnv(over: Record<string, string> = {}): NodeJS.ProcessEnv {
  return pythonEnv(cfg, { MLFLOW_TRACKING_URI: cfg.mlflow.trackingUri, CUDA_VISIBLE_DEVICES: '', ...over });
}

function input(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    contract: 'mlo.trainer/v1',
    manifestUri,
    featureColumns: FEATURES,
    labelColumn: 'label',
    train: TRAIN,
    validation: VALIDATION,
    params: {},
    seed: 42,
    outputPrefix: `${base}out/${name}/`,
    checkpointPrefix: `${base}ckpt/${name}/`,
    resume: null,
    device: 'cpu',
    ...over,
  };
}

/** Runs a trainer as the activity does and checks stdout holds only JSON lines of known types. */
async function runTrainer(
  script: string,
  inp: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Run> {
  const file = path.join(tmpDir, `${randomUUID()}.json`);
  fs.writeFileSync(file, JSON.stringify(inp, null, 2));
  const r = await runPython([script, '--input', file], contractEnv(env));
  const lines: Line[] = [];
  for (const raw of r.stdout.split('\n')) {
    if (raw.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`${script}: a stdout line is not JSON: ${raw}\nstderr:\n${r.stderr}`);
    }
    const type = (parsed as { type?: unknown }).type;
    if (type !== 'progress' && type !== 'checkpoint' && type !== 'result')
      throw new Error(`${script}: unknown stdout line type ${String(type)}: ${raw}`);
    lines.push(parsed as Line);
  }
  return { ...r, lines };
}

const progress = (r: Run) => r.lines.filter((l): l is ProgressLine => l.type === 'progress');
const checkpoints = (r: Run) => r.lines.filter((l): l is CheckpointLine => l.type === 'checkpoint');
function result(r: Run): ResultLine {
  const results = r.lines.filter((l): l is ResultLine => l.type === 'result');
  expect(results, `exactly one result line\nstderr:\n${r.stderr}`).toHaveLength(1);
  expect(r.lines.at(-1)?.type, 'the result is the last line').toBe('result');
  return results[0]!;
}
const lastStderrLine = (r: Run) => r.stderr.trim().split('\n').at(-1) ?? '';

/** Positive-class probabilities of each ONNX model on the same rows (one validation day), by onnxruntime. */
async function scoreOnnx(onnxUris: string[]): Promise<number[][]> {
  const script = [
    ...PY_S3_READER,
    'm = json.loads(get(sys.argv[2])); cols = json.loads(sys.argv[3]); day = sys.argv[4]',
    't = ipc.open_file(pa.py_buffer(get(next(p["uri"] for p in m["partitions"] if p["day"] == day)))).read_all()',
    'X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32)',
    'sess = lambda u: ort.InferenceSession(get(u), providers=["CPUExecutionProvider"])',
    'run = lambda u: sess(u).run(["probability"], {"features": X})',
    'out = [run(u)[0].astype(float).tolist() for u in sys.argv[5:]]',
    'print(json.dumps(out))',
  ].join('\n');
  const r = await runPython(
    ['-c', script, cfg.s3.endpoint ?? '', manifestUri, JSON.stringify(FEATURES), VALIDATION_DAY, ...onnxUris],
    contractEnv(),
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as number[][];
}

async function objectBytes(uri: string): Promise<Buffer> {
  const { bucket, key } = parseS3Uri(uri);
  return Buffer.from(await getObjectBytes(s3, bucket, key));
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Checks one successful run against the contract; returns its result line. */
async function expectConforming(r: Run, label: string): Promise<ResultLine> {
  expect(r.code, `${label} exit code\nstderr:\n${r.stderr}`).toBe(0);
  const res = result(r);
  expect(res.onnxUri).toMatch(new RegExp(`^${base}out/.+\\.onnx$`));
  const bytes = await objectBytes(res.onnxUri);
  // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
  expect(bytes.length).toBeGreaterThan(100);
  expect(bytes[0]).toBe(0x08);
  expect(bytes.includes(Buffer.from('features'))).toBe(true);
  expect(res.inputSchema).toEqual({
    name: 'features',
    dtype: 'float32',
    shape: [null, FEATURES.length],
    columns: FEATURES,
  });
  expect(res.outputs).toEqual({ probability: 'probability', probabilityIndex: 0 });
  // the same model as an MLflow model directory beside it, MLmodel written last, model.onnx the same bytes
  const dir = res.mlflowModel!;
  expect(dir.uri).toBe(res.onnxUri.replace(/model-([0-9a-f]{16})\.onnx$/, 'mlflow-model-$1/'));
  expect(dir.flavor).toBe('onnx');
  expect(dir.files.at(-1)).toBe('MLmodel');
  expect(dir.files).toEqual(expect.arrayContaining(['model.onnx', 'requirements.txt', 'input_example.json']));
  expect((await objectBytes(`${dir.uri}model.onnx`)).equals(bytes)).toBe(true);
  const mlmodel = (await objectBytes(`${dir.uri}MLmodel`)).toString();
  expect(mlmodel).toMatch(/loader_module: mlflow\.onnx/);
  expect(mlmodel).toContain(`{"type": "float", "name": "${FEATURES[0]}", "required": true}`);
  expect(typeof res.metrics.valid_auc).toBe('number');
  expect(res.metrics.valid_auc).toBeGreaterThan(0.6);
  expect(typeof res.metrics.valid_logloss).toBe('number');
  expect(res.trainedRows).toBeGreaterThan(0);
  expect(res.validRows).toBeGreaterThan(0);
  for (const p of progress(r)) {
    expect(Number.isInteger(p.step) && Number.isInteger(p.total) && p.step <= p.total).toBe(true);
    expect(typeof p.metrics).toBe('object');
  }
  console.log(
    `${label}: exit 0 in ${r.ms} ms, valid_auc ${res.metrics.valid_auc?.toFixed(4)}, ${r.lines.length} stdout lines`,
  );
  return res;
}

// Setup problems (no venv, no stack) fail every test with the fix; nothing is ever skipped.
let setupError: Error | undefined;
function requireSetup(): void {
  if (setupError) throw setupError;
}

beforeAll(async () => {
  if (!fs.existsSync(PYTHON)) {
    setupError = new Error(
      `the trainers' Python venv is missing (${PYTHON}); ` +
        'run `npm run stack -- up` (it creates .venv from requirements.txt) or `npm test`',
    );
    return;
  }
  s3 = createS3Client(cfg.s3);
  const r = await makeFixtureSnapshot(`${base}snapshot/`, ['--seed', '7'], contractEnv());
  manifestUri = r.manifestUri;
  if (r.code !== 0 || !/^s3:\/\/.+\/manifest-[0-9a-f]{16}\.json$/.test(manifestUri)) {
    setupError = new Error(
      `make_fixture_snapshot.py failed (exit ${r.code}); is the dev stack up? run \`npm run stack -- up\`\n${r.stderr}`,
    );
  }
});

afterAll(() => removeTestData({ tmpDir, s3, bucket: cfg.s3.bucket, prefix }));

// One uninterrupted GBDT run, shared by the conformance, determinism and resume tests.
const GBDT_PARAMS = { rounds: 120, checkpoint_every: 40 };
let gbdtBase: Promise<Run> | undefined;
const gbdtBaseRun = () => (gbdtBase ??= runTrainer(GBDT, input('gbdt-a', { params: GBDT_PARAMS })));

describe('gbdt trainer (LightGBM)', () => {
  it('follows the contract: JSON lines, progress and checkpoints, one result, an ONNX model in S3', async () => {
    requireSetup();
    const r = await gbdtBaseRun();
    const res = await expectConforming(r, 'gbdt');
    const steps = progress(r).map((p) => p.step);
    expect(steps[0]).toBeLessThanOrEqual(10);
    expect(steps.at(-1)).toBe(120);
    for (const p of progress(r)) expect(p.total).toBe(120);
    const last = progress(r).at(-1)!;
    for (const k of ['train_logloss', 'valid_logloss', 'valid_auc']) expect(typeof last.metrics[k]).toBe('number');
    expect(checkpoints(r).map((c) => c.step)).toEqual([40, 80, 120]);
    for (const c of checkpoints(r)) {
      expect(c.uri).toBe(`${base}ckpt/gbdt-a/step-${c.step}.txt`);
      const bytes = await objectBytes(c.uri);
      expect(bytes.toString('utf8', 0, 4)).toBe('tree');
      // Complete, and provably so: the object's metadata carries its step and the sha256 of its bytes.
      const { bucket, key } = parseS3Uri(c.uri);
      const meta = (await headObject(s3, bucket, key))?.metadata;
      expect(meta).toMatchObject({ step: String(c.step), sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    // The key is content-addressed, so a retried run rewrites the same object.
    expect(res.onnxUri).toBe(`${base}out/gbdt-a/model-${res.sha256!.slice(0, 16)}.onnx`);
    expect(res.metrics.onnx_max_abs_diff).toBeLessThanOrEqual(1e-5);
  });

  it('is deterministic: the same inputs and seed give the same ONNX bytes and scores', async () => {
    requireSetup();
    const [a, b] = await Promise.all([gbdtBaseRun(), runTrainer(GBDT, input('gbdt-b', { params: GBDT_PARAMS }))]);
    const ra = result(a);
    const rb = await expectConforming(b, 'gbdt (second run)');
    expect(rb.onnxUri).not.toBe(ra.onnxUri); // another outputPrefix: two objects to compare
    expect((await objectBytes(rb.onnxUri)).equals(await objectBytes(ra.onnxUri)), 'identical ONNX bytes').toBe(true);
    const [sa, sb] = await scoreOnnx([ra.onnxUri, rb.onnxUri]);
    expect(sa!.length).toBe(3000);
    expect(maxAbsDiff(sa!, sb!)).toBe(0);
  });

  it('resumes from a checkpoint: boosts only the remaining rounds and ends with the uninterrupted model', async () => {
    requireSetup();
    const a = await gbdtBaseRun();
    const ra = result(a);
    const ck = checkpoints(a).find((c) => c.step === 40);
    expect(ck, 'the uninterrupted run wrote a step-40 checkpoint').toBeDefined();
    const r = await runTrainer(GBDT, input('gbdt-resume', { params: GBDT_PARAMS, resume: { uri: ck!.uri, step: 40 } }));
    const res = await expectConforming(r, 'gbdt (resumed at 40)');
    const steps = progress(r).map((p) => p.step);
    expect(steps.length).toBeGreaterThan(0);
    expect(Math.min(...steps), 'progress starts after the checkpoint, not from round 0').toBeGreaterThan(40);
    expect(steps.at(-1)).toBe(120);
    expect(checkpoints(r).map((c) => c.step)).toEqual([80, 120]);
    // Same rounds 41..120 as the uninterrupted run: same metrics at the same steps.
    const byStep = new Map(progress(a).map((p) => [p.step, p.metrics]));
    for (const p of progress(r)) expect(p.metrics).toEqual(byStep.get(p.step));
    const [sa, sr] = await scoreOnnx([ra.onnxUri, res.onnxUri]);
    expect(maxAbsDiff(sa!, sr!)).toBeLessThanOrEqual(1e-6);
    // In fact the very same trees: identical ONNX bytes.
    expect((await objectBytes(res.onnxUri)).equals(await objectBytes(ra.onnxUri))).toBe(true);
  });

  it("resumes with early stopping: the best round is the uninterrupted run's", async () => {
    requireSetup();
    const params = { rounds: 400, checkpoint_every: 30, early_stopping_rounds: 15 };
    const a = await runTrainer(GBDT, input('gbdt-es', { params }));
    const ra = await expectConforming(a, 'gbdt (early stopping)');
    expect(ra.bestIteration).toBeGreaterThan(0);
    expect(progress(a).at(-1)!.step).toBeLessThan(400);
    const ck = checkpoints(a).at(-1)!;
    const r = await runTrainer(GBDT, input('gbdt-es-resume', { params, resume: { uri: ck.uri, step: ck.step } }));
    const res = await expectConforming(r, `gbdt (early stopping, resumed at ${ck.step})`);
    expect(res.bestIteration).toBe(ra.bestIteration);
    expect(res.sha256).toBe(ra.sha256);
  });
});

describe('gbdt trainer: crashes around checkpoints', () => {
  it('refuses to resume from a checkpoint whose bytes do not match the sha256 it was written with', async () => {
    requireSetup();
    const a = await gbdtBaseRun();
    const ck = checkpoints(a).find((c) => c.step === 40)!;
    const torn = `${base}ckpt/torn/step-40.txt`;
    const { bucket, key } = parseS3Uri(ck.uri);
    const meta = (await headObject(s3, bucket, key))!.metadata;
    const bytes = await objectBytes(ck.uri);
    await putObject(s3, bucket, parseS3Uri(torn).key, bytes.subarray(0, bytes.length - 200), { metadata: meta });
    const r = await runTrainer(GBDT, input('gbdt-torn', { params: GBDT_PARAMS, resume: { uri: torn, step: 40 } }));
    expect(r.code, r.stderr).toBe(2);
    expect(lastStderrLine(r)).toMatch(/bad input: resume\.uri .*torn\/step-40\.txt does not match the sha256/);
  });

  it('with the stdin lease, stops with everything it started within a second of its stdin closing', async () => {
    requireSetup();
    const file = path.join(tmpDir, `${randomUUID()}.json`);
    const params = { rounds: 100000, checkpoint_every: 100000, progress_every: 1 };
    fs.writeFileSync(file, JSON.stringify(input('gbdt-lease', { params, stdinLease: true })));
    const child = spawn(PYTHON, [GBDT, '--input', file], {
      cwd: PROJECT_ROOT,
      env: contractEnv(),
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
    // Training has started (a progress line) when the "worker" goes away.
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.includes('"progress"') && resolve()));
    const t0 = Date.now();
    child.stdin.destroy();
    const signal = await exited;
    const ms = Date.now() - t0;
    console.log(`stdin closed: the trainer stopped in ${ms} ms (${signal})`);
    expect(signal).toBe('SIGKILL');
    expect(ms).toBeLessThan(2000);
    expect(stderr).toMatch(/mlo-trainer: crash: stdin closed: the worker that started this trainer is gone; stopping/);
    // Its whole process group is gone.
    expect(() => process.kill(-child.pid!, 0)).toThrow();
  });
});

describe('logreg trainer (scikit-learn)', () => {
  it('follows the contract and is deterministic', async () => {
    requireSetup();
    const [a, b] = await Promise.all([
      runTrainer(LOGREG, input('logreg-a', { params: { C: 0.5, class_weight: 'balanced' } })),
      runTrainer(LOGREG, input('logreg-b', { params: { C: 0.5, class_weight: 'balanced' } })),
    ]);
    const ra = await expectConforming(a, 'logreg');
    const rb = await expectConforming(b, 'logreg (second run)');
    expect(progress(a).map((p) => p.step)).toEqual([1, 2, 3]);
    expect(checkpoints(a)).toEqual([]);
    expect(rb.sha256).toBe(ra.sha256);
    const [sa, sb] = await scoreOnnx([ra.onnxUri, rb.onnxUri]);
    expect(maxAbsDiff(sa!, sb!)).toBe(0);
  });
});

describe('failures map to the contract exit codes', () => {
  it('bad input exits 2 with a message naming the field and the fix', async () => {
    requireSetup();
    const cases: { name: string; script: string; inp: Record<string, unknown>; stderr: RegExp }[] = [
      {
        name: 'unknown feature column',
        script: GBDT,
        inp: input('bad-col', { featureColumns: [...FEATURES, 'no_such_feature'] }),
        stderr: /bad input: featureColumns\[8\]: "no_such_feature" is not a feature column of the snapshot/,
      },
      {
        name: 'training window outside the snapshot',
        script: GBDT,
        inp: input('bad-window', { train: { from: '2024-06-01', to: '2024-07-01' } }),
        stderr: new RegExp(
          String.raw`bad input: train: window \[2024-06-01, 2024-07-01\) selects no partition ` +
            '.*its days: 2025-01-01 … 2025-01-07',
        ),
      },
      {
        name: 'training window with no mature labels',
        script: LOGREG,
        inp: input('bad-labels', {
          train: { from: '2025-01-07', to: '2025-01-08' },
          validation: { from: '2025-01-05', to: '2025-01-06' },
        }),
        stderr: /bad input: train: window \[2025-01-07, 2025-01-08\) has 3000 rows but none with a mature label/,
      },
      {
        name: 'bad params',
        script: GBDT,
        inp: input('bad-params', { params: { num_leaves: 1, learnin_rate: 0.1 } }),
        stderr: new RegExp(
          String.raw`bad input: bad params: .*params\.learnin_rate: unknown parameter for the gbdt trainer` +
            String.raw`.*params\.num_leaves: 1 must be in \[2, 131072\]`,
        ),
      },
      {
        name: 'input that is not the contract',
        script: LOGREG,
        inp: { ...input('bad-contract'), contract: 'mlo.trainer/v0', seed: 'x' },
        stderr: /bad input: .*contract: expected "mlo.trainer\/v1".*seed: expected an integer/,
      },
    ];
    const runs = await Promise.all(cases.map((c) => runTrainer(c.script, c.inp)));
    runs.forEach((r, i) => {
      const c = cases[i]!;
      expect(r.code, `${c.name}: exit code\nstderr:\n${r.stderr}`).toBe(2);
      expect(lastStderrLine(r), c.name).toMatch(c.stderr);
      expect(
        r.lines.filter((l) => l.type === 'result'),
        `${c.name}: no result line`,
      ).toEqual([]);
      console.log(`${c.name}: exit 2 in ${r.ms} ms: ${lastStderrLine(r).slice(0, 160)}`);
    });
  });

  it('an unreachable S3 exits 75 (transient, retried)', async () => {
    requireSetup();
    const env = { MLO_S3_ENDPOINT: 'http://127.0.0.1:1' };
    const runs = await Promise.all([
      runTrainer(GBDT, input('s3-down-gbdt'), env),
      runTrainer(LOGREG, input('s3-down-logreg'), env),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(75);
      expect(lastStderrLine(r)).toMatch(
        /^mlo-trainer: transient: reading s3:\/\/.+ S3 at http:\/\/127\.0\.0\.1:1 is unreachable/,
      );
      console.log(`S3 unreachable: exit 75 in ${r.ms} ms`);
    }
  });
});
