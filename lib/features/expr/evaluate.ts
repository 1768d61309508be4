/**
 * The vectorised evaluator: every node computes a whole column (a typed array with its nulls)
 * from its operands' columns; no value is boxed and no node is visited per row.
 *
 * Representation of a column of n rows:
 *   number, timestamp  Float64Array, NaN = null (timestamps in epoch milliseconds)
 *   bool               Uint8Array, 0 = false, 1 = true, 2 = null
 *   string             Int32Array of codes into a dictionary, -1 = null
 * Numbers are finite: an operation whose result is not (x / 0, overflow, log1p(-1)) gives null.
 */
import type { Expr } from './ast';

export const BOOL_NULL = 2;

export type Column =
  | { t: 'number' | 'timestamp'; v: Float64Array }
  | { t: 'bool'; v: Uint8Array }
  | { t: 'string'; codes: Int32Array; dict: readonly string[] }
  | { t: 'null' };

/** The input columns of an evaluation, read on first use. */
export type ColumnSource = { rows: number; load(name: string): Column };

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

type NumCol = { t: 'number' | 'timestamp'; v: Float64Array };
type BoolCol = { t: 'bool'; v: Uint8Array };
type StrCol = { t: 'string'; codes: Int32Array; dict: readonly string[] };

function nulls(t: Exclude<Column['t'], 'null'>, n: number): Column {
  if (t === 'bool') return { t, v: new Uint8Array(n).fill(BOOL_NULL) };
  if (t === 'string') return { t, codes: new Int32Array(n).fill(-1), dict: [] };
  return { t, v: new Float64Array(n).fill(NaN) };
}

/** Two operands as columns of one type (a null literal takes the other's type). */
function align(a: Column, b: Column, n: number): [Column, Column] {
  if (a.t === 'null' && b.t === 'null') return [nulls('bool', n), nulls('bool', n)];
  if (a.t === 'null') return [nulls(b.t as Exclude<Column['t'], 'null'>, n), b];
  if (b.t === 'null') return [a, nulls(a.t, n)];
  if (a.t !== b.t && !(a.t !== 'bool' && a.t !== 'string' && b.t !== 'bool' && b.t !== 'string'))
    throw new Error(`internal: operands ${a.t} and ${b.t} passed the type check`);
  return [a, b];
}

function asNum(c: Column, n: number): Float64Array {
  if (c.t === 'null') return new Float64Array(n).fill(NaN);
  if (c.t !== 'number' && c.t !== 'timestamp') throw new Error(`internal: ${c.t} where a number is needed`);
  return c.v;
}

function asBool(c: Column, n: number): Uint8Array {
  if (c.t === 'null') return new Uint8Array(n).fill(BOOL_NULL);
  if (c.t !== 'bool') throw new Error(`internal: ${c.t} where a bool is needed`);
  return c.v;
}

function constant(e: Expr, n: number): Column {
  switch (e.kind) {
    case 'number':
      return { t: 'number', v: new Float64Array(n).fill(e.value) };
    case 'bool':
      return { t: 'bool', v: new Uint8Array(n).fill(e.value ? 1 : 0) };
    case 'string':
      return { t: 'string', codes: new Int32Array(n), dict: [e.value] };
    default:
      return { t: 'null' };
  }
}

function arithmetic(op: '+' | '-' | '*' | '/', a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  switch (op) {
    case '+':
      for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
      break;
    case '-':
      for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
      break;
    case '*':
      for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
      break;
    case '/':
      for (let i = 0; i < n; i++) out[i] = b[i] === 0 ? NaN : a[i]! / b[i]!;
      break;
  }
  return finite(out);
}

/** Non-finite results (overflow, ±Infinity) become null, in place. */
function finite(x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) if (x[i]! - x[i]! !== 0) x[i] = NaN;
  return x;
}

function map(a: Float64Array, f: (x: number) => number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!);
  return finite(out);
}

