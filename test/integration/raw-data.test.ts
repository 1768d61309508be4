/**
 * Raw data as data lakes lay it out, through the real feature activities and the dev stack's S3:
 * the same generated events and labels written by pyarrow once as Arrow IPC (one file per day)
 * and once as Parquet (several files per day, several row groups, snappy and zstd, dictionary
 * strings, timestamp[us, Europe/Paris], nulls, `_SUCCESS` / `.crc` / `_temporary` clutter, events
 * under year=/month=/day= and labels under dt=) give equal features. Also: a declared format the
 * files do not have, a layout the spec does not declare, casts, and a Parquet snapshot read by the
 * TS evaluation reader and by the Python trainers' loader.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeps, type ActivityDeps } from '../../activities';
import {
  featureActivities,
  type ManifestInput,
  type PartitionInput,
  type PartitionResult,
  type PlanBackfillInput,
} from '../../activities/features';
import { generateDataset, LocalDirSink } from '../../lib/datagen';
import { s3Access } from '../../lib/data/access';
import { readDayFiles } from '../../lib/data/read';
import { listSourceDay, readSourcePartition } from '../../lib/data/source';
import { readManifest, readPartition } from '../../lib/eval/data';
import { numericColumn } from '../../lib/features/arrow-io';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { loadConfig } from '../../lib/infra/config';
import { getObjectBytes, parseS3Uri, putObject } from '../../lib/infra/s3';
import { parseSpec } from '../../lib/spec/model-spec';
import { pythonEnv, runPython } from '../helpers/python';
import { deleteUnder } from '../helpers/s3';

const cfg = loadConfig();
const id = randomUUID().slice(0, 8);
const prefix = `tmp/test-raw-data/${id}/`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-raw-data-'));
const DAYS = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05'];
const RANGE = { from: '2026-01-02', to: '2026-01-06' };
const CUTOFF = '2026-01-06T00:00:00.000Z';

/** Writes the generated dataset as the two layouts, from one pyarrow table per day (nulls added in both). */
const CONVERT = String.raw`
import sys, os, glob
import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq, pyarrow.compute as pc
src, out = sys.argv[1], sys.argv[2]

def put_arrow(t, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with ipc.new_file(path, t.schema) as w:
        w.write_table(t)

def with_nulls(t):
    amount = t.column('amount').combine_chunks()
    mask = pa.array([(i % 97) == 5 for i in range(t.num_rows)])
    return t.set_column(t.schema.get_field_index('amount'), 'amount', pc.if_else(mask, pa.nulls(t.num_rows, pa.float64()), amount))

def parquet_parts(t, d, n_files, rg_rows):
    os.makedirs(d, exist_ok=True)
    step = (t.num_rows + n_files - 1) // n_files
    for k in range(n_files):
        part = t.slice(k * step, step)
        comp = 'zstd' if k % 2 else 'snappy'
        pq.write_table(part, f'{d}/part-{k:05d}-{comp}.parquet', row_group_size=rg_rows, compression=comp)
        open(f'{d}/.part-{k:05d}-{comp}.parquet.crc', 'wb').write(b'crc')
    open(f'{d}/_SUCCESS', 'wb').close()
    os.makedirs(f'{d}/_temporary', exist_ok=True)
    open(f'{d}/_temporary/part-99999.parquet', 'wb').write(b'not a finished file')

for f in sorted(glob.glob(f'{src}/raw/payments/day=*/*.arrow')):
    day = f.split('day=')[1][:10]
    t = with_nulls(ipc.open_file(f).read_all())
    put_arrow(t, f'{out}/arrow/payments/day={day}/part-00000.arrow')
    # Parquet: plain dictionary strings (pyarrow writes them dictionary-encoded), the time in
    # microseconds with a zone, several files and row groups.
    cols = {}
    for name in t.column_names:
        c = t.column(name).combine_chunks()
        if pa.types.is_dictionary(c.type):
            c = c.dictionary_decode().dictionary_encode()
        if name == 'ts':
            c = c.cast(pa.timestamp('us', tz='UTC')).cast(pa.timestamp('us', tz='Europe/Paris'))
        cols[name] = c
    y, m, dd = day.split('-')
    parquet_parts(pa.table(cols), f'{out}/parquet/payments/year={y}/month={m}/day={dd}', 3, 700)
    # Amounts as text, for casts.
    texty = t.set_column(t.schema.get_field_index('amount'), 'amount', t.column('amount').cast(pa.string()))
    parquet_parts(texty, f'{out}/text/payments/day={day}', 1, 100000)

for f in sorted(glob.glob(f'{src}/raw/chargebacks/day=*/*.arrow')):
    day = f.split('day=')[1][:10]
    t = ipc.open_file(f).read_all()
    put_arrow(t, f'{out}/arrow/chargebacks/day={day}/part-00000.arrow')
    t2 = t.set_column(t.schema.get_field_index('reported_at'), 'reported_at', t.column('reported_at').cast(pa.timestamp('ns', tz='UTC')))
    parquet_parts(t2, f'{out}/parquet/chargebacks/dt={day}', 2, 50)
    parquet_parts(t, f'{out}/text/chargebacks/day={day}', 1, 100000)
`;

