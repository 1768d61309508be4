import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import {
  type AggSpec,
  type FeatureColumns,
  type KernelInput,
  computeWindowedFeatures,
  parseWindow,
  validateAggSpecs,
} from '../../lib/features/kernel';
import { computeWindowedFeaturesReference } from '../../lib/features/reference';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every aggregation over each window, plus time_since_prev unbounded and bounded. */
function allAggs(windows: readonly number[]): AggSpec[] {
  const aggs: AggSpec[] = [];
  for (const w of windows) {
    const tag = Number.isFinite(w) ? String(w) : 'inf';
    aggs.push(
      { fn: 'count', windowMs: w, name: `count_${tag}` },
      { fn: 'sum', of: 'amount', windowMs: w, name: `sum_${tag}` },
      { fn: 'mean', of: 'amount', windowMs: w, name: `mean_${tag}` },
      { fn: 'min', of: 'amount', windowMs: w, name: `min_${tag}` },
      { fn: 'max', of: 'amount', windowMs: w, name: `max_${tag}` },
      { fn: 'std', of: 'amount', windowMs: w, name: `std_${tag}` },
      { fn: 'count_distinct', of: 'merchant', windowMs: w, name: `distinct_${tag}` },
      { fn: 'time_since_prev', windowMs: w, name: `since_${tag}` },
    );
  }
  aggs.push(
    { fn: 'time_since_prev', name: 'since_unbounded' },
    { fn: 'sum', of: 'score', windowMs: windows[0]!, name: 'score_sum' },
    { fn: 'std', of: 'score', windowMs: windows[windows.length - 1]!, name: 'score_std' },
    // A duplicate of an earlier spec under another name.
    { fn: 'count', windowMs: windows[0]!, name: 'count_again' },
  );
  return aggs;
}

const TOLERANCE: Record<AggSpec['fn'], number> = {
  count: 0,
  count_distinct: 0,
  min: 0,
  max: 0,
  time_since_prev: 0,
  sum: 1e-9,
  mean: 1e-9,
  std: 1e-6,
};

/** Assert the fast path equals the reference: exact or relative tolerance per fn; NaN equals NaN. */
function expectSame(aggs: readonly AggSpec[], fast: FeatureColumns, ref: FeatureColumns, label: string): void {
  expect(Object.keys(fast).sort()).toEqual(aggs.map((a) => a.name).sort());
  for (const spec of aggs) {
    const a = fast[spec.name]!;
    const b = ref[spec.name]!;
    expect(a.length, `${label} ${spec.name} length`).toBe(b.length);
    const tol = TOLERANCE[spec.fn];
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      const ok = Number.isNaN(y)
        ? Number.isNaN(x)
        : tol === 0
          ? x === y
          : Math.abs(x - y) <= tol * Math.max(Math.abs(y), 1e-300);
      if (!ok) expect.fail(`${label}: ${spec.name} at target ${i}: kernel ${x}, reference ${y}`);
    }
  }
}

interface Scenario {
  name: string;
  nLookback: number;
  nTarget: number;
  numKeys: number;
  /** Share of rows on entity 0 (else uniform over keys). */
  heavyShare?: number;
  nullKeyP?: number;
  /** Timestamps are multiples of this (coarse steps: many equal timestamps and exact window edges). */
  tsStep?: number;
  /** Fractional ms timestamps (µs precision). */
  fractional?: boolean;
  /** Start of the target day; negative exercises the sign handling of the sort. */
  t0?: number;
  lookbackMs?: number;
  /** Keep rows time-sorted (else shuffled within the lookback and target parts). */
  sorted?: boolean;
  /** Keys and ids drawn from the whole int32 range (the hash-map paths). */
  sparse?: boolean;
  nullValueP?: number;
  /** Probability of repeating one of a few fixed amounts (constant windows for std). */
  repeatP?: number;
  /** Amount = offset + small noise (ill-conditioned variance). */
  offset?: number;
  /** Bursts: probability that a row copies the previous row's key and timestamp. */
  burstP?: number;
  /** Targets given as a random mask over all rows instead of the range. */
  mask?: boolean;
}

