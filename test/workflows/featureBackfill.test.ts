/**
 * featureBackfill end to end on the real stack pieces: a real Temporal dev server, the real
 * S3 server and the real partition activity over generated raw data.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities } from '../../activities';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { generateDataset, paymentsKey, S3Sink } from '../../lib/datagen';
import { FailureType } from '../../lib/core/failure-types';
import { featureSetFromSpec, type FeatureSet } from '../../lib/features/featureset';
import type { FeatureSnapshotManifest } from '../../lib/features/manifest';
import { createS3Client, getObjectBytes, listKeys, parseS3Uri, putObject } from '../../lib/infra/s3';
import { parseSpec } from '../../lib/spec/model-spec';
import { featureBackfill, type FeatureBackfillInput } from '../../workflows/featureBackfill';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { workflowBundle } from '../helpers/workflow-bundle';

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const root = `test-backfill-${randomUUID().slice(0, 8)}/`;
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let fset: FeatureSet;

function specText(prefix: string): string {
  return `
name: bf-test
owner: a@example.com
data:
  events: { prefix: ${prefix}payments/ }
  labels: { prefix: ${prefix}chargebacks/, key: payment_id, timestamp: reported_at, maturity: 5d }
features:
  columns: [amount]
  derived:
    - { name: log_amount, expr: "log1p(amount)" }
    - { name: ip_mismatch, expr: "ip_country != country" }
    - { name: is_ecommerce, expr: "channel == 'ecommerce'" }
  aggregations:
    - entity: card_id
      windows: [1h, 24h]
      metrics: [{ fn: count }, { fn: sum, of: amount }, { fn: count_distinct, of: merchant_id }, { fn: time_since_prev }]
  slices: [country, channel]
training:
  trainer: { command: [python, trainers/gbdt/train.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const sink = await S3Sink.open(cfg.s3);
  await generateDataset({ events: 20_000, days: 16, start: '2026-01-01', seed: 7, prefix: `${root}raw/` }, sink);
  fset = featureSetFromSpec(parseSpec(specText(`${root}raw/`), '<test spec>'));
  [env, bundle] = await Promise.all([createTestEnv(), workflowBundle()]);
}, 180_000);
afterAll(async () => {
  await env?.teardown();
  s3.destroy();
});

async function backfill(input: Partial<FeatureBackfillInput> = {}) {
  const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu') };
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue: q.wf,
      workflowBundle: bundle,
    }),
    Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue: q.cpu,
      activities: createCpuActivities({ ...buildDeps(cfg), s3 }),
    }),
  ]);
  const workflowId = uniqueName('bf');
  const args: FeatureBackfillInput = {
    model: 'bf-test',
    featureSet: fset,
    range: { from: '2026-01-05', to: '2026-01-15' },
    labelCutoff: '2026-01-16T00:00:00.000Z',
    cpuQueue: q.cpu,
    concurrency: 3,
    ...input,
  };
  const [w0, w1] = workers;
  const run = env.client.workflow.execute(featureBackfill, { taskQueue: q.wf, workflowId, args: [args] });
  const result = await w0.runUntil(
    w1.runUntil(
      run.then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
    ),
  );
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const partitionResults = (history.events ?? [])
    .filter((e) => e.activityTaskCompletedEventAttributes)
    .map((e) =>
      env.client.options.loadedDataConverter.payloadConverter.fromPayload<{ day?: string; reused?: boolean }>(
        e.activityTaskCompletedEventAttributes!.result!.payloads![0]!,
      ),
    )
    .filter((r) => r.reused !== undefined);
  return { result, partitionResults, historyLength: history.events?.length ?? 0 };
}

async function readManifest(uri: string): Promise<FeatureSnapshotManifest> {
  const { bucket, key } = parseS3Uri(uri);
  return JSON.parse(Buffer.from(await getObjectBytes(s3, bucket, key)).toString('utf8')) as FeatureSnapshotManifest;
}

describe('featureBackfill', () => {
  let firstManifestUri = '';

  it('computes one partition per day, writes a manifest, and pyarrow reads the partitions with the same values', async () => {
    const { result, partitionResults } = await backfill();
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    firstManifestUri = result.r.manifestUri;
    expect(result.r.partitions).toBe(10);
    expect(partitionResults.filter((p) => p.reused === false)).toHaveLength(10);
    const m = await readManifest(result.r.manifestUri);
    expect(m.kind).toBe('mlo.feature-snapshot/v1');
    expect(m.partitions.map((p) => p.day)).toEqual([
      '2026-01-05',
      '2026-01-06',
      '2026-01-07',
      '2026-01-08',
      '2026-01-09',
      '2026-01-10',
      '2026-01-11',
      '2026-01-12',
      '2026-01-13',
      '2026-01-14',
    ]);
    expect(m.columns.features.map((f) => f.name)).toEqual(fset.featureOrder);
    // Rows equal the raw partitions' rows.
    for (const p of m.partitions) {
      const raw = tableFromIPC(await getObjectBytes(s3, cfg.s3.bucket, paymentsKey(`${root}raw/`, p.day)));
      expect(p.rows).toBe(raw.numRows);
    }
    // Label maturity: with a 5-day maturity and the cut-off at 01-16, events after 01-11 have no label.
    const late = m.partitions.filter((p) => p.day >= '2026-01-11');
    expect(late.every((p) => p.labeledRows === 0)).toBe(true);
    expect(m.partitions.filter((p) => p.day < '2026-01-11').every((p) => p.labeledRows === p.rows)).toBe(true);
    expect(m.positives).toBeGreaterThan(0);

    // Cross-language: pyarrow reads a partition, recomputes two features by brute force from
    // the raw events (strictly-before windows), and compares with what mlo wrote.
    const part = m.partitions[3]!;
    const script = `
import sys, json, io, boto3, pyarrow.ipc as ipc, numpy as np
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name='us-east-1')
def read(key): return ipc.open_file(io.BytesIO(s3.get_object(Bucket=sys.argv[4], Key=key)['Body'].read())).read_all()
feat = read(sys.argv[5])
raw = [read(k) for k in sys.argv[6:]]
ts = np.concatenate([r.column('ts').cast('int64').to_numpy() for r in raw])
card = np.concatenate([r.column('card_id').to_numpy() for r in raw])
amt = np.concatenate([r.column('amount').to_numpy() for r in raw])
ft = feat.column('ts').cast('int64').to_numpy(); fc = feat.column('card_id').to_numpy() if 'card_id' in feat.column_names else None
ids = feat.column('payment_id').to_numpy()
rid = np.concatenate([r.column('payment_id').to_numpy() for r in raw])
pos = {int(p): i for i, p in enumerate(rid)}
bad = 0
for i in range(feat.num_rows):
    j = pos[int(ids[i])]; t = ts[j]; c = card[j]
    m1 = (card == c) & (ts >= t - 3600000) & (ts < t)
    m24 = (card == c) & (ts >= t - 86400000) & (ts < t)
    if feat.column('card_id__count__1h')[i].as_py() != m1.sum(): bad += 1
    if abs(feat.column('card_id__sum_amount__24h')[i].as_py() - amt[m24].sum()) > 1e-6: bad += 1
day = raw[-1]
def st(name):
    col = day.column(name)
    t = str(col.type)
    if t in ('string', 'large_string') or t.startswith('dictionary'):
        return {"nulls": col.null_count, "nullRate": col.null_count / day.num_rows, "min": None, "max": None}
    v = np.array((col.cast('int64') if t.startswith('timestamp') else col).to_pylist(), dtype='float64')
    nulls = int(np.isnan(v).sum())
    return {"nulls": nulls, "nullRate": nulls / day.num_rows, "min": float(np.nanmin(v)), "max": float(np.nanmax(v))}
stats = {n: st(n) for n in ['payment_id', 'ts', 'amount', 'ip_country', 'country', 'channel', 'card_id', 'merchant_id']}
print(json.dumps({"rows": feat.num_rows, "bad": bad, "types": {f.name: str(f.type) for f in feat.schema}, "stats": stats}))
`;
    const rawKeys = ['2026-01-07', '2026-01-08'].map((d) => paymentsKey(`${root}raw/`, d));
    const out = execFileSync(
      path.join(PROJECT_ROOT, '.venv', 'bin', 'python'),
      [
        '-c',
        script,
        cfg.s3.endpoint ?? '',
        cfg.s3.accessKeyId ?? '',
        cfg.s3.secretAccessKey ?? '',
        cfg.s3.bucket,
        parseS3Uri(part.uri).key,
        ...rawKeys,
      ],
      { encoding: 'utf8' },
    );
    const r = JSON.parse(out) as {
      rows: number;
      bad: number;
      types: Record<string, string>;
      stats: Record<string, unknown>;
    };
    expect(r.rows).toBe(part.rows);
    // The manifest's raw input statistics of the day, as pyarrow computes them from the raw file.
    expect(part.stats?.rows).toBe(part.rows);
    expect(part.stats?.columns).toEqual(r.stats);
    for (const p of m.partitions) expect(p.stats?.rows).toBe(p.rows);
    expect(r.bad).toBe(0);
    expect(r.types['card_id__count__1h']).toBe('double');
    expect(r.types['label']).toBe('double');
  });

  it('reuses every unchanged partition, and a changed raw partition recomputes exactly the days that read it', async () => {
    const again = await backfill();
    expect(again.result.ok).toBe(true);
    if (!again.result.ok) return;
    expect(again.partitionResults.every((p) => p.reused === true)).toBe(true);
    expect(again.result.r.manifestUri).toBe(firstManifestUri);

    // Rewrite raw day 01-08 without its last row: 01-08 and 01-09 (whose 24h lookback reads it) recompute.
    const key = paymentsKey(`${root}raw/`, '2026-01-08');
    const t = tableFromIPC(await getObjectBytes(s3, cfg.s3.bucket, key));
    await putObject(s3, cfg.s3.bucket, key, tableToIPC(t.slice(0, t.numRows - 1), 'file'));
    const changed = await backfill();
    expect(changed.result.ok).toBe(true);
    const recomputed = changed.partitionResults
      .filter((p) => p.reused === false)
      .map((p) => p.day)
      .sort();
    expect(recomputed).toEqual(['2026-01-08', '2026-01-09']);
    if (changed.result.ok) expect(changed.result.r.manifestUri).not.toBe(firstManifestUri);
  });

  it('a missing raw partition is a non-retryable error naming it, and nothing is written', async () => {
    const before = await listKeys(s3, cfg.s3.bucket, `features/bf-test/`);
    const { result } = await backfill({ range: { from: '2026-01-10', to: '2026-01-20' } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const err = result.e as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err.cause as { cause?: unknown }).cause as ApplicationFailure;
    expect(cause.type).toBe(FailureType.BadInput);
    expect(cause.message).toMatch(
      /raw event partitions missing under s3:\/\/mlo\/test-backfill-[0-9a-f]+\/raw\/payments\/: day=2026-01-17, 2026-01-18, 2026-01-19\./,
    );
    expect(cause.message).toContain('allow_gaps');
    expect(await listKeys(s3, cfg.s3.bucket, `features/bf-test/`)).toEqual(before);
  });

  it('a corrupt raw file fails its partition for good, naming the file, and writes no manifest', async () => {
    const key = paymentsKey(`${root}raw/`, '2026-01-03');
    await putObject(s3, cfg.s3.bucket, key, new TextEncoder().encode('this is not arrow'));
    const before = await listKeys(s3, cfg.s3.bucket, `features/bf-test/`);
    const { result } = await backfill({ range: { from: '2026-01-03', to: '2026-01-04' } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const cause = ((result.e as WorkflowFailedError).cause as { cause?: unknown }).cause as ApplicationFailure;
    expect(cause.type).toBe(FailureType.BadInput);
    expect(cause.message).toContain(`s3://mlo/${key} is neither Parquet (PAR1) nor Arrow IPC (ARROW1)`);
    expect(await listKeys(s3, cfg.s3.bucket, `features/bf-test/`)).toEqual(before);
  });
});