function specYaml(o: { events: string; labels: string; features?: string }): string {
  return `
name: raw-data-it
owner: risk-ml@example.com
data:
  events: { prefix: ${prefix}${o.events} }
  labels: { prefix: ${prefix}${o.labels}, key: payment_id, timestamp: reported_at, maturity: 1d }
features:
  columns: [amount]
  derived:
    - { name: log_amount, expr: "log1p(amount)" }
    - { name: hour_of_day, expr: "hour_of_day(ts)" }
    - { name: is_ecommerce, expr: "channel == 'ecommerce'" }
    - { name: ip_mismatch, expr: "ip_country != country" }
  aggregations:
    - entity: card_id
      windows: [1h, 24h]
      metrics:
        - { fn: count }
        - { fn: sum, of: amount }
        - { fn: count_distinct, of: merchant_id }
        - { fn: time_since_prev }
  slices: [country, channel]
  ${o.features ?? ''}
training:
  trainer: { command: [python, trainers/gbdt/train.py], pool: cpu }
  window: { days: 2 }
  validation: { days: 1 }
evaluation:
  holdout: { days: 1 }
promotion:
  reviewers: [alice@example.com]
`;
}

function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run<
    A,
    R,
    (...args: A) => Promise<R>
  >(fn, ...args);
}

let deps: ActivityDeps;

/** Plans and computes every partition of the range, then writes the manifest; its URI and the partitions' tables. */
async function backfill(yaml: string): Promise<{ manifestUri: string; tables: Map<string, Table> }> {
  const spec = parseSpec(yaml, '<raw-data-test>');
  const featureSet = featureSetFromSpec(spec);
  const acts = featureActivities(deps);
  const plan = await runActivity((i: PlanBackfillInput) => acts.planFeatureBackfill(i), {
    featureSet,
    range: RANGE,
    labelCutoff: CUTOFF,
  });
  const partitions: PartitionResult[] = [];
  for (const day of plan.days)
    partitions.push(
      await runActivity((i: PartitionInput) => acts.computeFeaturePartition(i), {
        featureSet,
        featureSetHash: plan.featureSetHash,
        day,
        labelCutoff: CUTOFF,
        outputPrefix: `${prefix}out/${plan.outputPrefix}`,
      }),
    );
  const ref = await runActivity((i: ManifestInput) => acts.writeFeatureManifest(i), {
    model: spec.name,
    featureSet,
    featureSetHash: plan.featureSetHash,
    range: RANGE,
    labelCutoff: CUTOFF,
    outputPrefix: `${prefix}out/${plan.outputPrefix}`,
    partitions,
  });
  const m = await readManifest(deps.s3, ref.manifestUri);
  const tables = new Map<string, Table>();
  for (const p of m.partitions) tables.set(p.day, await readPartition(deps.s3, p));
  return { manifestUri: ref.manifestUri, tables };
}

/** Feature and label columns of two snapshots, equal value by value (NaN = NaN). */
function expectSameFeatures(a: Map<string, Table>, b: Map<string, Table>, columns: string[]): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [day, ta] of a) {
    const tb = b.get(day)!;
    expect(tb.numRows, day).toBe(ta.numRows);
    expect(ta.numRows).toBeGreaterThan(100);
    for (const c of columns) {
      const x = numericColumn(ta.getChild(c)!, day, c);
      const y = numericColumn(tb.getChild(c)!, day, c);
      let differ = 0;
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) differ++;
      expect(differ, `${day} ${c}`).toBe(0);
    }
  }
}