function generate(seed: number, sc: Scenario): KernelInput {
  const rnd = prng(seed);
  const n = sc.nLookback + sc.nTarget;
  const ts = new Float64Array(n);
  const key = new Int32Array(n);
  const amount = new Float64Array(n);
  const score = new Float64Array(n);
  const merchant = new Int32Array(n);
  const t0 = sc.t0 ?? 1_700_000_000_000 - (1_700_000_000_000 % DAY);
  const lookbackMs = sc.lookbackMs ?? DAY;
  const step = sc.tsStep ?? 1;
  const sparseKey = Array.from({ length: sc.numKeys }, (_, k) => (sc.sparse ? Math.floor(rnd() * 0x7fffffff) : k));
  const numIds = Math.max(40, sc.numKeys);
  const sparseId = Array.from({ length: numIds }, (_, k) => (sc.sparse ? Math.floor(rnd() * 0x7fffffff) : k));
  const fixed = [9.99, 0.1, 25, 1e6 + 0.3];
  for (let i = 0; i < n; i++) {
    const inTarget = i >= sc.nLookback;
    let t = inTarget ? t0 + rnd() * DAY : t0 - lookbackMs + rnd() * lookbackMs;
    t = sc.fractional ? Math.round(t * 1000) / 1000 : Math.floor(t / step) * step;
    if (!inTarget && t >= t0) t = t0 - step;
    ts[i] = t;
    const k = sc.heavyShare !== undefined && rnd() < sc.heavyShare ? 0 : Math.floor(rnd() * sc.numKeys);
    key[i] = rnd() < (sc.nullKeyP ?? 0) ? -1 : sparseKey[k]!;
    if (i > 0 && rnd() < (sc.burstP ?? 0) && i >= sc.nLookback === i - 1 >= sc.nLookback) {
      ts[i] = ts[i - 1]!;
      key[i] = key[i - 1]!;
    }
    let v: number;
    if (rnd() < (sc.repeatP ?? 0)) v = fixed[Math.floor(rnd() * fixed.length)]!;
    else if (sc.offset !== undefined) v = sc.offset + Math.round(rnd() * 1000) / 1e6;
    else v = (Math.round(Math.exp(rnd() * 8) * 100) / 100) * (rnd() < 0.05 ? -1 : 1);
    amount[i] = rnd() < (sc.nullValueP ?? 0) ? NaN : v;
    score[i] = rnd() < 0.2 ? NaN : rnd() * 2 - 1;
    merchant[i] = rnd() < 0.1 ? -1 : sparseId[Math.floor(rnd() * (rnd() < 0.5 ? 5 : numIds))]!;
  }
  if (!(sc.sorted ?? false)) {
    // Shuffle inside the lookback part and inside the target part (targets stay a row range).
    for (const [lo, hi] of [
      [0, sc.nLookback],
      [sc.nLookback, n],
    ] as const) {
      for (let i = hi - 1; i > lo; i--) {
        const j = lo + Math.floor(rnd() * (i - lo + 1));
        for (const col of [ts, amount, score] as Float64Array[]) [col[i], col[j]] = [col[j]!, col[i]!];
        for (const col of [key, merchant] as Int32Array[]) [col[i], col[j]] = [col[j]!, col[i]!];
      }
    }
  } else {
    const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) => ts[x]! - ts[y]!);
    for (const col of [ts, amount, score] as Float64Array[]) col.set(idx.map((i) => col[i]!));
    for (const col of [key, merchant] as Int32Array[]) col.set(idx.map((i) => col[i]!));
  }
  const input: KernelInput = { ts, key, values: { amount, score }, ids: { merchant } };
  if (sc.mask) {
    const isTarget = new Uint8Array(n);
    for (let i = 0; i < n; i++) isTarget[i] = rnd() < 0.5 ? 1 : 0;
    input.isTarget = isTarget;
  } else {
    input.targetStart = sc.nLookback;
    input.targetEnd = n;
  }
  return input;
}

const WINDOWS = [10 * MIN, HOUR, 6 * HOUR, DAY, Infinity];

