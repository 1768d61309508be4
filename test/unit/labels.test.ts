/**
 * How a row's label is decided: presence-based labels as they always were, an explicit label
 * column (0/1, boolean, or a declared mapping of a string column), the latest report before the
 * cut-off winning (ties: the positive class), reports at or after the cut-off ignored, maturity,
 * and unmapped values as bad input naming the file, the value and the fix.
 */
import { describe, expect, it } from 'vitest';
import { Bool, Float64, makeVector, Table, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import { BadInputError } from '../../lib/core/errors';
import { featureSetFromSpec, featureSetHash, type FeatureSet } from '../../lib/features/featureset';
import { buildLabelIndex, computeFeaturePartition, type LoadedDay } from '../../lib/features/partition';
import { parseSpec, SpecError, specHash } from '../../lib/spec/model-spec';
import { labelValueRule, type LabelValueRule } from '../../lib/spec/labels';

const t = (iso: string) => Date.parse(iso);
const CUTOFF = t('2026-02-01T00:00:00Z');

function int64(xs: number[]): Vector {
  return makeVector(BigInt64Array.from(xs.map((x) => BigInt(x))));
}

/** A labels file: payment_id, reported_at (ms) and, optionally, a label column. */
function reports(where: string, rows: [id: number, at: string][], label?: Vector): LoadedDay {
  const cols: Record<string, Vector> = {
    payment_id: int64(rows.map(([id]) => id)),
    reported_at: int64(rows.map(([, at]) => t(at))),
  };
  if (label) cols.outcome = label;
  return { day: '2026-01-20', where, table: new Table(cols) };
}

const rule = (r: Partial<LabelValueRule> = {}): LabelValueRule => ({
  column: 'outcome',
  unmapped: 'error',
  absent: 'null',
  ...r,
});

const SPEC = (labels: string, features = '') => `
name: lab
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/outcomes/, key: payment_id, timestamp: reported_at, maturity: 10d${labels} }
features:
  columns: [amount]${features}
training:
  trainer: { command: [python, t.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;

describe('label spec fields', () => {
  it('a presence-based spec parses, hashes and resolves exactly as before the new fields', () => {
    const spec = parseSpec(SPEC(''), '<t>');
    expect(spec.data.labels).toEqual({
      prefix: 'raw/outcomes/',
      key: 'payment_id',
      timestamp: 'reported_at',
      maturity: '10d',
    });
    expect(spec.features).not.toHaveProperty('warmup');
    const fs = featureSetFromSpec(spec);
    expect(fs.labels).toEqual({
      prefix: 'raw/outcomes/',
      key: 'payment_id',
      timestamp: 'reported_at',
      maturityMs: 864e6,
    });
    expect(fs).not.toHaveProperty('warmup');
    // The hash of the spec with the new fields declared differs; without them it is the old one.
    expect(specHash(spec)).not.toBe(specHash(parseSpec(SPEC(', column: outcome'), '<t>')));
  });

  it('an explicit column with a mapping resolves to a rule; the warm-up does not change the feature-set hash', () => {
    const spec = parseSpec(
      SPEC(', column: outcome, values: { bad: 1, good: 0 }, absent: negative', '\n  warmup: exclude'),
      '<t>',
    );
    const fs = featureSetFromSpec(spec);
    expect(fs.labels.value).toEqual({
      column: 'outcome',
      values: { bad: 1, good: 0 },
      unmapped: 'error',
      absent: 'negative',
    });
    expect(fs.warmup).toBe('exclude');
    const { warmup: _w, ...withoutWarmup } = fs;
    expect(featureSetHash(fs)).toBe(featureSetHash(withoutWarmup as FeatureSet));
    expect(labelValueRule({ column: 'y' })).toEqual({ column: 'y', unmapped: 'error', absent: 'null' });
  });

  it('rejects a mapping to anything but 0/1, mapping fields without a column, and an unknown warm-up', () => {
    const problems = (text: string) => {
      try {
        parseSpec(text, '<t>');
      } catch (err) {
        if (err instanceof SpecError) return err.problems.join('\n');
      }
      return '';
    };
    expect(problems(SPEC(', column: outcome, values: { bad: 2 }'))).toMatch(
      /data\.labels\.values\.bad: must be 1 \(positive, bad\) or 0 \(negative, good\)/,
    );
    expect(problems(SPEC(', values: { bad: 1 }'))).toMatch(
      /data\.labels\.values: applies to an explicit label column only; add "column: <name>"/,
    );
    expect(problems(SPEC('', '\n  warmup: skip'))).toMatch(/features\.warmup: unknown warm-up "skip"; use "refuse"/);
  });
});

describe('buildLabelIndex', () => {
  it('presence-based: any report before the cut-off makes its event positive; absent events are 0', () => {
    const idx = buildLabelIndex(
      [
        reports('s3://b/cb/1.arrow', [
          [1, '2026-01-10T00:00:00Z'],
          [2, '2026-02-01T00:00:00Z'],
          [1, '2026-01-12T00:00:00Z'],
        ]),
      ],
      'payment_id',
      'reported_at',
      CUTOFF,
    );
    expect([...idx.labels]).toEqual([[1, 1]]); // 2 arrived at the cut-off: unknown at training time
    expect(idx.absent).toBe(0);
  });

  it('mapped string column: the latest report before the cut-off wins, one after the cut-off is ignored', () => {
    const outcome = vectorFromArray(['bad', 'good', 'good', 'bad', 'good', 'bad'], new Utf8());
    const idx = buildLabelIndex(
      [
        reports(
          's3://b/out/1.arrow',
          [
            [1, '2026-01-05T00:00:00Z'], // bad, then...
            [1, '2026-01-09T00:00:00Z'], // ...good later: good wins
            [2, '2026-01-05T00:00:00Z'], // good, and...
            [2, '2026-02-03T00:00:00Z'], // ...bad after the cut-off: ignored
            [3, '2026-01-07T00:00:00Z'], // good and bad at the same instant: bad (1) wins
            [3, '2026-01-07T00:00:00Z'],
          ],
          outcome,
        ),
      ],
      'payment_id',
      'reported_at',
      CUTOFF,
      rule({ values: { bad: 1, good: 0 } }),
    );
    expect(Object.fromEntries(idx.labels)).toEqual({ 1: 0, 2: 0, 3: 1 });
    expect(idx.absent).toBeNull();
  });

  it('the winner does not depend on file order (reports of one key across files)', () => {
    const a = reports('s3://b/a.arrow', [[7, '2026-01-20T00:00:00Z']], vectorFromArray([1], new Float64()));
    const b = reports('s3://b/b.arrow', [[7, '2026-01-03T00:00:00Z']], vectorFromArray([0], new Float64()));
    const build = (tables: LoadedDay[]) =>
      buildLabelIndex(tables, 'payment_id', 'reported_at', CUTOFF, rule()).labels.get(7);
    expect(build([a, b])).toBe(1);
    expect(build([b, a])).toBe(1);
  });

  it('numeric 0/1 and boolean columns need no mapping', () => {
    const bools = reports(
      's3://b/b.arrow',
      [
        [1, '2026-01-02T00:00:00Z'],
        [2, '2026-01-02T00:00:00Z'],
      ],
      vectorFromArray([true, false], new Bool()),
    );
    expect(Object.fromEntries(buildLabelIndex([bools], 'payment_id', 'reported_at', CUTOFF, rule()).labels)).toEqual({
      1: 1,
      2: 0,
    });
  });

  it('an unmapped value is bad input naming the file, the row, the value and the fix; `unmapped: ignore` skips it', () => {
    const outcome = vectorFromArray(['bad', 'fraud?'], new Utf8());
    const file = reports(
      's3://b/out/2026-01-20.arrow',
      [
        [1, '2026-01-02T00:00:00Z'],
        [2, '2026-01-02T00:00:00Z'],
      ],
      outcome,
    );
    const build = (r: LabelValueRule) => buildLabelIndex([file], 'payment_id', 'reported_at', CUTOFF, r);
    expect(() => build(rule({ values: { bad: 1, good: 0 } }))).toThrow(BadInputError);
    expect(() => build(rule({ values: { bad: 1, good: 0 } }))).toThrow(
      's3://b/out/2026-01-20.arrow: row 1 of the label column "outcome" holds "fraud?", which is not a label: ' +
        'add it to data.labels.values (e.g. { "fraud?": 1 } or 0), or set data.labels.unmapped: ignore to skip such reports',
    );
    expect(Object.fromEntries(build(rule({ values: { bad: 1 }, unmapped: 'ignore' })).labels)).toEqual({ 1: 1 });
    // A string column without a mapping, and a numeric value other than 0/1, are refused too.
    expect(() => build(rule())).toThrow(
      /is Utf8; map its values to 1 \(bad\) and 0 \(good\) with data\.labels\.values/,
    );
    const twos = reports('s3://b/n.arrow', [[1, '2026-01-02T00:00:00Z']], vectorFromArray([2], new Float64()));
    expect(() => buildLabelIndex([twos], 'payment_id', 'reported_at', CUTOFF, rule())).toThrow(
      /s3:\/\/b\/n\.arrow: row 0 of the label column "outcome" holds "2", which is not a label: a label column without/,
    );
  });
});

describe('the label column of a partition', () => {
  // Events of 2026-01-20: ids 1..4 at 06:00, 12:00, 18:00 and 23:00; maturity 10d5h30m before the cut-off.
  const fs: FeatureSet = {
    model: 'lab',
    events: { prefix: 'raw/p/', timestamp: 'ts', id: 'payment_id', allowGaps: false },
    labels: { prefix: 'raw/l/', key: 'payment_id', timestamp: 'reported_at', maturityMs: 0 },
    columns: ['amount'],
    derived: [],
    aggregations: [],
    slices: [],
    featureOrder: ['amount'],
    lookbackMs: 0,
  };
  const target: LoadedDay = {
    day: '2026-01-20',
    where: 's3://b/raw/p/day=2026-01-20/x.arrow',
    table: new Table({
      payment_id: int64([1, 2, 3, 4]),
      ts: int64(['06', '12', '18', '23'].map((h) => t(`2026-01-20T${h}:00:00Z`))),
      amount: makeVector(Float64Array.from([1, 2, 3, 4])),
    }),
  };
  const labels = (out: ReturnType<typeof computeFeaturePartition>) =>
    out.table.getChild('label')!.toArray() as unknown as (number | null)[];
  const nullMask = (out: ReturnType<typeof computeFeaturePartition>) =>
    [0, 1, 2, 3].map((i) => out.table.getChild('label')!.get(i) as number | null);

  it('presence-based: matured events are 1 with a report, else 0; younger events are null', () => {
    const idx = buildLabelIndex(
      [
        reports('s3://b/l.arrow', [
          [2, '2026-01-25T00:00:00Z'],
          [4, '2026-01-25T00:00:00Z'],
        ]),
      ],
      'payment_id',
      'reported_at',
      CUTOFF,
    );
    // Matured: events at or before the cut-off minus the maturity (2026-01-20T20:00).
    const matureFs = { ...fs, labels: { ...fs.labels, maturityMs: CUTOFF - t('2026-01-20T20:00:00Z') } };
    const out = computeFeaturePartition(matureFs, target, [], idx, CUTOFF);
    expect(nullMask(out)).toEqual([0, 1, 0, null]);
    expect(out.stats).toMatchObject({ rows: 4, labeledRows: 3, positives: 1 });
    expect(labels(out)).toHaveLength(4);
  });

  it('explicit column: latest report wins; no report is null (or 0 with absent: negative); maturity still applies', () => {
    const outcome = vectorFromArray(['bad', 'good', 'good', 'bad', 'bad'], new Utf8());
    const file = reports(
      's3://b/l.arrow',
      [
        [1, '2026-01-21T00:00:00Z'],
        [1, '2026-01-22T00:00:00Z'], // good after bad: 0
        [2, '2026-01-21T00:00:00Z'],
        [2, '2026-02-02T00:00:00Z'], // bad after the cut-off: ignored, stays 0
        [4, '2026-01-21T00:00:00Z'], // bad, but event 4 is too young: null
      ],
      outcome,
    );
    const matureFs = { ...fs, labels: { ...fs.labels, maturityMs: CUTOFF - t('2026-01-20T20:00:00Z') } };
    const values = { bad: 1 as const, good: 0 as const };
    const idx = buildLabelIndex([file], 'payment_id', 'reported_at', CUTOFF, rule({ values }));
    const out = computeFeaturePartition(matureFs, target, [], idx, CUTOFF);
    expect(nullMask(out)).toEqual([0, 0, null, null]); // 3 has no report: unknown
    expect(out.stats).toMatchObject({ rows: 4, labeledRows: 2, positives: 0 });
    const neg = buildLabelIndex([file], 'payment_id', 'reported_at', CUTOFF, rule({ values, absent: 'negative' }));
    expect(nullMask(computeFeaturePartition(matureFs, target, [], neg, CUTOFF))).toEqual([0, 0, 0, null]);
  });
});
