/**
 * The raw dataset is read by Python trainers and tools: pyarrow must read what the TS
 * generator writes, with the same types and values.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDataset, LocalDirSink, type DatasetManifest } from '../../lib/datagen';
import { VENV_PYTHON as PYTHON } from '../helpers/python';

const SCRIPT = String.raw`
import json, sys
import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.dataset as ds, pyarrow.compute as pc
root, pay_key, cb_key = sys.argv[1], sys.argv[2], sys.argv[3]

def describe(t, n=5):
    cols = {}
    for name in t.column_names:
        col = t.column(name).combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        cols[name] = col.slice(0, n).to_pylist()
    return {
        'schema': [[f.name, str(f.type), f.nullable] for f in t.schema],
        'rows': t.num_rows,
        'nulls': {name: t.column(name).null_count for name in t.column_names},
        'head': cols,
    }

pay = ipc.open_file(f'{root}/{pay_key}').read_all()
cb = ipc.open_file(f'{root}/{cb_key}').read_all()
whole = ds.dataset(f'{root}/raw/payments', format='arrow', partitioning='hive')
labels = ds.dataset(f'{root}/raw/chargebacks', format='arrow', partitioning='hive')
print(json.dumps({
    'payments': describe(pay),
    'chargebacks': describe(cb),
    'payments_total': whole.count_rows(),
    'payments_days': sorted(set(whole.to_table(columns=['day']).column('day').to_pylist())),
    'chargebacks_total': labels.count_rows(),
    'amount_sum': pc.sum(whole.to_table(columns=['amount']).column('amount')).as_py(),
}))
`;

type Described = {
  schema: [string, string, boolean][];
  rows: number;
  nulls: Record<string, number>;
  head: Record<string, unknown[]>;
};
type PyarrowView = {
  payments: Described;
  chargebacks: Described;
  payments_total: number;
  payments_days: string[];
  chargebacks_total: number;
  amount_sum: number;
};

/** What pyarrow reads: one payments and one chargebacks partition, and the whole dataset's totals. */
function readWithPyarrow(root: string, payKey: string, cbKey: string): PyarrowView {
  const run = spawnSync(PYTHON, ['-c', SCRIPT, root, payKey, cbKey], { encoding: 'utf8', timeout: 60_000 });
  expect(run.error, `could not run ${PYTHON}`).toBeUndefined();
  expect(run.status, `python failed:\n${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout) as PyarrowView;
}

const dict = 'dictionary<values=string, indices=int8, ordered=0>';
const PAYMENTS_SCHEMA = [
  ['payment_id', 'int64', false],
  ['ts', 'timestamp[ms, tz=UTC]', false],
  ['card_id', 'int32', false],
  ['customer_id', 'int32', false],
  ['merchant_id', 'int32', false],
  ['mcc', dict, false],
  ['amount', 'double', false],
  ['channel', dict, false],
  ['country', dict, false],
  ['merchant_country', dict, false],
  ['ip_country', dict, true],
];
const CHARGEBACKS_SCHEMA = [
  ['payment_id', 'int64', false],
  ['card_id', 'int32', false],
  ['reported_at', 'timestamp[ms, tz=UTC]', false],
  ['amount', 'double', false],
  ['reason', 'string', false],
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('pyarrow reads the generated dataset', () => {
  it('with the types, row counts and values the generator wrote', async () => {
    if (!existsSync(PYTHON)) {
      throw new Error(
        `the Python venv is missing (${PYTHON} does not exist): ` +
          'run `npm run stack -- up` to create .venv with pyarrow, then rerun the tests',
      );
    }
    const root = mkdtempSync(path.join(tmpdir(), 'mlo-datagen-py-'));
    dirs.push(root);
    const { manifest } = await generateDataset(
      { events: 10_000, days: 14, start: '2026-03-01', seed: 11 },
      new LocalDirSink(root),
    );
    const pay = manifest.partitions.payments[4] as DatasetManifest['partitions']['payments'][number];
    const cb = manifest.partitions.chargebacks.find(
      (p) => p.rows >= 5,
    ) as DatasetManifest['partitions']['chargebacks'][number];
    expect(cb).toBeDefined();

    const out = readWithPyarrow(root, pay.key, cb.key);
    expect(out.payments.schema).toEqual(PAYMENTS_SCHEMA);
    expect(out.chargebacks.schema).toEqual(CHARGEBACKS_SCHEMA);
    expect(out.payments.rows).toBe(pay.rows);
    expect(out.chargebacks.rows).toBe(cb.rows);
    expect(out.payments_total).toBe(10_000);
    expect(out.payments_days).toEqual(manifest.partitions.payments.map((p) => p.day));
    expect(out.chargebacks_total).toBe(manifest.chargebacks.total);

    // the same values through apache-arrow in TS
    const t = tableFromIPC(readFileSync(path.join(root, pay.key)));
    const head = (name: string, table = t) =>
      Array.from({ length: 5 }, (_, i) => table.getChild(name)?.get(i) as unknown);
    expect(out.payments.head.payment_id).toEqual(head('payment_id').map(Number));
    expect(out.payments.head.ts).toEqual(head('ts'));
    for (const c of [
      'card_id',
      'customer_id',
      'merchant_id',
      'amount',
      'mcc',
      'channel',
      'country',
      'merchant_country',
      'ip_country',
    ]) {
      expect(out.payments.head[c], c).toEqual(head(c));
    }
    expect(out.payments.nulls.ip_country).toBe(t.getChild('ip_country')?.nullCount);
    expect(out.payments.nulls.ip_country).toBeGreaterThan(0);
    expect(Object.entries(out.payments.nulls).filter(([k, v]) => k !== 'ip_country' && v !== 0)).toEqual([]);

    const c = tableFromIPC(readFileSync(path.join(root, cb.key)));
    expect(out.chargebacks.head.payment_id).toEqual(head('payment_id', c).map(Number));
    expect(out.chargebacks.head.reported_at).toEqual(head('reported_at', c));
    expect(out.chargebacks.head.reason).toEqual(head('reason', c));

    let sum = 0;
    for (const p of manifest.partitions.payments) {
      const amounts = tableFromIPC(readFileSync(path.join(root, p.key))).getChild('amount');
      for (let i = 0; i < (amounts?.length ?? 0); i++) sum += amounts?.get(i) as number;
    }
    expect(out.amount_sum).toBeCloseTo(sum, 2);
  });
});
