/**
 * Data checks over Arrow tables and a day listing: the exact findings of a broken range, the
 * statistics a feature partition records for its manifest, and the data gates judged on them.
 */
import { describe, expect, it } from 'vitest';
import { Float64, Int32, Int64, Table, TimestampMillisecond, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import { checkEventDay, findingLine, inputColumnsOf, reportText, runDataCheck } from '../../lib/data/check';
import { evaluateDataGates } from '../../lib/data/gates';
import type { DayListing, RawDataSource, RawFile } from '../../lib/data/check-source';
import { dayOfKey } from '../../lib/data/check-source';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { buildLabelIndex, computeFeaturePartition } from '../../lib/features/partition';
import { parseSpec, SpecError } from '../../lib/spec/model-spec';
import { parseDataGate } from '../../lib/spec/data-gates';

const SPEC = `
name: dc-test
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 2d }
  checks: { max_null_rate: { amount: 0.1 } }
features:
  columns: [amount]
  derived:
    - { name: is_ecommerce, expr: "channel == 'ecommerce'" }
  aggregations:
    - { entity: card_id, windows: [1h], metrics: [{ fn: count }] }
training:
  trainer: { command: [python, trainers/gbdt/train.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;

const spec = parseSpec(SPEC, '<test spec>');
const fs = featureSetFromSpec(spec);
/** The same features without data.checks: the default thresholds. */
const noLimit = featureSetFromSpec(parseSpec(SPEC.replace(/^ {2}checks: .*\n/m, ''), '<test spec>'));
const at = (s: string) => Date.parse(s);

type Row = { id: number | null; ts: number | null; card: number | null; amount: number | null; channel?: string };

function events(rows: Row[], opts: { channel?: boolean } = {}): Table {
  const cols: Record<string, Vector> = {
    payment_id: vectorFromArray(
      rows.map((r) => (r.id === null ? null : BigInt(r.id))),
      new Int64(),
    ),
    ts: vectorFromArray(
      rows.map((r) => r.ts),
      new TimestampMillisecond('UTC'),
    ),
    card_id: vectorFromArray(
      rows.map((r) => r.card),
      new Int32(),
    ),
    amount: vectorFromArray(
      rows.map((r) => r.amount),
      new Float64(),
    ),
  };
  if (opts.channel !== false)
    cols.channel = vectorFromArray(
      rows.map((r) => r.channel ?? 'pos'),
      new Utf8(),
    );
  return new Table(cols);
}

function labels(rows: { id: number; reported: number }[]): Table {
  return new Table({
    payment_id: vectorFromArray(
      rows.map((r) => BigInt(r.id)),
      new Int64(),
    ),
    reported_at: vectorFromArray(
      rows.map((r) => r.reported),
      new TimestampMillisecond('UTC'),
    ),
  });
}

/** Raw data held in memory, listed like S3 (the checks' boundary, typed as the real one). */
function memorySource(files: { key: string; table: Table; lastModified: string }[]): RawDataSource {
  const byKey = new Map(files.map((f) => [f.key, f.table]));
  return {
    async list(prefix) {
      const out: DayListing = new Map();
      for (const f of files) {
        if (!f.key.startsWith(prefix)) continue;
        const day = dayOfKey(f.key.slice(prefix.length));
        if (!day) continue;
        const raw: RawFile = {
          key: f.key,
          uri: `s3://mlo/${f.key}`,
          size: 100,
          etag: 'e',
          lastModified: new Date(f.lastModified),
        };
        out.set(day, [...(out.get(day) ?? []), raw]);
      }
      return out;
    },
    async read(file) {
      return byKey.get(file.key)!;
    },
  };
}

const good = events([
  { id: 1, ts: at('2026-01-01T00:30:00Z'), card: 7, amount: 10 },
  { id: 2, ts: at('2026-01-01T08:00:00Z'), card: 7, amount: 20 },
  { id: 3, ts: at('2026-01-01T09:00:00Z'), card: 8, amount: 30 },
  { id: 4, ts: at('2026-01-01T23:59:59Z'), card: 9, amount: 40 },
]);
/** No channel column; 2 of 5 amounts null; id 6 twice; id 1 again (from 2026-01-01); one row on the next day; a null card. */
const broken = events(
  [
    { id: 5, ts: at('2026-01-02T01:00:00Z'), card: 7, amount: null },
    { id: 6, ts: at('2026-01-02T02:00:00Z'), card: 7, amount: 12 },
    { id: 6, ts: at('2026-01-02T03:00:00Z'), card: null, amount: 13 },
    { id: 7, ts: at('2026-01-03T01:00:00Z'), card: 8, amount: null },
    { id: 1, ts: at('2026-01-02T05:00:00Z'), card: 9, amount: 15 },
  ],
  { channel: false },
);
const emptyDay = events([]);