/** Sorted ranks of two dictionaries' strings in their union: equal strings get equal ranks. */
function ranks(a: readonly string[], b: readonly string[]): [Int32Array, Int32Array] {
  const all = [...new Set([...a, ...b])].sort();
  const rank = new Map(all.map((s, k) => [s, k]));
  return [Int32Array.from(a, (s) => rank.get(s)!), Int32Array.from(b, (s) => rank.get(s)!)];
}

type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** Compares two columns of doubles (NaN = null) with one loop per operator. */
function compareNumbers(op: CmpOp, a: Float64Array, b: Float64Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const N = BOOL_NULL;
  switch (op) {
    case '==':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i] === b[i] ? 1 : 0;
      break;
    case '!=':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i] !== b[i] ? 1 : 0;
      break;
    case '<':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i]! < b[i]! ? 1 : 0;
      break;
    case '<=':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i]! <= b[i]! ? 1 : 0;
      break;
    case '>':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i]! > b[i]! ? 1 : 0;
      break;
    case '>=':
      for (let i = 0; i < n; i++) out[i] = a[i]! !== a[i]! || b[i]! !== b[i]! ? N : a[i]! >= b[i]! ? 1 : 0;
      break;
  }
  return out;
}

/** A string column as the ranks of its values in `rank` (NaN = null), so strings compare as numbers. */
function rankColumn(c: StrCol, rank: Int32Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = c.codes[i]!;
    out[i] = k < 0 ? NaN : rank[k]!;
  }
  return out;
}

function boolAsNumbers(v: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = v[i] === BOOL_NULL ? NaN : v[i]!;
  return out;
}

function compare(op: CmpOp, a0: Column, b0: Column, n: number): BoolCol {
  const [a, b] = align(a0, b0, n);
  if (a.t === 'string' && b.t === 'string') {
    const [ra, rb] = ranks(a.dict, b.dict);
    return { t: 'bool', v: compareNumbers(op, rankColumn(a, ra, n), rankColumn(b, rb, n), n) };
  }
  if (a.t === 'bool' && b.t === 'bool')
    return { t: 'bool', v: compareNumbers(op, boolAsNumbers(a.v, n), boolAsNumbers(b.v, n), n) };
  return { t: 'bool', v: compareNumbers(op, asNum(a, n), asNum(b, n), n) };
}

/** SQL three-valued logic (Kleene): false and null = false, true or null = true. */
function and(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    out[i] = x === 0 || y === 0 ? 0 : x === BOOL_NULL || y === BOOL_NULL ? BOOL_NULL : 1;
  }
  return out;
}

function or(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    out[i] = x === 1 || y === 1 ? 1 : x === BOOL_NULL || y === BOOL_NULL ? BOOL_NULL : 0;
  }
  return out;
}

function not(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] === BOOL_NULL ? BOOL_NULL : 1 - a[i]!;
  return out;
}

function isNull(c: Column, n: number): BoolCol {
  const out = new Uint8Array(n);
  if (c.t === 'null') out.fill(1);
  else if (c.t === 'bool') for (let i = 0; i < n; i++) out[i] = c.v[i] === BOOL_NULL ? 1 : 0;
  else if (c.t === 'string') for (let i = 0; i < n; i++) out[i] = c.codes[i]! < 0 ? 1 : 0;
  else for (let i = 0; i < n; i++) out[i] = Number.isNaN(c.v[i]!) ? 1 : 0;
  return { t: 'bool', v: out };
}

function coalesce(args: Column[], n: number): Column {
  const typed = args.filter((c) => c.t !== 'null');
  if (typed.length === 0) return { t: 'null' };
  const first = typed[0]!;
  if (first.t === 'string') {
    const dict: string[] = [];
    const index = new Map<string, number>();
    const parts = (typed as StrCol[]).map((c) => ({
      codes: c.codes,
      tr: Int32Array.from(c.dict, (s) => {
        let k = index.get(s);
        if (k === undefined) index.set(s, (k = dict.push(s) - 1));
        return k;
      }),
    }));
    const codes = new Int32Array(n).fill(-1);
    for (const { codes: src, tr } of parts)
      for (let i = 0; i < n; i++) if (codes[i]! < 0 && src[i]! >= 0) codes[i] = tr[src[i]!]!;
    return { t: 'string', codes, dict };
  }
  if (first.t === 'bool') {
    const out = new Uint8Array(n).fill(BOOL_NULL);
    for (const c of typed as BoolCol[]) for (let i = 0; i < n; i++) if (out[i] === BOOL_NULL) out[i] = c.v[i]!;
    return { t: 'bool', v: out };
  }
  const out = new Float64Array(n).fill(NaN);
  for (const c of typed as NumCol[]) for (let i = 0; i < n; i++) if (Number.isNaN(out[i]!)) out[i] = c.v[i]!;
  return { t: first.t, v: out };
}