const SCENARIOS: Scenario[] = [
  {
    name: 'uniform, unsorted, 1-minute grid',
    nLookback: 600,
    nTarget: 600,
    numKeys: 12,
    tsStep: MIN,
    nullKeyP: 0.05,
    nullValueP: 0.1,
  },
  {
    name: 'coarse 10-minute grid: many equal timestamps and exact edges',
    nLookback: 500,
    nTarget: 700,
    numKeys: 6,
    tsStep: 10 * MIN,
    nullValueP: 0.1,
    repeatP: 0.3,
  },
  { name: 'bursts at the same ms', nLookback: 400, nTarget: 600, numKeys: 8, tsStep: 1000, burstP: 0.5, repeatP: 0.2 },
  {
    name: 'one entity with 80% of the events',
    nLookback: 500,
    nTarget: 900,
    numKeys: 30,
    heavyShare: 0.8,
    tsStep: MIN,
    nullKeyP: 0.02,
    nullValueP: 0.05,
  },
  { name: 'time-sorted input', nLookback: 500, nTarget: 500, numKeys: 10, tsStep: MIN, sorted: true, nullValueP: 0.1 },
  {
    name: 'sparse int32 keys and ids, fractional ms',
    nLookback: 500,
    nTarget: 500,
    numKeys: 15,
    sparse: true,
    fractional: true,
    nullKeyP: 0.05,
  },
  {
    name: 'thousands of sparse entities and ids (hash maps grow)',
    nLookback: 1500,
    nTarget: 2500,
    numKeys: 3000,
    sparse: true,
    tsStep: 1000,
    lookbackMs: 2 * HOUR,
    nullKeyP: 0.02,
  },
  {
    name: 'negative timestamps (before 1970)',
    nLookback: 400,
    nTarget: 600,
    numKeys: 5,
    tsStep: MIN,
    t0: -3 * DAY,
    heavyShare: 0.6,
  },
  {
    name: 'ill-conditioned variance (1e9 + tiny noise)',
    nLookback: 400,
    nTarget: 600,
    numKeys: 4,
    tsStep: MIN,
    offset: 1e9,
    repeatP: 0.1,
  },
  {
    name: 'mostly null values and keys',
    nLookback: 300,
    nTarget: 300,
    numKeys: 4,
    tsStep: 5 * MIN,
    nullKeyP: 0.4,
    nullValueP: 0.8,
  },
  { name: 'targets as a mask', nLookback: 400, nTarget: 600, numKeys: 8, tsStep: MIN, mask: true, nullValueP: 0.1 },
  { name: 'long lookback, few targets', nLookback: 1500, nTarget: 50, numKeys: 5, tsStep: MIN, lookbackMs: 7 * DAY },
];

describe('parseWindow', () => {
  it('parses whole numbers with a unit into milliseconds', () => {
    expect(parseWindow('10m')).toBe(600_000);
    expect(parseWindow('1h')).toBe(3_600_000);
    expect(parseWindow('24h')).toBe(86_400_000);
    expect(parseWindow('7d')).toBe(604_800_000);
    expect(parseWindow('30d')).toBe(2_592_000_000);
    expect(parseWindow('90s')).toBe(90_000);
    expect(parseWindow('250ms')).toBe(250);
    expect(parseWindow('2w')).toBe(1_209_600_000);
  });

  it.each(['', '10', 'm', '0m', '1.5h', '10M', '-1h', '10 m', '1y', 'P1D'])(
    'rejects %j, naming it and the accepted form',
    (bad) => {
      expect(() => parseWindow(bad)).toThrow(BadInputError);
      expect(() => parseWindow(bad)).toThrow(`invalid window ${JSON.stringify(bad)}`);
      expect(() => parseWindow(bad)).toThrow(
        /positive whole number followed by a unit: ms, s, m \(minutes\), h, d or w/,
      );
    },
  );
});