async function upload(dir: string, keyPrefix: string): Promise<void> {
  const walk = (d: string): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  for (const f of walk(dir))
    await putObject(
      deps.s3,
      cfg.s3.bucket,
      `${keyPrefix}${path.relative(dir, f).split(path.sep).join('/')}`,
      fs.readFileSync(f),
    );
}

let arrow: { manifestUri: string; tables: Map<string, Table> };
const FEATURES = ['amount', 'log_amount', 'hour_of_day', 'is_ecommerce', 'ip_mismatch', 'label'];

beforeAll(async () => {
  deps = buildDeps(cfg);
  await generateDataset(
    { events: 30_000, days: DAYS.length, start: DAYS[0]!, seed: 11, prefix: 'raw/' },
    new LocalDirSink(path.join(tmp, 'gen')),
  );
  const r = await runPython(['-c', CONVERT, path.join(tmp, 'gen'), path.join(tmp, 'out')], pythonEnv(cfg));
  expect(r.code, r.stderr).toBe(0);
  await upload(path.join(tmp, 'out'), prefix);
  arrow = await backfill(specYaml({ events: 'arrow/payments/', labels: 'arrow/chargebacks/' }));
}, 600_000);

afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (deps) await deleteUnder(deps.s3, cfg.s3.bucket, prefix);
});