const source = memorySource([
  { key: 'raw/payments/day=2026-01-01/part-0.arrow', table: good, lastModified: '2026-01-02T05:00:00Z' },
  { key: 'raw/payments/day=2026-01-02/part-0.arrow', table: broken, lastModified: '2026-01-03T07:00:00Z' },
  { key: 'raw/payments/day=2026-01-03/part-0.arrow', table: emptyDay, lastModified: '2026-01-04T01:00:00Z' },
  // 2026-01-04 is missing.
  {
    key: 'raw/chargebacks/day=2026-01-02/part-0.arrow',
    table: labels([{ id: 2, reported: at('2026-01-02T10:00:00Z') }]),
    lastModified: '2026-01-03T00:10:00Z',
  },
  {
    // id 3 (at 2026-01-01T09:00) is reported 3 h after its 2-day maturity, id 4 within it.
    key: 'raw/chargebacks/day=2026-01-03/part-0.arrow',
    table: labels([
      { id: 3, reported: at('2026-01-03T12:00:00Z') },
      { id: 4, reported: at('2026-01-03T13:00:00Z') },
    ]),
    lastModified: '2026-01-04T00:10:00Z',
  },
]);

describe('mlo data check', () => {
  it('reports every problem of a broken range, one line each with its day, file, value and threshold', async () => {
    const report = await runDataCheck({
      model: spec.name,
      featureSet: fs,
      checks: spec.data.checks,
      range: { from: '2026-01-01', to: '2026-01-05' },
      source,
      now: new Date('2026-02-01T00:00:00Z'),
    });
    const f2 = 's3://mlo/raw/payments/day=2026-01-02/part-0.arrow';
    const f3 = 's3://mlo/raw/payments/day=2026-01-03/part-0.arrow';
    expect(report.findings.map(findingLine)).toEqual([
      `ERROR events day=2026-01-02 ${f2}: nulls: column "amount" null rate 0.4000 (2 of 5 rows) > 0.1 ` +
        '(data.checks.max_null_rate)',
      `ERROR events day=2026-01-02 ${f2}: missing-column: column "channel" (an input of is_ecommerce) is missing; ` +
        "the file's columns are: payment_id, ts, card_id, amount",
      `ERROR events day=2026-01-02 ${f2}: nulls: column "card_id" null rate 0.2000 (1 of 5 rows) > 0 ` +
        '(an entity key: no null allowed)',
      `ERROR events day=2026-01-02 ${f2}: duplicate-ids: 1 row(s) repeat a payment_id of the same day (e.g. 6); ` +
        'ids must be unique',
      `ERROR events day=2026-01-02 ${f2}: out-of-day: 1 row(s) have ts outside the day 2026-01-02 ` +
        '(first: 2026-01-03T01:00:00.000Z); the event log is mis-partitioned',
      `WARN  events day=2026-01-02 ${f2}: late-arrival: landed at 2026-01-03T07:00:00.000Z, after ` +
        "2026-01-03T06:00:00.000Z (the day's end + 6h, data.checks.arrival_allowance)",
      `ERROR events day=2026-01-02 ${f2}: duplicate-ids: 1 payment_id(s) already seen on an earlier day of the ` +
        'range (e.g. 1 first on 2026-01-01)',
      `ERROR events day=2026-01-03 ${f3}: empty-day: the day partition holds no row`,
      "WARN  labels day=2026-01-03: late-label: 1 of 2 label(s) joined to the range's events were reported more " +
        'than the 2d maturity after their event: training counts those events as negatives',
      'ERROR events day=2026-01-04: missing-day: no partition under raw/payments/day=2026-01-04/; ' +
        'load it or set data.events.allow_gaps: true',
    ]);
    expect(report.findings.find((f) => f.check === 'nulls' && f.column === 'amount')).toMatchObject({
      level: 'error',
      value: 0.4,
      threshold: 0.1,
      file: f2,
    });
    expect(report).toMatchObject({ errors: 8, warnings: 2, passed: false });
    expect(report.events.days.map((d) => [d.day, d.rows])).toEqual([
      ['2026-01-01', 4],
      ['2026-01-02', 5],
      ['2026-01-03', 0],
    ]);
    expect(report.labels.days.map((d) => [d.day, d.rows])).toEqual([
      ['2026-01-02', 1],
      ['2026-01-03', 2],
    ]);
    expect(reportText(report).split('\n').at(-1)).toBe(
      'FAILED: dc-test 2026-01-01..2026-01-05: 3 event day(s), 9 rows, 2 label day(s); 8 error(s), 2 warning(s)',
    );
  });

  it('a clean range passes; an ordinary column over the default null rate is a warning', async () => {
    const day = events([
      { id: 1, ts: at('2026-01-01T01:00:00Z'), card: 1, amount: 1, channel: 'ecommerce' },
      { id: 2, ts: at('2026-01-01T02:00:00Z'), card: 2, amount: 2 },
    ]);
    const c = checkEventDay(noLimit, undefined, '2026-01-01', [{ file: 's3://mlo/x.arrow', table: day }]);
    expect(c.findings).toEqual([]);
    const withNull = events([
      { id: 1, ts: at('2026-01-01T01:00:00Z'), card: 1, amount: null },
      { id: 2, ts: at('2026-01-01T02:00:00Z'), card: 2, amount: 2 },
    ]);
    const w = checkEventDay(noLimit, undefined, '2026-01-01', [{ file: 's3://mlo/x.arrow', table: withNull }]);
    expect(w.findings.map(findingLine)).toEqual([
      'WARN  events day=2026-01-01 s3://mlo/x.arrow: nulls: column "amount" null rate 0.5000 (1 of 2 rows) > 0.05 ' +
        '(data.checks.warn_null_rate)',
    ]);
    expect(w.stats.warnings).toEqual(w.findings.map(findingLine));
    const inf = events([
      { id: 1, ts: at('2026-01-01T01:00:00Z'), card: 1, amount: Infinity },
      { id: 2, ts: at('2026-01-01T02:00:00Z'), card: 2, amount: 2 },
    ]);
    const i = checkEventDay(noLimit, undefined, '2026-01-01', [{ file: 's3://mlo/x.arrow', table: inf }]);
    expect(i.findings.map(findingLine)).toEqual([
      'ERROR events day=2026-01-01 s3://mlo/x.arrow: infinite-values: column "amount" holds 1 infinite value(s); ' +
        'none is allowed',
    ]);
    expect(i.stats.columns.amount).toEqual({ nulls: 0, nullRate: 0, min: 2, max: 2 });
  });

  it('names the columns a feature set reads, keys first', () => {
    expect(inputColumnsOf(fs).map((c) => [c.name, c.kinds.join('+'), c.key])).toEqual([
      ['payment_id', 'integer', true],
      ['ts', 'timestamp', true],
      ['amount', 'numeric', false],
      ['channel', 'any', false], // a derived input: the expression's checker judges its type
      ['card_id', 'integer', true],
    ]);
  });
});