describe('aggregation spec validation', () => {
  const columns = { values: ['amount'], ids: ['merchant'] };

  it('accepts valid specs', () => {
    expect(() =>
      validateAggSpecs(
        allAggs([HOUR]).filter((a) => a.of !== 'score'),
        columns,
      ),
    ).not.toThrow();
  });

  it('rejects an unknown aggregation, listing the known ones', () => {
    const bad = [{ fn: 'median', of: 'amount', windowMs: HOUR, name: 'med' }] as unknown as AggSpec[];
    expect(() => validateAggSpecs(bad, columns)).toThrow(BadInputError);
    expect(() => validateAggSpecs(bad, columns)).toThrow(
      'aggregation "med": unknown aggregation "median"; ' +
        'expected one of count, sum, mean, min, max, std, count_distinct, time_since_prev',
    );
  });

  it('rejects a missing `of`, naming the columns that would fit', () => {
    expect(() => validateAggSpecs([{ fn: 'sum', windowMs: HOUR, name: 's' }], columns)).toThrow(
      'aggregation "s": sum needs `of`, the name of a value column (one of: amount)',
    );
    expect(() => validateAggSpecs([{ fn: 'count_distinct', windowMs: HOUR, name: 'd' }], columns)).toThrow(
      'count_distinct needs `of`, the name of an id column (one of: merchant)',
    );
  });

  it('rejects unknown columns, `of` where none is taken, bad windows and duplicate names, all in one error', () => {
    const specs: AggSpec[] = [
      { fn: 'mean', of: 'amt', windowMs: HOUR, name: 'a' },
      { fn: 'count_distinct', of: 'amount', windowMs: HOUR, name: 'b' },
      { fn: 'count', of: 'amount', windowMs: HOUR, name: 'c' },
      { fn: 'max', of: 'amount', name: 'd' },
      { fn: 'min', of: 'amount', windowMs: 0, name: 'e' },
      { fn: 'min', of: 'amount', windowMs: NaN, name: 'f' },
      { fn: 'count', windowMs: HOUR, name: 'a' },
    ];
    let message = '';
    try {
      validateAggSpecs(specs, columns);
    } catch (err) {
      expect(err).toBeInstanceOf(BadInputError);
      message = (err as Error).message;
    }
    expect(message).toContain('aggregation "a": mean of "amt": no such value column; value columns: amount');
    expect(message).toContain('aggregation "b": count_distinct of "amount": no such id column; id columns: merchant');
    expect(message).toContain('aggregation "c": count takes no `of`');
    expect(message).toContain('aggregation "d": max needs `windowMs`');
    expect(message).toContain('aggregation "e": `windowMs` must be a number of milliseconds > 0');
    expect(message).toContain('aggregation "f": `windowMs` must be a number of milliseconds > 0');
    expect(message).toContain('aggregation "a": the name is used twice');
  });

  it('computeWindowedFeatures validates specs against the input columns and checks the input', () => {
    const ts = new Float64Array([1, 2]);
    const key = new Int32Array([0, 0]);
    const amount = new Float64Array([1, 2]);
    expect(() =>
      computeWindowedFeatures({ ts, key, values: { amount } }, [{ fn: 'sum', of: 'price', windowMs: 10, name: 'x' }]),
    ).toThrow('no such value column; value columns: amount');
    expect(() => computeWindowedFeatures({ ts, key: new Int32Array(3) }, [])).toThrow(
      '`key` has 3 rows but `ts` has 2',
    );
    expect(() => computeWindowedFeatures({ ts, key, values: { amount: new Float64Array(1) } }, [])).toThrow(
      'value column "amount" has 1 rows',
    );
    expect(() => computeWindowedFeatures({ ts, key, targetStart: 1, targetEnd: 3 }, [])).toThrow(
      '0 <= targetStart <= targetEnd <= 2',
    );
    expect(() => computeWindowedFeatures({ ts, key, targetStart: 0, isTarget: new Uint8Array(2) }, [])).toThrow(
      'not both',
    );
    expect(() =>
      computeWindowedFeatures({ ts, key, values: { amount: new Float64Array([1, Infinity]) } }, [
        { fn: 'sum', of: 'amount', windowMs: 10, name: 'x' },
      ]),
    ).toThrow('value column "amount" holds Infinity at row 1; values must be finite, with NaN for null');
  });
});

