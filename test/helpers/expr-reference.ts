/**
 * A deliberately plain, row-at-a-time interpreter of derived expressions, written from the
 * language's definition (docs/expressions.md) without sharing code with the vectorised
 * evaluator: each row's values are ordinary JS values (number, boolean, string, null).
 * For tests only.
 */
import type { Table } from 'apache-arrow';
import type { Expr } from '../../lib/features/expr';

type V = number | boolean | string | null;

/** A row's value of a column as a plain JS value; timestamps as epoch milliseconds. */
function cell(table: Table, name: string, i: number): V {
  const x = table.getChild(name)!.get(i) as unknown;
  if (x === null || x === undefined) return null;
  if (typeof x === 'bigint') return Number(x);
  if (x instanceof Date) return x.getTime();
  if (typeof x === 'number') return Number.isNaN(x) ? null : x;
  if (typeof x === 'boolean' || typeof x === 'string') return x;
  throw new Error(`reference: cannot read ${typeof x}`);
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function evalRow(e: Expr, table: Table, i: number): V {
  const ev = (x: Expr) => evalRow(x, table, i);
  switch (e.kind) {
    case 'number':
    case 'string':
    case 'bool':
      return e.value;
    case 'null':
      return null;
    case 'column':
      return cell(table, e.name, i);
    case 'neg': {
      const a = ev(e.arg);
      return a === null ? null : -(a as number);
    }
    case 'not': {
      const a = ev(e.arg);
      return a === null ? null : !a;
    }
    case 'binary': {
      if (e.op === 'and') {
        const a = ev(e.left);
        const b = ev(e.right);
        if (a === false || b === false) return false;
        if (a === null || b === null) return null;
        return true;
      }
      if (e.op === 'or') {
        const a = ev(e.left);
        const b = ev(e.right);
        if (a === true || b === true) return true;
        if (a === null || b === null) return null;
        return false;
      }
      const a = ev(e.left);
      const b = ev(e.right);
      if (a === null || b === null) return null;
      switch (e.op) {
        case '+':
          return num((a as number) + (b as number));
        case '-':
          return num((a as number) - (b as number));
        case '*':
          return num((a as number) * (b as number));
        case '/':
          return b === 0 ? null : num((a as number) / (b as number));
        case '==':
          return a === b;
        case '!=':
          return a !== b;
        case '<':
          return a < b;
        case '<=':
          return a <= b;
        case '>':
          return a > b;
        case '>=':
          return a >= b;
      }
      throw new Error('unreachable');
    }
    case 'in': {
      const a = ev(e.arg);
      let result: boolean | null;
      if (a === null) result = null;
      else {
        const items = e.items.map(ev);
        if (items.some((x) => x !== null && x === a)) result = true;
        else if (items.some((x) => x === null)) result = null;
        else result = false;
      }
      return e.negated && result !== null ? !result : result;
    }
    case 'call': {
      const args = e.args.map(ev);
      switch (e.fn) {
        case 'is_null':
          return args[0] === null;
        case 'coalesce':
          return args.find((x) => x !== null) ?? null;
        case 'clip':
          return args.some((x) => x === null)
            ? null
            : Math.min(Math.max(args[0] as number, args[1] as number), args[2] as number);
        case 'log1p':
          return args[0] === null ? null : num(Math.log1p(args[0] as number));
        case 'abs':
          return args[0] === null ? null : Math.abs(args[0] as number);
        case 'hour_of_day':
          return args[0] === null ? null : new Date(args[0] as number).getUTCHours();
        case 'day_of_week':
          return args[0] === null ? null : new Date(args[0] as number).getUTCDay();
      }
    }
  }
}

/** The derived feature by brute force: true → 1, false → 0, null → NaN. */
export function derivedReference(e: Expr, table: Table): Float64Array {
  const out = new Float64Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const v = evalRow(e, table, i);
    out[i] = v === null ? NaN : v === true ? 1 : v === false ? 0 : (v as number);
  }
  return out;
}