describe('partition statistics for the manifest', () => {
  it('records rows, nulls, null rates, min and max of every input column, by hand', () => {
    const day = events([
      { id: 11, ts: at('2026-01-02T01:00:00Z'), card: 3, amount: 12.5, channel: 'ecommerce' },
      { id: 12, ts: at('2026-01-02T02:30:00Z'), card: 5, amount: null },
      { id: 13, ts: at('2026-01-02T23:00:00Z'), card: 4, amount: -2 },
      { id: 14, ts: at('2026-01-02T04:00:00Z'), card: 3, amount: NaN },
    ]);
    const target = { day: '2026-01-02', where: 's3://mlo/raw/payments/day=2026-01-02/p.arrow', table: day };
    const cutoff = at('2026-01-10T00:00:00Z');
    const out = computeFeaturePartition(
      noLimit,
      target,
      [],
      buildLabelIndex([], 'payment_id', 'reported_at', cutoff),
      cutoff,
    );
    expect(out.stats.data).toEqual({
      rows: 4,
      columns: {
        payment_id: { nulls: 0, nullRate: 0, min: 11, max: 14 },
        ts: { nulls: 0, nullRate: 0, min: at('2026-01-02T01:00:00Z'), max: at('2026-01-02T23:00:00Z') },
        // null and NaN are both missing: 2 of 4
        amount: { nulls: 2, nullRate: 0.5, min: -2, max: 12.5 },
        channel: { nulls: 0, nullRate: 0, min: null, max: null },
        card_id: { nulls: 0, nullRate: 0, min: 3, max: 5 },
      },
      warnings: [
        `WARN  events day=2026-01-02 ${target.where}: nulls: column "amount" null rate 0.5000 (2 of 4 rows) > 0.05 ` +
          '(data.checks.warn_null_rate)',
      ],
    });
  });

  it('fails the partition on an error-level check, listing each finding', () => {
    const day = events([
      { id: 11, ts: at('2026-01-02T01:00:00Z'), card: null, amount: 1 },
      { id: 11, ts: at('2026-01-02T02:00:00Z'), card: 2, amount: 2 },
    ]);
    const target = { day: '2026-01-02', where: 's3://mlo/p.arrow', table: day };
    const cutoff = at('2026-01-10T00:00:00Z');
    expect(() => computeFeaturePartition(fs, target, [], { labels: new Map(), absent: 0 }, cutoff)).toThrow(
      'the data checks of 2026-01-02 failed:\n' +
        '  - ERROR events day=2026-01-02 s3://mlo/p.arrow: nulls: column "card_id" null rate 0.5000 (1 of 2 rows) > 0 ' +
        '(an entity key: no null allowed)\n' +
        '  - ERROR events day=2026-01-02 s3://mlo/p.arrow: duplicate-ids: 1 row(s) repeat a payment_id of the same ' +
        'day (e.g. 11); ids must be unique\n',
    );
  });
});