describe('computeWindowedFeatures: hand-computed examples', () => {
  it('a small two-card example', () => {
    // Rows (unsorted); card 7 and card 3; the target rows are 2..6.
    const ts = new Float64Array([0, 5 * MIN, 10 * MIN, 10 * MIN, 20 * MIN, 12 * MIN, 70 * MIN]);
    const key = new Int32Array([7, 3, 7, 7, 7, 3, -1]);
    const amount = new Float64Array([10, 4, 30, 50, NaN, 6, 1]);
    const merchant = new Int32Array([1, 9, 2, 1, 1, -1, 5]);
    const aggs: AggSpec[] = [
      { fn: 'count', windowMs: 10 * MIN, name: 'n10m' },
      { fn: 'sum', of: 'amount', windowMs: 10 * MIN, name: 's10m' },
      { fn: 'mean', of: 'amount', windowMs: HOUR, name: 'mean1h' },
      { fn: 'min', of: 'amount', windowMs: HOUR, name: 'min1h' },
      { fn: 'max', of: 'amount', windowMs: HOUR, name: 'max1h' },
      { fn: 'std', of: 'amount', windowMs: HOUR, name: 'std1h' },
      { fn: 'count_distinct', of: 'merchant', windowMs: HOUR, name: 'm1h' },
      { fn: 'time_since_prev', name: 'since' },
      { fn: 'time_since_prev', windowMs: 5 * MIN, name: 'since5m' },
    ];
    const out = computeWindowedFeatures(
      { ts, key, values: { amount }, ids: { merchant }, targetStart: 2, targetEnd: 7 },
      aggs,
    );
    // Target rows in input order: row2 (card 7 @10m), row3 (card 7 @10m), row4 (card 7 @20m),
    // row5 (card 3 @12m), row6 (null key).
    // row2 and row3 share a timestamp: both see only row0 (@0, exactly 10m before: on the edge, included).
    // row4 @20m sees rows 2, 3 in [10m, 20m); row0 @0 is outside 10m but inside 1h.
    expect(Array.from(out.n10m!)).toEqual([1, 1, 2, 1, 0]);
    expect(Array.from(out.s10m!)).toEqual([10, 10, 80, 4, 0]);
    expect(Array.from(out.mean1h!)).toEqual([10, 10, 30, 4, NaN]);
    expect(Array.from(out.min1h!)).toEqual([10, 10, 10, 4, NaN]);
    expect(Array.from(out.max1h!)).toEqual([10, 10, 50, 4, NaN]);
    // Sample std of {10, 30, 50} is 20; one value has none.
    expect(Array.from(out.std1h!)).toEqual([NaN, NaN, 20, NaN, NaN]);
    expect(Array.from(out.m1h!)).toEqual([1, 1, 2, 1, 0]);
    expect(Array.from(out.since!)).toEqual([10 * MIN, 10 * MIN, 10 * MIN, 7 * MIN, NaN]);
    expect(Array.from(out.since5m!)).toEqual([NaN, NaN, NaN, NaN, NaN]);
  });

  it('window edges: t − W is included, t itself is excluded', () => {
    const W = HOUR;
    const t = 1_700_000_000_000;
    // Entity 1: events at t − W − 1, t − W, t − 1, t (target), t (another at the same ms).
    const ts = new Float64Array([t - W - 1, t - W, t - 1, t, t]);
    const key = new Int32Array([1, 1, 1, 1, 1]);
    const amount = new Float64Array([1000, 1, 2, 4, 8]);
    const merchant = new Int32Array([1, 2, 3, 4, 5]);
    const aggs: AggSpec[] = [
      { fn: 'count', windowMs: W, name: 'count' },
      { fn: 'sum', of: 'amount', windowMs: W, name: 'sum' },
      { fn: 'max', of: 'amount', windowMs: W, name: 'max' },
      { fn: 'count_distinct', of: 'merchant', windowMs: W, name: 'distinct' },
      { fn: 'time_since_prev', windowMs: W, name: 'since' },
    ];
    const out = computeWindowedFeatures({ ts, key, values: { amount }, ids: { merchant } }, aggs);
    // Row 2 (t − 1) sees row 0 (t − W − 1 = its own left edge) and row 1; rows 3 and 4 (t)
    // see row 1 (exactly t − W) and row 2, never each other.
    expect(Array.from(out.count!)).toEqual([0, 1, 2, 2, 2]);
    expect(Array.from(out.sum!)).toEqual([0, 1000, 1001, 3, 3]);
    expect(Array.from(out.max!)).toEqual([NaN, 1000, 1000, 2, 2]);
    expect(Array.from(out.distinct!)).toEqual([0, 1, 2, 2, 2]);
    expect(Array.from(out.since!)).toEqual([NaN, 1, W - 1, 1, 1]);
    expect(computeWindowedFeaturesReference({ ts, key, values: { amount }, ids: { merchant } }, aggs)).toEqual(out);
  });

  it('equal timestamps share the strictly-before state; std of equal values is exactly 0', () => {
    const ts = new Float64Array([100, 100, 100, 200, 200, 300]);
    const key = new Int32Array([5, 5, 5, 5, 5, 5]);
    const amount = new Float64Array([0.1, 0.1, 0.1, 0.1, NaN, 0.7]);
    const aggs: AggSpec[] = [
      { fn: 'count', windowMs: 1000, name: 'count' },
      { fn: 'std', of: 'amount', windowMs: 1000, name: 'std' },
      { fn: 'mean', of: 'amount', windowMs: 1000, name: 'mean' },
    ];
    const out = computeWindowedFeatures({ ts, key, values: { amount } }, aggs);
    expect(Array.from(out.count!)).toEqual([0, 0, 0, 3, 3, 5]);
    expect(Array.from(out.std!)).toEqual([NaN, NaN, NaN, 0, 0, 0]);
    expect(out.mean![3]).toBeCloseTo(0.1, 15);
  });
});