describe('raw data layouts and formats', () => {
  it('computes the same features from multi-file, multi-row-group Parquet under year=/month=/day= and dt=', async () => {
    const names = [...arrow.tables.values()][0]!.schema.fields.map((f) => f.name);
    const features = names.filter((n) => FEATURES.includes(n) || n.startsWith('card_id_'));
    expect(features.length).toBeGreaterThanOrEqual(10);
    const yaml = specYaml({
      events: 'parquet/payments/, partition: year/month/day',
      labels: 'parquet/chargebacks/, partition: dt',
    });
    const pq = await backfill(yaml);
    expectSameFeatures(arrow.tables, pq.tables, features);
    // The event time keeps the snapshot's type whatever the files' unit and zone.
    const t = [...pq.tables.values()][0]!;
    expect(String(t.getChild('ts')!.type)).toBe('Timestamp<MILLISECOND, UTC>');
    // Declared format auto-detects per file as well as explicit parquet.
    const explicit = await backfill(
      yaml.replace('partition: year/month/day', 'partition: year/month/day, format: parquet'),
    );
    expectSameFeatures(arrow.tables, explicit.tables, features);
  });

  it('reads a day partition of a source with projection for other consumers', async () => {
    const t = await readSourcePartition(
      deps.s3,
      cfg.s3.bucket,
      { prefix: `${prefix}parquet/payments/`, field: 'data.events', source: { partition: 'year/month/day' } },
      '2026-01-03',
      { columns: ['payment_id', 'amount', 'country'] },
    );
    expect(t!.schema.fields.map((f) => f.name)).toEqual(['payment_id', 'amount', 'country']);
    expect(t!.numRows).toBe(arrow.tables.get('2026-01-03')!.numRows);
    expect(t!.getChild('amount')!.nullCount).toBeGreaterThan(0);
    // The same through ranged GETs (what objects over WHOLE_OBJECT_MAX_BYTES get): footer and column chunks only.
    const src = {
      prefix: `${prefix}parquet/payments/`,
      field: 'data.events',
      source: { partition: 'year/month/day' as const },
    };
    const files = await listSourceDay(deps.s3, cfg.s3.bucket, src, '2026-01-03');
    expect(files.map((f) => f.key.split('/').at(-1))).toEqual([
      'part-00000-snappy.parquet',
      'part-00001-zstd.parquet',
      'part-00002-snappy.parquet',
    ]);
    const ranged = s3Access(deps.s3, cfg.s3.bucket, undefined, undefined, 0);
    const r = await readDayFiles(ranged, files, { field: 'data.events', columns: ['payment_id', 'amount', 'country'] });
    const total = files.reduce((n, f) => n + f.size, 0);
    expect(ranged.stats.requests).toBeGreaterThan(files.length);
    expect(ranged.stats.bytes).toBeLessThan(total);
    for (const c of ['payment_id', 'amount'])
      expect([...numericColumn(r!.table.getChild(c)!, 'ranged', c)]).toEqual([
        ...numericColumn(t!.getChild(c)!, 'whole', c),
      ]);
  });

  it('refuses a declared format the files do not have, naming the file, its format and the declared one', async () => {
    const yaml = specYaml({
      events: 'parquet/payments/, partition: year/month/day, format: arrow',
      labels: 'parquet/chargebacks/, partition: dt',
    });
    await expect(backfill(yaml)).rejects.toThrow(
      /parquet\/payments\/year=2026\/month=01\/day=\d\d\/part-00000-snappy\.parquet is a Parquet file, but data\.events\.format declares arrow; set data\.events\.format: parquet/,
    );
  });

  it('names the layout the data uses when the spec declares another, instead of suggesting allow_gaps', async () => {
    const yaml = specYaml({ events: 'parquet/payments/', labels: 'parquet/chargebacks/, partition: dt' });
    const err = await backfill(yaml).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(
      /holds \d+ file\(s\) under year=YYYY\/month=MM\/day=DD\/: set data\.events\.partition: year\/month\/day/,
    );
    expect(err.message).not.toMatch(/allow_gaps/);
  });

  it('applies declared casts, and names file, column, value and fix when one fails', async () => {
    const cast = await backfill(
      specYaml({ events: 'text/payments/, casts: { amount: float64 }', labels: 'text/chargebacks/' }),
    );
    expectSameFeatures(arrow.tables, cast.tables, ['amount', 'log_amount', 'card_id__sum_amount__24h', 'label']);
    const refused = specYaml({ events: 'text/payments/', labels: 'text/chargebacks/' });
    await expect(backfill(refused)).rejects.toThrow(
      /column "amount" is Utf8, not numeric.*casts: \{ amount: float64 \}/,
    );
    const bad = specYaml({ events: 'text/payments/, casts: { country: float64 }', labels: 'text/chargebacks/' });
    await expect(backfill(bad)).rejects.toThrow(
      /text\/payments\/day=2026-01-0\d\/part-00000-snappy\.parquet: column "country" \(.*\) holds ".*" at row \d+, which does not convert to float64 \(data\.events\.casts\.country\)/,
    );
  });

  it('writes Parquet snapshots that the evaluation reader and the Python trainers read', async () => {
    const pq = await backfill(
      specYaml({ events: 'arrow/payments/', labels: 'arrow/chargebacks/', features: 'format: parquet' }),
    );
    expect(pq.manifestUri).not.toBe(arrow.manifestUri);
    const m = await readManifest(deps.s3, pq.manifestUri);
    expect(m.format).toBe('parquet');
    const first = parseS3Uri(m.partitions[0]!.uri);
    expect(first.key).toMatch(/\.parquet$/);
    const head = await getObjectBytes(deps.s3, first.bucket, first.key);
    expect(new TextDecoder().decode(head.subarray(0, 4))).toBe('PAR1');
    const names = [...arrow.tables.values()][0]!.schema.fields.map((f) => f.name);
    expectSameFeatures(
      arrow.tables,
      pq.tables,
      names.filter((n) => FEATURES.includes(n) || n.startsWith('card_id_')),
    );

    // The trainers' loader: same labeled rows and values from both snapshots.
    const script = String.raw`
import sys, json
sys.path.insert(0, 'trainers')
import numpy as np
from common.s3 import S3
from common.data import load_manifest, load_window
from common.contract import DayRange
class Inp: pass
out = []
for uri in sys.argv[1:3]:
    inp = Inp(); inp.manifest_uri = uri; inp.label_column = 'label'
    m = load_manifest(S3(), uri)
    inp.feature_columns = [f['name'] for f in m['columns']['features']]
    mat = load_window(S3(), inp, m, DayRange(start='2026-01-02', end='2026-01-05'), 'train')
    out.append((mat.rows, mat.positives, float(np.nansum(mat.X)), mat.X.shape[1]))
print(json.dumps(out))
`;
    const r = await runPython(['-c', script, arrow.manifestUri, pq.manifestUri], pythonEnv(cfg));
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as number[][];
    expect(a![0]).toBeGreaterThan(100);
    expect(b).toEqual(a);
  });
});
