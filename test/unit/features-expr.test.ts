import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  Table,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import {
  checkDerived,
  derivedColumn,
  ExprError,
  parseExpr,
  printExpr,
  type ColumnTypes,
  type ExprType,
} from '../../lib/features/expr';
import { derivedText, featureSetFromSpec, featureSetHash, legacyForm } from '../../lib/features/featureset';
import { computeFeaturePartition } from '../../lib/features/partition';
import { loadSpecFile, parseSpec, specColumnTypes } from '../../lib/spec/model-spec';
import { derivedReference } from '../helpers/expr-reference';
import { legacyDerived } from '../../scripts/bench/lib/legacy-derived';

/** mulberry32: a small seeded generator, so every failure replays. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['ecommerce', 'pos', 'moto', 'DE', 'FR', 'de', "O'Brien", ''];
const DAY = 86_400_000;

/** A table of random columns of every type, about a fifth of each column null. */
function randomTable(seed: number, n: number): Table {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(f: () => T): T | null => (r() < 0.2 ? null : f());
  const number = () =>
    pick([
      () => 0,
      () => -0,
      () => -1,
      () => 1,
      () => Math.round((r() - 0.5) * 200) / 4,
      () => (r() - 0.5) * 1e6,
      () => 1e200 * (r() < 0.5 ? -1 : 1),
      () => r(),
    ])();
  const ts = () => Math.floor(Date.UTC(1969, 11, 1) + r() * 60 * 365 * DAY);
  const col = <T>(f: () => T) => Array.from({ length: n }, () => maybe(f));
  const vectors: Record<string, Vector> = {
    a: vectorFromArray(col(number), new Float64()),
    b: vectorFromArray(col(number), new Float64()),
    c: vectorFromArray(col(number), new Float64()),
    k: vectorFromArray(
      col(() => Math.floor(r() * 7) - 3),
      new Int32(),
    ),
    p: vectorFromArray(
      col(() => r() < 0.5),
      new Bool(),
    ),
    q: vectorFromArray(
      col(() => r() < 0.5),
      new Bool(),
    ),
    s: vectorFromArray(
      col(() => pick(WORDS)),
      new Dictionary(new Utf8(), new Int32()),
    ),
    u: vectorFromArray(
      col(() => pick(WORDS)),
      new Utf8(),
    ),
    t1: vectorFromArray(col(ts), new TimestampMillisecond()),
    t2: vectorFromArray(col(ts), new TimestampMillisecond()),
  };
  return new Table(vectors);
}

const COLS: Record<ExprType, string[]> = {
  number: ['a', 'b', 'c', 'k'],
  bool: ['p', 'q'],
  string: ['s', 'u'],
  timestamp: ['t1', 't2'],
};

/** Whether the first "(" of `x` is closed by its last character (strings hold no parentheses here). */
function closesAtEnd(x: string): boolean {
  let depth = 0;
  for (let i = x.indexOf('('); i < x.length; i++) {
    if (x[i] === '(') depth++;
    else if (x[i] === ')' && --depth === 0) return i === x.length - 1;
  }
  return false;
}