describe('computeWindowedFeatures: hand-computed edge cases', () => {
  it('null keys and non-finite timestamps are never history, and get 0 / NaN features', () => {
    const ts = new Float64Array([1, 2, NaN, 3, 4]);
    const key = new Int32Array([1, -1, 1, 1, -1]);
    const amount = new Float64Array([5, 6, 7, 8, 9]);
    const aggs: AggSpec[] = [
      { fn: 'count', windowMs: 100, name: 'count' },
      { fn: 'sum', of: 'amount', windowMs: 100, name: 'sum' },
      { fn: 'min', of: 'amount', windowMs: 100, name: 'min' },
      { fn: 'time_since_prev', name: 'since' },
    ];
    const out = computeWindowedFeatures({ ts, key, values: { amount } }, aggs);
    expect(Array.from(out.count!)).toEqual([0, 0, 0, 1, 0]);
    expect(Array.from(out.sum!)).toEqual([0, 0, 0, 5, 0]);
    expect(Array.from(out.min!)).toEqual([NaN, NaN, NaN, 5, NaN]);
    expect(Array.from(out.since!)).toEqual([NaN, NaN, NaN, 2, NaN]);
  });

  it('empty input, empty target range and no aggregations', () => {
    const aggs: AggSpec[] = [
      { fn: 'count', windowMs: 100, name: 'count' },
      { fn: 'std', of: 'amount', windowMs: 100, name: 'std' },
    ];
    const empty = computeWindowedFeatures(
      { ts: new Float64Array(0), key: new Int32Array(0), values: { amount: new Float64Array(0) } },
      aggs,
    );
    expect(Object.keys(empty)).toEqual(['count', 'std']);
    expect(empty.count!.length).toBe(0);
    const input = {
      ts: new Float64Array([1, 2, 3]),
      key: new Int32Array([0, 0, 0]),
      values: { amount: new Float64Array([1, 2, 3]) },
    };
    const none = computeWindowedFeatures({ ...input, targetStart: 3, targetEnd: 3 }, aggs);
    expect(none.count!.length).toBe(0);
    expect(none.std!.length).toBe(0);
    expect(computeWindowedFeatures({ ...input, isTarget: new Uint8Array(3) }, aggs).count!.length).toBe(0);
    expect(computeWindowedFeatures(input, [])).toEqual({});
  });

  it('keeps sums accurate when a huge value leaves the window', () => {
    const n = 2000;
    const ts = new Float64Array(n);
    const key = new Int32Array(n);
    const amount = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = i * 1000;
      amount[i] = i % 100 === 0 ? 1e15 : 0.01 * (i % 7) + 1e-3;
    }
    const aggs: AggSpec[] = [
      { fn: 'sum', of: 'amount', windowMs: 5000, name: 'sum' },
      { fn: 'mean', of: 'amount', windowMs: 5000, name: 'mean' },
      { fn: 'std', of: 'amount', windowMs: 5000, name: 'std' },
    ];
    const input = { ts, key, values: { amount } };
    expectSame(
      aggs,
      computeWindowedFeatures(input, aggs),
      computeWindowedFeaturesReference(input, aggs),
      'huge values',
    );
  });
});

