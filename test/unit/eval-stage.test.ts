/**
 * The steps evaluation and shadow scoring share: scoring a window of a snapshot with the
 * candidate and the champion (scoreWindow), and publishing a stage's report (publishStageReport).
 * S3 and MLflow are in-memory fakes at the client boundary; the models are tiny hand-encoded ONNX
 * graphs run by onnxruntime-node.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import { publishStageReport } from '../../lib/eval/publish';
import type { ReportContext } from '../../lib/eval/report';
import { scoreWindow, type ScoreWindowOptions } from '../../lib/eval/window';
import { FEATURE_SNAPSHOT_KIND, type FeatureSnapshotManifest } from '../../lib/features/manifest';
import type { MlflowClient, ModelVersion } from '../../lib/registry/mlflow';
import { RunTag, VersionTag } from '../../lib/registry/tags';
import { logistic } from '../helpers/onnx';

const FEATURES = ['a', 'b'];
const BUCKET = 'mlo';
const MANIFEST_URI = 's3://mlo/features/m/snap.json';

/** The S3 API's GetObject and PutObject over a map. */
class MemoryS3 {
  readonly objects = new Map<string, Uint8Array>();
  readonly puts: { key: string; contentType: string | undefined }[] = [];

  put(uri: string, bytes: Uint8Array): void {
    this.objects.set(uri.replace(/^s3:\/\//, ''), bytes);
  }

  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof GetObjectCommand) {
      const b = this.objects.get(`${cmd.input.Bucket}/${cmd.input.Key}`);
      if (!b) throw new Error(`no object ${cmd.input.Key}`);
      return { Body: { transformToByteArray: async () => b } };
    }
    if (cmd instanceof PutObjectCommand) {
      const body = cmd.input.Body;
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : (body as Uint8Array);
      this.put(`${cmd.input.Bucket}/${cmd.input.Key}`, bytes);
      this.puts.push({ key: cmd.input.Key!, contentType: cmd.input.ContentType });
      return {};
    }
    throw new Error('unexpected S3 command');
  }
}

function version(v: string, runId: string, tags: Record<string, string>): ModelVersion {
  return { version: v, runId, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) } as ModelVersion;
}

const modelTags = (onnxUri?: string) => ({
  [VersionTag.inputColumns]: JSON.stringify(FEATURES),
  [VersionTag.probabilityOutput]: 'probabilities[0]',
  ...(onnxUri ? { [VersionTag.onnxUri]: onnxUri } : {}),
});

/** One day partition: rows with features a and b, a label (null for the last row), a country. */
function partition(day: string, a: number[], b: number[]): Uint8Array {
  const n = a.length;
  const t = tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i + 1),
    ts: Float64Array.from({ length: n }, (_, i) => Date.parse(`${day}T00:00:00Z`) + i * 1000),
    label: Float64Array.from({ length: n }, (_, i) => (i === n - 1 ? NaN : i % 2)),
    a: Float64Array.from(a),
    b: Float64Array.from(b),
  });
  return tableToIPC(t, 'file');
}

type Setup = { s3: MemoryS3; mlflow: MlflowClient; manifest: FeatureSnapshotManifest };

function setup(o: { champion: boolean }): Setup {
  const s3 = new MemoryS3();
  s3.put('s3://mlo/models/cand.onnx', logistic([1, -1], 0));
  s3.put('s3://mlo/models/champ.onnx', logistic([0.5, 0.5], 0.1));
  const days: [string, number[], number[]][] = [
    ['2025-03-01', [0, 1, 2], [1, 0, 2]],
    ['2025-03-02', [3, -1], [0, 1]],
    ['2025-03-03', [9], [9]],
  ];
  for (const [day, a, b] of days) s3.put(`s3://mlo/features/m/day=${day}.arrow`, partition(day, a, b));
  const manifest: FeatureSnapshotManifest = {
    kind: FEATURE_SNAPSHOT_KIND,
    model: 'm',
    featureSetHash: 'fs',
    hash: 'snap',
    window: { from: '2025-03-01', to: '2025-03-04' },
    labelCutoff: '2025-04-01T00:00:00Z',
    columns: {
      id: 'id',
      timestamp: 'ts',
      label: 'label',
      features: FEATURES.map((name) => ({ name, type: 'float64' as const })),
      slices: [],
    },
    partitions: days.map(([day, a]) => ({
      day,
      uri: `s3://mlo/features/m/day=${day}.arrow`,
      rows: a.length,
      labeledRows: a.length - 1,
      positives: 1,
      hash: day,
    })),
    rows: 6,
    labeledRows: 3,
    positives: 3,
  };
  s3.put(MANIFEST_URI, new TextEncoder().encode(JSON.stringify(manifest)));
  const mlflow = {
    getModelVersion: async (_name: string, v: string) => version(String(v), 'run-cand', modelTags()),
    getModelVersionByAlias: async () =>
      o.champion ? version('1', 'run-champ', modelTags('s3://mlo/models/champ.onnx')) : undefined,
  } as unknown as MlflowClient;
  return { s3, mlflow, manifest };
}