/** Random expression text of a type, with random spacing, parentheses, quotes and keyword case. */
function randomExpr(r: () => number, type: ExprType, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const sp = () => pick(['', ' ', '  ']);
  const kw = (k: string) => (r() < 0.1 ? k.toUpperCase() : k);
  // Operands are parenthesised unless they are a name, a literal or a call (or, at random, anyway).
  const sub = (t: ExprType) => {
    const x = randomExpr(r, t, depth - 1);
    const atomic = /^-?[\w.'"]+$/.test(x) || (/^\w+\(/.test(x) && closesAtEnd(x));
    return !atomic || r() < 0.2 ? `(${sp()}${x}${sp()})` : x;
  };
  const lit = (t: ExprType): string => {
    if (t === 'number') return pick(['0', '1', '-1', '2.5', '0.25', '1e300', '3', '-0.5', '.5']);
    if (t === 'bool') return kw(pick(['true', 'false']));
    if (t === 'string') {
      const w = pick(WORDS);
      return r() < 0.5 ? `'${w.replace(/'/g, "''")}'` : `"${w.replace(/"/g, '""')}"`;
    }
    return pick(COLS.timestamp); // no timestamp literals
  };
  const leaf = () => (r() < 0.75 ? pick(COLS[type]) : lit(type));
  if (depth <= 0 || r() < 0.2) return leaf();
  const cmp = pick(['==', '!=', '<', '<=', '>', '>=']);
  switch (type) {
    case 'number':
      return pick([
        () => `${sub('number')}${sp()}${pick(['+', '-', '*', '/'])}${sp()}${sub('number')}`,
        () => `-${sub('number')}`,
        () => `log1p(${sub('number')})`,
        () => `abs(${sp()}${sub('number')})`,
        () => `clip(${sub('number')}, ${sub('number')},${sub('number')})`,
        () => `coalesce(${sub('number')}, ${r() < 0.3 ? kw('null') : sub('number')})`,
        () => `${pick(['hour_of_day', 'day_of_week'])}(${sub('timestamp')})`,
        () => `${sub('timestamp')} - ${sub('timestamp')}`,
      ])();
    case 'bool':
      return pick([
        () => `${sub('number')}${sp()}${cmp}${sp()}${sub('number')}`,
        () => `${sub('string')} ${cmp} ${sub('string')}`,
        () => `${sub('timestamp')} ${cmp} ${sub('timestamp')}`,
        () => `${sub('bool')} ${pick(['==', '!='])} ${sub('bool')}`,
        () => `${sub('bool')} ${kw(pick(['and', 'or']))} ${sub('bool')}`,
        () => `${kw('not')} ${sub('bool')}`,
        () =>
          `${sub('number')} ${r() < 0.3 ? `${kw('not')} ` : ''}${kw('in')} (${sub('number')}, ${lit('number')}${r() < 0.3 ? ', null' : ''})`,
        () =>
          `${sub('string')} ${r() < 0.3 ? 'not ' : ''}in (${lit('string')}, ${sub('string')}${r() < 0.3 ? ', null' : ''})`,
        () => `is_null(${sub(pick(['number', 'bool', 'string', 'timestamp'] as const))})`,
        () => `coalesce(${sub('bool')}, ${sub('bool')}, ${lit('bool')})`,
        () => `${sub('bool')} ${kw(pick(['and', 'or']))} ${kw('null')}`,
      ])();
    case 'string':
      return `coalesce(${sub('string')}, ${sub('string')})`;
    case 'timestamp':
      return `coalesce(${sub('timestamp')}, ${sub('timestamp')})`;
  }
}

/** Exact equality of two feature columns: NaN equals NaN, and -0 differs from 0 (same bits). */
function expectSameBits(got: Float64Array, want: Float64Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const x = got[i]!;
    const y = want[i]!;
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))))
      expect.fail(`${what}: row ${i}: vectorised ${x}, reference ${y}`);
  }
}