describe('data gates', () => {
  const part = (day: string, rows: number, amountNullRate: number, min = 0) => ({
    day,
    rows,
    labeledRows: rows,
    positives: 1,
    stats: { rows, columns: { amount: { nulls: 0, nullRate: amountNullRate, min, max: 100 } }, warnings: [] },
  });

  it('parses the documented forms and refuses others, naming the fix', () => {
    expect(parseDataGate('rows >= 0.5 * trailing_median(rows, 14d)')).toEqual({
      text: 'rows >= 0.5 * trailing_median(rows, 14d)',
      metric: { fn: 'rows' },
      op: '>=',
      threshold: { factor: 0.5, median: { fn: 'rows' }, days: 14 },
    });
    expect(parseDataGate('null_rate(amount) <= 0.01')).toMatchObject({
      metric: { fn: 'null_rate', column: 'amount' },
      threshold: { value: 0.01 },
    });
    expect(parseDataGate('rowz >= 1')).toMatch(/^unknown data metric "rowz"/);
    expect(parseDataGate('rows >= lots')).toMatch(/the threshold "lots" is not a number or a trailing median/);
  });

  it('judges each gate on each day: value, threshold, and n/a without earlier days', () => {
    const parts = [part('2026-01-01', 100, 0), part('2026-01-02', 120, 0.002), part('2026-01-03', 40, 0.03)];
    const r = evaluateDataGates(['rows >= 0.5 * trailing_median(rows, 14d)', 'null_rate(amount) <= 0.01'], parts);
    expect(r.map((x) => [x.day, x.status, x.value, x.threshold])).toEqual([
      ['2026-01-01', 'n/a', 100, null],
      ['2026-01-02', 'pass', 120, 50],
      ['2026-01-03', 'fail', 40, 55],
      ['2026-01-01', 'pass', 0, 0.01],
      ['2026-01-02', 'pass', 0.002, 0.01],
      ['2026-01-03', 'fail', 0.03, 0.01],
    ]);
    expect(r[2]!.note).toBe('rows = 40 fails >= 0.5 × median 110 of rows over 2 earlier day(s) = 55');
    // A partition without statistics (an older release's) fails a column gate: no evidence, no pass.
    const old = evaluateDataGates(['min(amount) >= 0'], [{ day: '2026-01-01', rows: 1, labeledRows: 1, positives: 0 }]);
    expect(old[0]).toMatchObject({
      status: 'fail',
      note: 'min(amount) could not be computed (no statistics for column "amount" in this partition)',
    });
  });

  it('the spec refuses a gate that does not parse or reads a column no feature uses', () => {
    const bad = SPEC.replace('  checks:', '  gates: ["rows >= often", "null_rate(amout) <= 0.01"]\n  checks:');
    let err: unknown;
    try {
      parseSpec(bad, '<test spec>');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    const problems = (err as SpecError).problems;
    expect(problems.some((p) => p.includes('data.gates[0]') && p.includes('"rows >= often"'))).toBe(true);
    expect(problems).toContainEqual(
      expect.stringContaining(
        'data.gates[1]: "null_rate(amout) <= 0.01" reads column "amout", which no feature uses; statistics are kept for: ',
      ),
    );
  });
});