describe('computeWindowedFeatures equals the brute-force reference', () => {
  const aggs = allAggs(WINDOWS);
  for (const sc of SCENARIOS) {
    it(sc.name, () => {
      for (const seed of [1, 2, 3, 42]) {
        const input = generate(seed * 7919 + sc.name.length, sc);
        expectSame(
          aggs,
          computeWindowedFeatures(input, aggs),
          computeWindowedFeaturesReference(input, aggs),
          `${sc.name} (seed ${seed})`,
        );
      }
    });
  }

  it('does not depend on the order of the input rows', () => {
    const input = generate(99, {
      name: 'perm',
      nLookback: 0,
      nTarget: 1500,
      numKeys: 7,
      tsStep: MIN,
      heavyShare: 0.5,
      nullValueP: 0.1,
      sorted: true,
    });
    const base = computeWindowedFeatures(input, aggs);
    const n = input.ts.length;
    const rnd = prng(5);
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const shuffled: KernelInput = {
      ts: Float64Array.from(perm, (i) => input.ts[i]!),
      key: Int32Array.from(perm, (i) => input.key[i]!),
      values: {
        amount: Float64Array.from(perm, (i) => input.values!.amount![i]!),
        score: Float64Array.from(perm, (i) => input.values!.score![i]!),
      },
      ids: { merchant: Int32Array.from(perm, (i) => input.ids!.merchant![i]!) },
    };
    const out = computeWindowedFeatures(shuffled, aggs);
    for (const spec of aggs) {
      const col = out[spec.name]!;
      const unshuffled = new Float64Array(n);
      perm.forEach((row, pos) => (unshuffled[row] = col[pos]!));
      const b = base[spec.name]!;
      for (let i = 0; i < n; i++) {
        const x = unshuffled[i]!;
        const y = b[i]!;
        const ok = Number.isNaN(y) ? Number.isNaN(x) : Math.abs(x - y) <= TOLERANCE[spec.fn] * Math.abs(y);
        if (!ok) expect.fail(`${spec.name} at row ${i}: shuffled ${x}, original ${y}`);
      }
    }
  });
});