describe('derived expressions: vectorised evaluation equals the row-by-row reference', () => {
  it('on 1500 random expressions over random columns with nulls', () => {
    let checked = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const table = randomTable(seed, 257);
      const r = rng(seed * 7919);
      for (let k = 0; k < 50; k++) {
        const text = randomExpr(r, r() < 0.5 ? 'number' : 'bool', 1 + Math.floor(r() * 4));
        let e;
        try {
          e = parseExpr(text);
        } catch (err) {
          throw new Error(`seed ${seed}: ${text}: ${(err as Error).message}`, { cause: err });
        }
        const got = derivedColumn(table, 'random.arrow', 'f', text);
        expectSameBits(got, derivedReference(e, table), `seed ${seed}: ${text}`);
        // The canonical text parses to the same tree and prints the same.
        const canonical = printExpr(e);
        expect(printExpr(parseExpr(canonical)), text).toBe(canonical);
        expectSameBits(derivedColumn(table, 'random.arrow', 'f', canonical), got, `canonical ${canonical}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1400);
  });
});

/** Evaluates over a one-column-per-name table built from plain arrays. */
function run(text: string, cols: Record<string, Vector>): number[] {
  return Array.from(derivedColumn(new Table(cols), 't.arrow', 'f', text));
}

const f64 = (xs: (number | null)[]) => vectorFromArray(xs, new Float64());
const bool = (xs: (boolean | null)[]) => vectorFromArray(xs, new Bool());
const str = (xs: (string | null)[]) => vectorFromArray(xs, new Dictionary(new Utf8(), new Int32()));

describe('derived expressions: functions and null semantics', () => {
  const T = bool([true, true, true, false, false, false, null, null, null]);
  const U = bool([true, false, null, true, false, null, true, false, null]);

  it('and, or, not follow SQL three-valued logic', () => {
    expect(run('p and q', { p: T, q: U })).toEqual([1, 0, NaN, 0, 0, 0, NaN, 0, NaN]);
    expect(run('p or q', { p: T, q: U })).toEqual([1, 1, 1, 1, 0, NaN, 1, NaN, NaN]);
    expect(run('not p', { p: T })).toEqual([0, 0, 0, 1, 1, 1, NaN, NaN, NaN]);
    expect(run('p == q', { p: T, q: U })).toEqual([1, 0, NaN, 0, 1, NaN, NaN, NaN, NaN]);
  });

  it('arithmetic: null in, null out; division by zero and overflow give null', () => {
    const a = f64([6, 1, null, 0, 1e300, -3]);
    const b = f64([3, 0, 2, 0, 1e10, null]);
    expect(run('a / b', { a, b })).toEqual([2, NaN, NaN, NaN, 1e290, NaN]);
    expect(run('a * b', { a, b })).toEqual([18, 0, NaN, 0, NaN, NaN]);
    expect(run('a - b + 1', { a, b })).toEqual([4, 2, NaN, 1, 1e300, NaN]);
    expect(run('-(a)', { a })).toEqual([-6, -1, NaN, -0, -1e300, 3]);
    expect(run('2 + 3 * 4 - 10 / 5', { a })).toEqual(Array(6).fill(12));
    expect(run('(2 + 3) * -a', { a: f64([1]) })).toEqual([-5]);
  });

  it('comparisons of numbers, strings and timestamps; string order is by code unit', () => {
    const s = str(['b', 'a', null, 'B']);
    expect(run("s < 'b'", { s })).toEqual([0, 1, NaN, 1]);
    expect(run("s >= 'a'", { s })).toEqual([1, 1, NaN, 0]);
    expect(run('x <= 2', { x: f64([1, 2, 3, null]) })).toEqual([1, 1, 0, NaN]);
    const t = vectorFromArray([0, DAY, null], new TimestampMillisecond());
    const u = vectorFromArray([DAY, DAY, 0], new TimestampMillisecond());
    expect(run('t < u', { t, u })).toEqual([1, 0, NaN]);
    expect(run('u - t', { t, u })).toEqual([DAY, 0, NaN]);
  });

  it('in and not in, with SQL semantics for nulls', () => {
    const x = f64([1, 2, null, 4]);
    expect(run('x in (1, 4)', { x })).toEqual([1, 0, NaN, 1]);
    expect(run('x in (1, null)', { x })).toEqual([1, NaN, NaN, NaN]);
    expect(run('x not in (1, 4)', { x })).toEqual([0, 1, NaN, 0]);
    expect(run('x not in (1, null)', { x })).toEqual([0, NaN, NaN, NaN]);
    expect(run("s in ('a', 'c')", { s: str(['a', 'b', null, 'c']) })).toEqual([1, 0, NaN, 1]);
  });

  it('coalesce, is_null, clip, abs, log1p', () => {
    const a = f64([null, 2, null, -5]);
    const b = f64([1, null, null, 7]);
    expect(run('coalesce(a, b, 0)', { a, b })).toEqual([1, 2, 0, -5]);
    expect(run('coalesce(a, b)', { a, b })).toEqual([1, 2, NaN, -5]);
    expect(run("coalesce(s, 'none') == 'none'", { s: str([null, 'x']) })).toEqual([1, 0]);
    expect(run("coalesce(s, t) == 'y'", { s: str([null, 'x', null]), t: str(['y', 'y', null]) })).toEqual([1, 0, NaN]);
    expect(run('is_null(a)', { a })).toEqual([1, 0, 1, 0]);
    expect(run('is_null(p)', { p: bool([null, false]) })).toEqual([1, 0]);
    expect(run('clip(a, 0, 3)', { a })).toEqual([NaN, 2, NaN, 0]);
    expect(run('clip(x, 0, 10)', { x: f64([-1, 5, 11]) })).toEqual([0, 5, 10]);
    expect(run('clip(x, b, 10)', { x: f64([1, 5]), b: f64([null, 0]) })).toEqual([NaN, 5]);
    expect(run('abs(a)', { a })).toEqual([NaN, 2, NaN, 5]);
    expect(run('log1p(x)', { x: f64([0, Math.E - 1, -1, -2, null]) })).toEqual([0, 1, NaN, NaN, NaN]);
  });

  it('hour_of_day and day_of_week: UTC, 0 = Sunday, also of epoch milliseconds', () => {
    const at = [Date.UTC(2026, 11, 6, 23, 59), Date.UTC(2026, 11, 7, 0, 0), Date.UTC(1969, 11, 20, 5), null];
    const ts = vectorFromArray(at, new TimestampMillisecond());
    expect(run('hour_of_day(ts)', { ts })).toEqual([23, 0, 5, NaN]);
    expect(run('day_of_week(ts)', { ts })).toEqual([0, 1, 6, NaN]); // 2026-12-06 is a Sunday
    expect(run('day_of_week(ms)', { ms: f64(at) })).toEqual([0, 1, 6, NaN]);
  });

  it('bool results are 1/0 and literals broadcast', () => {
    expect(run('true', { x: f64([1, 2]) })).toEqual([1, 1]);
    expect(run("'a' == 'a' and 1 < 2", { x: f64([1]) })).toEqual([1]);
  });
});

describe('derived expressions of the models keep their values and feature-set hash', () => {
  it('every expression of models/*.yaml computes the same bits as before', () => {
    const r = rng(99);
    const n = 2000;
    const words = ['DE', 'FR', 'US', 'ecommerce', 'pos'];
    const w = () => (r() < 0.15 ? null : words[Math.floor(r() * words.length)]!);
    const table = new Table({
      amount: f64(Array.from({ length: n }, () => (r() < 0.1 ? null : Math.round(r() * 1e6) / 100))),
      ts: vectorFromArray(
        Array.from({ length: n }, () => (r() < 0.05 ? null : Date.UTC(2026, 0, 1) + Math.floor(r() * 365 * DAY))),
        new TimestampMillisecond(),
      ),
      channel: str(Array.from({ length: n }, w)),
      country: str(Array.from({ length: n }, w)),
      ip_country: vectorFromArray(Array.from({ length: n }, w), new Utf8()),
      merchant_country: str(Array.from({ length: n }, w)),
    });
    let checked = 0;
    for (const file of ['models/fraud-detector.yaml', 'models/fraud-baseline.yaml']) {
      for (const d of featureSetFromSpec(loadSpecFile(file)).derived) {
        const text = derivedText(d.expr);
        const legacy = legacyForm(parseExpr(text));
        expect(legacy, text).toBeDefined();
        expectSameBits(derivedColumn(table, 'w', d.name, text), legacyDerived(table, legacy!), `${file} ${text}`);
        checked++;
      }
    }
    expect(checked).toBe(8);
  });

  it('feature sets of the old forms keep their hash; old structured forms still evaluate', () => {
    // The hashes these specs had before the expression language: their stored partitions stay valid.
    expect(featureSetHash(featureSetFromSpec(loadSpecFile('models/fraud-detector.yaml')))).toBe('53857ff40c224768');
    expect(featureSetHash(featureSetFromSpec(loadSpecFile('models/fraud-baseline.yaml')))).toBe('23e8bf222df389ea');
    const fs = featureSetFromSpec(loadSpecFile('models/fraud-baseline.yaml'));
    const structured = {
      ...fs,
      derived: fs.derived.map((d) => ({ ...d, expr: legacyForm(parseExpr(d.expr as string))! })),
    };
    expect(featureSetHash(structured)).toBe(featureSetHash(fs));
    expect(derivedText({ op: 'eq', left: 'channel', right: { literal: "O'x" } })).toBe("channel == 'O''x'");
    expect(derivedText({ op: 'ne', left: 'k', right: { literal: -3 } })).toBe('k != -3');
    // Spacing and quoting do not change the identity; another expression does.
    const other = { ...fs, derived: [{ name: 'log_amount', expr: printExpr(parseExpr('log1p( amount )')) }] };
    const changed = { ...fs, derived: [{ name: 'log_amount', expr: printExpr(parseExpr('log1p(amount) * 2')) }] };
    expect(featureSetHash(other)).not.toBe(featureSetHash(changed));
    expect(printExpr(parseExpr('"a"=="b"'))).toBe("'a' == 'b'");
  });
});

function parseError(text: string): ExprError {
  try {
    parseExpr(text);
  } catch (err) {
    if (err instanceof ExprError) return err;
    throw err;
  }
  throw new Error(`"${text}" parsed`);
}

const ANY: ColumnTypes = { typeOf: () => 'any', names: () => [] };

function typeError(text: string, types: Record<string, ExprType> = {}): ExprError {
  const cols: ColumnTypes = { typeOf: (n) => types[n] ?? 'any', names: () => Object.keys(types) };
  try {
    checkDerived(text, parseExpr(text), cols);
  } catch (err) {
    if (err instanceof ExprError) return err;
    throw err;
  }
  throw new Error(`"${text}" type-checked`);
}

describe('derived expressions: parse errors name the position and the fix', () => {
  it.each([
    ['lg1p(amount)', 1, 'unknown function "lg1p"', 'did you mean log1p?'],
    ['amount * ', 10, 'ends too early', 'an operand is missing'],
    ["channel = 'web'", 9, '"=" is not an operator', 'write =='],
    ['a && b', 3, '"&&" is not an operator', 'write and'],
    ['a < b < c', 7, 'comparisons do not chain', 'a < b and b < c'],
    ["channel == 'web", 12, 'unterminated string', "close it with '"],
    ['log1p(amount', 13, 'expected ")"', 'close the call'],
    ['log1p(a, b)', 1, 'log1p takes 1 argument, not 2', 'log1p(x): ln(1 + x)'],
    ['clip(a, 1)', 1, 'clip takes 3 arguments, not 2', 'clip(x, lo, hi)'],
    ['x in ()', 7, 'the list of "in" is empty', 'x in (1, 2)'],
    ['x in 1, 2', 6, 'expected "("', 'x in (1, 2, 3)'],
    ['amount amount', 8, 'unexpected "amount"', 'put an operator between'],
    ['(a + b))', 8, 'unexpected ")"', 'remove the extra ")"'],
    ['', 1, 'the expression is empty', 'e.g. log1p(amount)'],
    ['a # b', 3, 'unexpected character "#"', 'use names, numbers'],
    ['1e999', 1, 'too large', 'finite number'],
    ['3x', 1, 'not a number or a name', 'names start with a letter'],
  ])('%s', (text, column, problem, fix) => {
    const err = parseError(text);
    expect(err.pos + 1).toBe(column);
    expect(err.problem).toContain(problem);
    expect(err.fix).toContain(fix);
    expect(err.message).toMatch(new RegExp(`^column ${column}: `));
    const [, shown, caret] = err.describe('').split('\n');
    expect(shown).toBe(text);
    expect(caret).toBe(`${' '.repeat(column - 1)}^`);
  });

  it('type errors name the operand, its type and the fix', () => {
    const types: Record<string, ExprType> = { amount: 'number', channel: 'string', ts: 'timestamp', p: 'bool' };
    let e = typeError('channel == 3', types);
    expect([e.pos, e.problem]).toEqual([
      11,
      'cannot compare a string with a number: column channel is a string and 3 is a number',
    ]);
    expect(e.fix).toBe("quote the value to compare text: channel == '3'");
    e = typeError("amount > '5'", types);
    expect(e.fix).toBe('write the number without quotes: 5');
    e = typeError('ts + 1', types);
    expect(e.problem).toContain('"+" needs a number, but column ts is a timestamp');
    expect(e.fix).toContain('hour_of_day(ts)');
    e = typeError('amount == null', types);
    expect([e.pos, e.fix]).toEqual([10, 'test for null with is_null(amount)']);
    e = typeError('amount and p', types);
    expect(e.problem).toBe('"and" needs a bool, but column amount is a number');
    e = typeError('p < p', types);
    expect(e.problem).toContain('does not order bool values');
    e = typeError("coalesce(channel, 'x')", types);
    expect(e.problem).toContain('must be a number or a bool');
    expect(e.fix).toContain("== 'value'");
    e = typeError('coalesce(ts, ts)', types);
    expect(e.fix).toContain('hour_of_day(coalesce(ts, ts))');
    e = typeError("channel in ('a', 2)", types);
    expect(e.problem).toContain('"in" needs values of one type');
    e = typeError('log1p(channel)', types);
    expect(e.problem).toContain('log1p needs a number, but column channel is a string');
    e = typeError('hour_of_day(p)', types);
    expect(e.problem).toContain('hour_of_day needs a timestamp');
    e = typeError('null');
    expect(e.problem).toContain('always null');
    // Unknown columns are `any` until the data is known.
    expect(checkDerived('x + y > 2 and z', parseExpr('x + y > 2 and z'), ANY)).toBe('bool');
  });

  it('a partition whose data does not fit the expression is bad input naming file, feature and column', () => {
    const table = new Table({ channel: str(['a']), amount: f64([1]) });
    const err = (() => {
      try {
        derivedColumn(table, 'day=2026-01-01/part-0.arrow', 'flag', 'channel == 1');
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toContain('day=2026-01-01/part-0.arrow: derived feature "flag" does not fit this data');
    expect(err.message).toContain(
      'column channel is a string (Dictionary<Int32, Utf8> in day=2026-01-01/part-0.arrow)',
    );
    expect(err.message).toContain("channel == '1'");
    expect(() => derivedColumn(table, 'w.arrow', 'f', 'amout + 1')).toThrow(/no column "amout"; did you mean amount\?/);
  });
});

describe('derived expressions in the model spec', () => {
  const spec = (expr: string) => `
name: mm
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 5d }
features:
  columns: [amount]
  derived:
    - { name: f, expr: ${JSON.stringify(expr)} }
training:
  trainer: { command: [python, t.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;
  const problems = (expr: string): string => {
    try {
      parseSpec(spec(expr), '<test>');
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  };

  it('accepts the language and reports syntax and type errors with line, column and caret', () => {
    expect(problems('credit_amount / duration_months')).toBe('');
    expect(problems("coalesce(amount, 0) > 100 and channel in ('web', 'app')")).toBe('');
    const syntax = problems('log1p(amount');
    expect(syntax).toContain('line 10: features.derived[0].expr: column 13: expected ")"');
    expect(syntax).toContain('      log1p(amount\n                  ^');
    const types = problems("amount == 'x'");
    expect(types).toContain(
      'line 10: features.derived[0].expr: column 11: cannot compare a number with a string: ' +
        "column amount is a number (listed in features.columns) and 'x' is a string",
    );
    expect(problems('ts * 2')).toContain('column ts is a timestamp (the event time, data.events.timestamp)');
    expect(problems("channel == 'x'")).toBe(''); // channel's type is known only from the data
  });

  it('declares the types of the columns the spec uses', () => {
    const s = loadSpecFile('models/fraud-detector.yaml');
    const t = specColumnTypes(s);
    expect([t.typeOf('ts'), t.typeOf('amount'), t.typeOf('card_id'), t.typeOf('channel')]).toEqual([
      'timestamp',
      'number',
      'number',
      'any',
    ]);
  });
});

describe('derived expressions in a computed feature partition', () => {
  it('computeFeaturePartition writes each derived feature as the reference computes it', () => {
    const yaml = `
name: part-test
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 5d }
features:
  columns: [amount]
  derived:
    - { name: log_amount, expr: "log1p(amount)" }
    - { name: per_item, expr: "amount / items" }
    - { name: web_big, expr: "channel in ('web', 'app') and coalesce(amount, 0) > 50" }
    - { name: foreign, expr: "coalesce(ip_country, country) != country" }
    - { name: night, expr: "hour_of_day(ts) < 6 or day_of_week(ts) in (0, 6)" }
  aggregations:
    - { entity: card_id, windows: [1h], metrics: [{ fn: count }] }
training:
  trainer: { command: [python, t.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;
    const fset = featureSetFromSpec(parseSpec(yaml, '<test>'));
    const r = rng(5);
    const n = 500;
    const day = Date.UTC(2026, 2, 7); // a Saturday
    const w = (xs: string[]) => Array.from({ length: n }, () => (r() < 0.1 ? null : xs[Math.floor(r() * xs.length)]!));
    const table = new Table({
      payment_id: vectorFromArray(
        Array.from({ length: n }, (_, i) => i + 1),
        new Int32(),
      ),
      ts: vectorFromArray(
        Array.from({ length: n }, (_, i) => day + Math.floor((i / n) * DAY)),
        new TimestampMillisecond(),
      ),
      amount: f64(Array.from({ length: n }, () => (r() < 0.1 ? null : Math.round(r() * 10000) / 100))),
      items: vectorFromArray(
        Array.from({ length: n }, () => (r() < 0.1 ? null : Math.floor(r() * 4))),
        new Int32(),
      ),
      card_id: vectorFromArray(
        Array.from({ length: n }, () => Math.floor(r() * 40)),
        new Int32(),
      ),
      channel: str(w(['web', 'app', 'pos'])),
      country: str(w(['DE', 'FR'])),
      ip_country: vectorFromArray(w(['DE', 'FR', 'US']), new Utf8()),
    });
    const { table: out } = computeFeaturePartition(
      fset,
      { day: '2026-03-07', where: 'day=2026-03-07/a.arrow', table },
      [],
      { labels: new Map(), absent: 0 },
      day + 2 * DAY,
    );
    for (const d of fset.derived) {
      const text = derivedText(d.expr);
      const got = out.getChild(d.name)!.toArray() as Float64Array;
      expectSameBits(got, derivedReference(parseExpr(text), table), `${d.name}: ${text}`);
    }
    // Nulls and false both occur, so the comparison is not vacuous.
    const perItem = out.getChild('per_item')!.toArray() as Float64Array;
    expect(perItem.some(Number.isNaN) && perItem.some((x) => !Number.isNaN(x))).toBe(true);
  });
});
