/**
 * Scoring parity: a model trained by the reference trainers on the fixture snapshot scores the
 * same rows identically (|Δ| ≤ 1e-6 on every row) through mlo's path — the partition's Arrow
 * IPC file → `featureColumns` → `fillTensor` → onnxruntime-node (`ScoringModel`, `scoreRows`) —
 * and through Python onnxruntime reading the same file with pyarrow (nulls → NaN, cast to
 * float32), both single-threaded. The rows include unlabelled ones and missing values (the
 * fixture's card_amount_sum_24h has ~3 % nulls).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import { partitionsIn, readManifest, readPartition } from '../../lib/eval/data';
import { ScoringModel } from '../../lib/eval/onnx-model';
import { scoreRows } from '../../lib/eval/score';
import { featureColumns } from '../../lib/eval/tensor';
import { createS3Client, getObjectBytes, parseS3Uri } from '../../lib/infra/s3';
import { makeFixtureSnapshot, PY_S3_READER, pythonEnv, runPython, type PythonRun } from '../helpers/python';
import { removeTestData } from '../helpers/s3';

const cfg = loadConfig();
const id = randomUUID().slice(0, 8);
const prefix = `tmp/test-scoring-parity/${id}/`;
const base = `s3://${cfg.s3.bucket}/${prefix}`;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-parity-'));
const DAYS = ['2025-01-06', '2025-01-07'];
let s3: S3Client;
let manifestUri = '';
let features: string[] = [];

const env = (): NodeJS.ProcessEnv => pythonEnv(cfg, { CUDA_VISIBLE_DEVICES: '' });
const python = (args: string[]): Promise<PythonRun> => runPython(args, env());

async function train(
  script: string,
  name: string,
  params: Record<string, unknown>,
): Promise<{ onnxUri: string; probability: string; index: number }> {
  const file = path.join(tmpDir, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      contract: 'mlo.trainer/v1',
      manifestUri,
      featureColumns: features,
      labelColumn: 'label',
      train: { from: '2025-01-01', to: '2025-01-04' },
      validation: { from: '2025-01-04', to: '2025-01-06' },
      params,
      seed: 42,
      outputPrefix: `${base}out/${name}/`,
      checkpointPrefix: `${base}ckpt/${name}/`,
      resume: null,
      device: 'cpu',
    }),
  );
  const r = await python([script, '--input', file]);
  expect(r.code, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    onnxUri: string;
    outputs: { probability: string; probabilityIndex: number };
  };
  return { onnxUri: result.onnxUri, probability: result.outputs.probability, index: result.outputs.probabilityIndex };
}

/** Python onnxruntime's scores of every row of the days' partitions, in file order. */
async function pythonScores(
  onnxUri: string,
  output: { name: string; index: number },
  out: string,
): Promise<Float64Array> {
  const script = [
    ...PY_S3_READER,
    'm = json.loads(get(sys.argv[2])); days = json.loads(sys.argv[3])',
    'cols = [f["name"] for f in m["columns"]["features"]]',
    'so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1',
    'sess = ort.InferenceSession(get(sys.argv[4]), so, providers=["CPUExecutionProvider"])',
    'parts = sorted((p for p in m["partitions"] if p["day"] in days), key=lambda p: p["day"])',
    'outs = []',
    'for p in parts:',
    '    t = ipc.open_file(pa.py_buffer(get(p["uri"]))).read_all()',
    '    X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32)',
    '    o = sess.run([sys.argv[5]], {"features": X})[0]',
    '    outs.append((o if o.ndim == 1 else o[:, int(sys.argv[6])]).astype(np.float64))',
    'np.concatenate(outs).tofile(sys.argv[7])',
  ].join('\n');
  const r = await python([
    '-c',
    script,
    cfg.s3.endpoint ?? '',
    manifestUri,
    JSON.stringify(DAYS),
    onnxUri,
    output.name,
    String(output.index),
    out,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const buf = fs.readFileSync(out);
  return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
}

/** mlo's scores of the same rows. */
async function mloScores(
  onnxUri: string,
  probability: string,
  index: number,
): Promise<{ scores: Float64Array; nan: number }> {
  const loc = parseS3Uri(onnxUri);
  const model = await ScoringModel.load(await getObjectBytes(s3, loc.bucket, loc.key), {
    role: 'candidate',
    version: 'parity',
    uri: onnxUri,
    features,
    inputColumnsTag: JSON.stringify(features),
    probabilityTag: `${probability}[${index}]`,
  });
  try {
    const manifest = await readManifest(s3, manifestUri);
    const parts = partitionsIn(manifest, { from: DAYS[0]!, to: '2025-01-08' });
    expect(parts.map((p) => p.day)).toEqual(DAYS);
    const chunks: Float64Array[] = [];
    let nan = 0;
    for (const p of parts) {
      const t = await readPartition(s3, p);
      const stats = { nanPerColumn: new Float64Array(features.length) };
      const [s] = await scoreRows([model], featureColumns(t, features, p.uri), null, {
        batchSize: 1000,
        where: p.uri,
        stats,
      });
      chunks.push(s!);
      nan += stats.nanPerColumn.reduce((a, b) => a + b, 0);
    }
    const all = new Float64Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return { scores: all, nan };
  } finally {
    await model.release();
  }
}

beforeAll(async () => {
  s3 = createS3Client(cfg.s3);
  const r = await makeFixtureSnapshot(`${base}snapshot/`, ['--seed', '11', '--rows-per-day', '3000'], env());
  expect(r.code, r.stderr).toBe(0);
  manifestUri = r.manifestUri;
  features = (await readManifest(s3, manifestUri)).columns.features.map((f) => f.name);
});

afterAll(() => removeTestData({ tmpDir, s3, bucket: cfg.s3.bucket, prefix }));

describe('scoring parity: mlo (Arrow → tensor → onnxruntime-node) vs Python onnxruntime', () => {
  for (const [trainer, script, params] of [
    ['gbdt', 'trainers/gbdt/train.py', { rounds: 120 }],
    ['logreg', 'trainers/logreg/train.py', {}],
  ] as const) {
    it(`${trainer}: every row within 1e-6, missing values included`, async () => {
      const m = await train(script, trainer, params);
      const [py, ours] = await Promise.all([
        pythonScores(m.onnxUri, { name: m.probability, index: m.index }, path.join(tmpDir, `${trainer}.f64`)),
        mloScores(m.onnxUri, m.probability, m.index),
      ]);
      expect(ours.scores.length).toBe(6000);
      expect(py.length).toBe(ours.scores.length);
      expect(ours.nan).toBeGreaterThan(50); // the fixture's nulls reached the model as NaN
      let worst = 0;
      let worstRow = -1;
      for (let i = 0; i < py.length; i++) {
        const d = Math.abs(py[i]! - ours.scores[i]!);
        if (!(d <= worst)) {
          worst = d;
          worstRow = i;
        }
      }
      expect(worst, `row ${worstRow}: python ${py[worstRow]}, mlo ${ours.scores[worstRow]}`).toBeLessThanOrEqual(1e-6);
      // the scores are real probabilities, not a constant
      const distinct = new Set(Array.from(ours.scores.subarray(0, 500), (x) => x.toFixed(6))).size;
      expect(distinct).toBeGreaterThan(50);
    });
  }
});