describe('no feature ever sees the current or a later event', () => {
  const aggs = allAggs(WINDOWS);
  for (const seed of [3, 17, 2024]) {
    it(`perturbing every event at or after a cutoff leaves earlier-or-equal targets unchanged (seed ${seed})`, () => {
      const sc: Scenario = {
        name: 'leak',
        nLookback: 300,
        nTarget: 900,
        numKeys: 6,
        tsStep: MIN,
        burstP: 0.3,
        nullValueP: 0.1,
      };
      const input = generate(seed, sc);
      const rnd = prng(seed + 1);
      const before = computeWindowedFeatures(input, aggs);
      const targetTs = input.ts.slice(sc.nLookback);
      for (const q of [0.1, 0.5, 0.9]) {
        const cutoff = Array.from(targetTs).sort((x, y) => x - y)[Math.floor(q * targetTs.length)]!;
        const n = input.ts.length;
        const extra = 200; // new late rows appended after the target range
        const ts = new Float64Array(n + extra);
        const key = new Int32Array(n + extra);
        const amount = new Float64Array(n + extra);
        const score = new Float64Array(n + extra);
        const merchant = new Int32Array(n + extra);
        for (let i = 0; i < n + extra; i++) {
          const late = i >= n || input.ts[i]! >= cutoff;
          ts[i] = i >= n ? cutoff + Math.floor(rnd() * 3) * MIN : input.ts[i]!;
          key[i] = i >= n || (input.ts[i]! > cutoff && rnd() < 0.3) ? Math.floor(rnd() * sc.numKeys) : input.key[i]!;
          // strictly later events may move later
          if (i < n && input.ts[i]! > cutoff && rnd() < 0.5) ts[i] = ts[i]! + Math.floor(rnd() * 10) * MIN;
          amount[i] = late ? rnd() * 1e6 - 5e5 : input.values!.amount![i]!;
          score[i] = late ? rnd() : input.values!.score![i]!;
          merchant[i] = late ? 1000 + Math.floor(rnd() * 50) : input.ids!.merchant![i]!;
        }
        const after = computeWindowedFeatures(
          { ts, key, values: { amount, score }, ids: { merchant }, targetStart: sc.nLookback, targetEnd: n },
          aggs,
        );
        let checked = 0;
        for (let o = 0; o < targetTs.length; o++) {
          if (targetTs[o]! > cutoff) continue;
          checked++;
          for (const spec of aggs) {
            const x = after[spec.name]![o]!;
            const y = before[spec.name]![o]!;
            if (!(Object.is(x, y) || x === y))
              expect.fail(
                `${spec.name} of target ${o} (ts ${targetTs[o]}, cutoff ${cutoff}) changed from ${y} to ${x}`,
              );
          }
        }
        expect(checked).toBeGreaterThan(0);
      }
    });
  }
});

describe('performance sanity (printed, not asserted)', () => {
  it('~1M rows, 5 windows x 8 aggregations', () => {
    const n = 1_000_000;
    const rnd = prng(12345);
    const ts = new Float64Array(n);
    const key = new Int32Array(n);
    const amount = new Float64Array(n);
    const merchant = new Int32Array(n);
    const t0 = 1_700_000_000_000;
    // 7 days of lookback + 1 target day, time-sorted, 50k cards with skewed activity.
    for (let i = 0; i < n; i++) {
      ts[i] = t0 + Math.floor((i / n) * 8 * DAY + rnd() * 1000);
      key[i] = Math.floor(50_000 * rnd() ** 2);
      amount[i] = rnd() < 0.02 ? NaN : Math.round(Math.exp(rnd() * 7) * 100) / 100;
      merchant[i] = Math.floor(5000 * rnd() ** 3);
    }
    const targetStart = Math.floor((7 / 8) * n);
    const windows = [10 * MIN, HOUR, DAY, 7 * DAY, 30 * DAY];
    const aggs = allAggs(windows).filter((a) => a.of !== 'score' && a.name !== 'count_again');
    const input: KernelInput = { ts, key, values: { amount }, ids: { merchant }, targetStart, targetEnd: n };
    computeWindowedFeatures({ ...input, targetStart: n - 200_000 }, aggs); // warm-up (JIT)
    let start = performance.now();
    const out = computeWindowedFeatures({ ...input, targetStart: 0 }, aggs);
    const allMs = performance.now() - start;
    start = performance.now();
    computeWindowedFeatures(input, aggs);
    const dayMs = performance.now() - start;
    console.log(
      `[features-kernel] ${n} rows, ${aggs.length} aggregations over ${windows.length} windows: ` +
        `all rows as targets ${allMs.toFixed(0)} ms (${(((n / allMs) * 1000) / 1e6).toFixed(2)} M rows/s); ` +
        `1 target day + 7 days lookback ${dayMs.toFixed(0)} ms ` +
        `(${(((n / dayMs) * 1000) / 1e6).toFixed(2)} M input rows/s)`,
    );
    expect(out.count_600000!.length).toBe(n);
  });
});