/** min(max(x, lo), hi); null if any argument is null. */
function clip(x: Float64Array, lo: Float64Array, hi: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(Math.max(x[i]!, lo[i]!), hi[i]!);
  return out;
}

function hourOfDay(x: number): number {
  return Math.floor((((x % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
}

function dayOfWeek(x: number): number {
  // 1970-01-01 was a Thursday; 0 = Sunday.
  return (((Math.floor(x / DAY_MS) + 4) % 7) + 7) % 7;
}

/** Evaluates a type-checked expression over `src`'s rows. */
export function evaluate(e: Expr, src: ColumnSource): Column {
  const n = src.rows;
  const go = (x: Expr): Column => {
    switch (x.kind) {
      case 'number':
      case 'string':
      case 'bool':
      case 'null':
        return constant(x, n);
      case 'column':
        return src.load(x.name);
      case 'neg': {
        const a = asNum(go(x.arg), n);
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = -a[i]!;
        return { t: 'number', v: out };
      }
      case 'not':
        return { t: 'bool', v: not(asBool(go(x.arg), n)) };
      case 'binary': {
        const a = go(x.left);
        const b = go(x.right);
        switch (x.op) {
          case 'and':
            return { t: 'bool', v: and(asBool(a, n), asBool(b, n)) };
          case 'or':
            return { t: 'bool', v: or(asBool(a, n), asBool(b, n)) };
          case '+':
          case '-':
          case '*':
          case '/':
            return { t: 'number', v: arithmetic(x.op, asNum(a, n), asNum(b, n), n) };
          default:
            return compare(x.op, a, b, n);
        }
      }
      case 'in': {
        // x in (a, b) = x == a or x == b; not in = not (…): SQL's semantics of IN with nulls.
        const arg = go(x.arg);
        let acc: Uint8Array = new Uint8Array(n);
        for (const item of x.items) acc = or(acc, compare('==', arg, go(item), n).v);
        return { t: 'bool', v: x.negated ? not(acc) : acc };
      }
      case 'call': {
        const args = x.args.map(go);
        switch (x.fn) {
          case 'is_null':
            return isNull(args[0]!, n);
          case 'coalesce':
            return coalesce(args, n);
          case 'clip':
            return { t: 'number', v: clip(asNum(args[0]!, n), asNum(args[1]!, n), asNum(args[2]!, n), n) };
          case 'log1p':
            return { t: 'number', v: map(asNum(args[0]!, n), Math.log1p) };
          case 'abs':
            return { t: 'number', v: map(asNum(args[0]!, n), Math.abs) };
          case 'hour_of_day':
            return { t: 'number', v: map(asNum(args[0]!, n), hourOfDay) };
          case 'day_of_week':
            return { t: 'number', v: map(asNum(args[0]!, n), dayOfWeek) };
        }
      }
    }
  };
  return go(e);
}

/** A feature column from a number or bool result: true → 1, false → 0, null → NaN. */
export function toFeature(c: Column, n: number): Float64Array {
  if (c.t === 'number') return c.v;
  const out = new Float64Array(n);
  if (c.t === 'bool') for (let i = 0; i < n; i++) out[i] = c.v[i] === BOOL_NULL ? NaN : c.v[i]!;
  else if (c.t === 'null') out.fill(NaN);
  else throw new Error(`internal: a derived feature of type ${c.t} passed the type check`);
  return out;
}