function options(over: Partial<ScoreWindowOptions> = {}): ScoreWindowOptions & { beats: Record<string, unknown>[] } {
  const beats: Record<string, unknown>[] = [];
  return {
    model: 'm',
    candidate: { version: '2', onnxUri: 's3://mlo/models/cand.onnx' },
    manifestUri: MANIFEST_URI,
    window: { from: '2025-03-01', to: '2025-03-03' },
    windowName: 'the holdout',
    picker: (_m, parts) => ({
      capacity: parts.reduce((s, p) => s + p.rows, 0),
      pick: (t) => ({ rows: null, count: t.numRows }),
    }),
    heartbeat: (d) => beats.push(d),
    signal: new AbortController().signal,
    beats,
    ...over,
  };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('scoreWindow', () => {
  it("scores the window's partitions with the candidate and the champion, aligned row by row", async () => {
    const { s3, mlflow } = setup({ champion: true });
    const o = options({ batchSize: 2 });
    const w = await scoreWindow({ s3: s3 as unknown as S3Client, mlflow }, o);
    const a = [0, 1, 2, 3, -1];
    const b = [1, 0, 2, 0, 1];
    expect(w.parts.map((p) => p.day)).toEqual(['2025-03-01', '2025-03-02']);
    expect(w.totalRows).toBe(5);
    expect([...w.scores.candidate].map((p) => p.toFixed(6))).toEqual(a.map((x, i) => sigmoid(x - b[i]!).toFixed(6)));
    expect([...w.scores.champion!].map((p) => p.toFixed(6))).toEqual(
      a.map((x, i) => sigmoid(0.5 * x + 0.5 * b[i]! + 0.1).toFixed(6)),
    );
    expect(w.batchRows).toEqual([2, 1, 2]);
    expect(w.latencyMs.candidate).toHaveLength(3);
    expect(w.latencyMs.champion).toHaveLength(3);
    expect(w.candidate.label).toBe('candidate v2');
    expect(w.champion?.label).toBe('champion v1');
    expect(w.championVersion?.runId).toBe('run-champ');
    expect(w.features).toEqual(FEATURES);
    expect(o.beats[0]).toEqual({ stage: 'loading' });
    expect(o.beats[1]).toEqual({ stage: 'scoring', partition: '2025-03-01', done: 0, of: 2 });
    expect(o.beats[2]).toEqual({
      stage: 'scoring',
      partition: '2025-03-01',
      done: 0,
      of: 2,
      rows: 2,
      rowsOfPartition: 3,
    });
  });

  it("scores the rows a stage picks and hands it each partition's offset", async () => {
    const { s3, mlflow } = setup({ champion: false });
    const seen: [string, number, number][] = [];
    const w = await scoreWindow(
      { s3: s3 as unknown as S3Client, mlflow },
      options({
        picker: () => ({
          capacity: 0,
          pick: (t, p) => {
            const rows = p.day === '2025-03-02' ? new Int32Array(0) : Int32Array.from([2, 0]);
            return {
              rows,
              count: rows.length,
              scored: (at, scores) => seen.push([p.day, at, scores.candidate[at]!]),
            };
          },
        }),
      }),
    );
    expect(w.champion).toBeNull();
    expect(w.scores.champion).toBeNull();
    expect(w.championNote).toBe('no version of m has the alias @champion yet (first version)');
    expect([...w.scores.candidate].map((p) => p.toFixed(6))).toEqual(
      [sigmoid(0), sigmoid(-1)].map((p) => p.toFixed(6)),
    );
    // The second partition gave no rows: skipped, but counted in the window's rows.
    expect(seen).toEqual([['2025-03-01', 0, w.scores.candidate[0]]]);
    expect(w.totalRows).toBe(5);
  });

  it('checks the manifest first, then refuses a window with no partition in it', async () => {
    const { s3, mlflow } = setup({ champion: false });
    const c = { s3: s3 as unknown as S3Client, mlflow };
    await expect(
      scoreWindow(
        c,
        options({
          window: { from: '2025-05-01', to: '2025-05-03' },
          checkManifest: () => {
            throw new BadInputError('the spec needs a slice column');
          },
        }),
      ),
    ).rejects.toThrow('the spec needs a slice column');
    await expect(scoreWindow(c, options({ window: { from: '2025-05-01', to: '2025-05-03' } }))).rejects.toThrow(
      new BadInputError(
        `the holdout 2025-05-01..2025-05-03 is empty: the snapshot ${MANIFEST_URI} has no partition in it ` +
          '(it covers 2025-03-01..2025-03-04)',
      ),
    );
  });
});

describe('publishStageReport', () => {
  it('writes the report to S3 and the MLflow run, logs its finite metrics and tags the verdict', async () => {
    const { s3, mlflow: fake } = setup({ champion: true });
    const scored = await scoreWindow({ s3: s3 as unknown as S3Client, mlflow: fake }, options());
    const uploads: string[] = [];
    const batches: { runId: string; metrics: unknown; tags: unknown }[] = [];
    const mlflow = {
      getRun: async (runId: string) => ({ info: { runId, experimentId: '7', artifactUri: 'mlflow-artifacts:/7/r' } }),
      uploadArtifact: async (_root: string, rel: string) => void uploads.push(rel),
      logBatch: async (runId: string, b: { metrics: unknown; tags: unknown }) =>
        void batches.push({ runId, metrics: b.metrics, tags: b.tags }),
    } as unknown as MlflowClient;
    const target = {
      s3: s3 as unknown as S3Client,
      mlflow,
      bucket: BUCKET,
      mlflowUiUrl: 'http://127.0.0.1:5050/',
      codeVersion: 'abc',
      model: 'm',
      workflowId: 'train-m-1',
      snapshot: { manifestUri: MANIFEST_URI, hash: 'snap' },
      candidate: { version: '2', runId: 'run-cand' },
    };
    const publish = (settings: Record<string, unknown>) =>
      publishStageReport<ReportContext & { kind: string; passed: boolean }>(target, {
        stage: 'shadow',
        window: { from: '2025-03-01', to: '2025-03-03' },
        scored,
        settings,
        passed: false,
        metrics: { shadow_rows: 5, shadow_psi: null, shadow_ks: NaN },
        build: (context) => ({ kind: 'test-report', ...context, passed: false }),
        markdown: (r) => `# ${r.kind}`,
        plots: () => ({ 'scores.svg': '<svg/>' }),
      });
    const out = await publish({ shadow: { batch_size: 2 } });
    const prefix = /^s3:\/\/mlo\/reports\/m\/2\/[0-9a-f]{16}\/shadow\/$/;
    expect(out.report.reportPrefix).toMatch(prefix);
    expect(out.reportUri).toBe(`${out.report.reportPrefix}report.json`);
    expect(out.mlflowRunUrl).toBe('http://127.0.0.1:5050/#/experiments/7/runs/run-cand');
    expect(out.report).toMatchObject({
      kind: 'test-report',
      model: 'm',
      candidate: { version: '2', runId: 'run-cand', onnxUri: 's3://mlo/models/cand.onnx' },
      champion: { version: '1', runId: 'run-champ', onnxUri: 's3://mlo/models/champ.onnx' },
      championNote: null,
      snapshot: { manifestUri: MANIFEST_URI, hash: 'snap' },
      window: { from: '2025-03-01', to: '2025-03-03', days: ['2025-03-01', '2025-03-02'] },
      codeVersion: 'abc',
      workflowId: 'train-m-1',
    });
    expect(s3.puts.map((p) => [p.key.replace(/^.*\//, ''), p.contentType])).toEqual([
      ['report.json', 'application/json'],
      ['report.md', 'text/markdown; charset=utf-8'],
      ['scores.svg', 'image/svg+xml'],
    ]);
    expect(uploads).toEqual(['shadow/report.json', 'shadow/report.md', 'shadow/scores.svg']);
    expect(batches).toEqual([
      {
        runId: 'run-cand',
        metrics: [{ key: 'shadow_rows', value: 5 }],
        tags: {
          [RunTag.shadowReport]: out.reportUri,
          [RunTag.shadowPassed]: 'false',
          [RunTag.shadowChampionVersion]: '1',
        },
      },
    ]);
    // The prefix is content-addressed: the same inputs write the same objects, other settings others.
    expect((await publish({ shadow: { batch_size: 2 } })).reportUri).toBe(out.reportUri);
    expect((await publish({ shadow: { batch_size: 3 } })).reportUri).not.toBe(out.reportUri);
  });
});
