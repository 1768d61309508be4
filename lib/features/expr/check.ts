/**
 * The type checker of derived-column expressions. Column types come from the spec where it
 * declares them (spec validation) or from the data (partition time); a column of unknown type
 * is `any` and is checked again against the data.
 */
import { type Expr, ExprError, type ExprType, FUNCTIONS } from './ast';
import { closest } from './parse';

/** A checked type: a value type, `null` (the literal null, fits anywhere) or `any` (not yet known). */
export type CheckedType = ExprType | 'null' | 'any';

/** What the checker knows of a column: its type, `any` if unknown, undefined if there is no such column. */
export type ColumnTypes = {
  typeOf(name: string): ExprType | 'any' | undefined;
  /** Names listed when a column does not exist. */
  names(): string[];
  /** Why a column has its type, for messages, e.g. "is Utf8 in day=… .arrow". */
  origin?(name: string): string | undefined;
};

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function src(text: string, e: Expr): string {
  return text.slice(e.pos, e.end).trim();
}

/** The type two operands share, or undefined when they cannot meet. */
function meet(a: CheckedType, b: CheckedType): CheckedType | undefined {
  if (a === b) return a;
  if (a === 'null') return b;
  if (b === 'null') return a;
  if (a === 'any') return b;
  if (b === 'any') return a;
  return undefined;
}

const fits = (t: CheckedType, want: ExprType) => t === want || t === 'null' || t === 'any';

/** Type-checks `e` (parsed from `text`); throws ExprError naming the position and the fix. */
export function checkExpr(text: string, e: Expr, cols: ColumnTypes): CheckedType {
  const fail = (at: Expr | number, problem: string, fix: string): never => {
    throw new ExprError(text, typeof at === 'number' ? at : at.pos, problem, fix);
  };
  const what = (x: Expr, t: CheckedType): string => {
    if (x.kind === 'column') {
      const why = cols.origin?.(x.name);
      return `column ${x.name} is ${article(t)}${why ? ` (${why})` : ''}`;
    }
    return `${src(text, x)} is ${t === 'null' ? 'null' : article(t)}`;
  };
  const need = (x: Expr, want: ExprType, context: string, fix?: string): void => {
    const t = go(x);
    if (!fits(t, want))
      fail(x, `${context} needs ${article(want)}, but ${what(x, t)}`, fix ?? hintFor(x, t, want, text));
  };

  const go = (x: Expr): CheckedType => {
    switch (x.kind) {
      case 'number':
        return 'number';
      case 'string':
        return 'string';
      case 'bool':
        return 'bool';
      case 'null':
        return 'null';
      case 'column': {
        const t = cols.typeOf(x.name);
        if (t === undefined) {
          const names = cols.names();
          const near = closest(x.name, names);
          fail(
            x,
            `there is no column "${x.name}"`,
            `${near ? `did you mean ${near}? ` : ''}the columns are: ${names.join(', ') || '(none)'}` +
              "; quote text values as 'text'",
          );
        }
        return t!;
      }
      case 'neg':
        need(x.arg, 'number', 'unary minus');
        return 'number';
      case 'not':
        need(x.arg, 'bool', '"not"');
        return 'bool';
      case 'binary': {
        const { op, left, right } = x;
        if (op === 'and' || op === 'or') {
          need(left, 'bool', `"${op}"`);
          need(right, 'bool', `"${op}"`);
          return 'bool';
        }
        if (op === '+' || op === '*' || op === '/') {
          need(left, 'number', `"${op}"`);
          need(right, 'number', `"${op}"`);
          return 'number';
        }
        const lt = go(left);
        const rt = go(right);
        if (op === '-') {
          if ((lt === 'timestamp' && fits(rt, 'timestamp')) || (rt === 'timestamp' && fits(lt, 'timestamp')))
            return 'number'; // milliseconds between two times
          if (!fits(lt, 'number'))
            fail(
              left,
              `"-" needs numbers (or two timestamps), but ${what(left, lt)}`,
              hintFor(left, lt, 'number', text),
            );
          if (!fits(rt, 'number'))
            fail(
              right,
              `"-" needs numbers (or two timestamps), but ${what(right, rt)}`,
              hintFor(right, rt, 'number', text),
            );
          return 'number';
        }
        // comparisons
        for (const [side, other] of [
          [left, right],
          [right, left],
        ] as const) {
          if (side.kind === 'null')
            fail(
              side,
              `"${op}" with null is always null`,
              `test for null with is_null(${src(text, other)})${op === '!=' ? ` (negated: not is_null(${src(text, other)}))` : ''}`,
            );
        }
        const t = meet(lt, rt);
        if (t === undefined)
          fail(
            right,
            `cannot compare ${article(lt)} with ${article(rt)}: ${what(left, lt)} and ${what(right, rt)}`,
            comparisonHint(text, left, lt, right, rt),
          );
        if (op !== '==' && op !== '!=' && t === 'bool')
          fail(x, `"${op}" does not order bool values`, 'compare bools with == or !=');
        return 'bool';
      }
      case 'in': {
        let t = go(x.arg);
        for (const item of x.items) {
          const it = go(item);
          const m = meet(t, it);
          if (m === undefined)
            fail(
              item,
              `"in" needs values of one type, but ${what(x.arg, t)} and ${what(item, it)}`,
              comparisonHint(text, x.arg, t, item, it),
            );
          t = m!;
        }
        return 'bool';
      }
      case 'call': {
        const fn = x.fn;
        const help = FUNCTIONS[fn].help;
        switch (fn) {
          case 'is_null':
            go(x.args[0]!);
            return 'bool';
          case 'coalesce': {
            let t: CheckedType = 'null';
            for (const a of x.args) {
              const at = go(a);
              const m = meet(t, at);
              if (m === undefined)
                fail(
                  a,
                  `coalesce needs arguments of one type, but an earlier one is ${article(t)} and ${what(a, at)}`,
                  hintFor(a, at, t as ExprType, text),
                );
              t = m!;
            }
            return t;
          }
          case 'clip':
          case 'log1p':
          case 'abs':
            for (const a of x.args) need(a, 'number', fn, `write ${help}`);
            return 'number';
          case 'hour_of_day':
          case 'day_of_week': {
            const a = x.args[0]!;
            const t = go(a);
            if (t !== 'timestamp' && !fits(t, 'number'))
              fail(a, `${fn} needs a timestamp (or epoch milliseconds), but ${what(a, t)}`, `write ${help}`);
            return 'number';
          }
        }
      }
    }
  };
  return go(e);
}

function hintFor(x: Expr, t: CheckedType, want: ExprType, text: string): string {
  if (t === 'string' && want === 'number')
    return x.kind === 'string'
      ? `write the number without quotes: ${x.value}`
      : `a string can only be compared, "in"-tested or coalesced with strings, e.g. ${src(text, x)} == 'value'`;
  if (t === 'bool' && want === 'number')
    return 'a bool is not a number: make the condition a derived feature of its own (a bool feature is 1 or 0)';
  if (t === 'timestamp' && want === 'number')
    return `use hour_of_day(${src(text, x)}), day_of_week(${src(text, x)}) or the difference of two timestamps`;
  if (want === 'bool') return `make it a condition, e.g. ${src(text, x)} > 0, or combine conditions only`;
  return `give it ${article(want)}`;
}

function comparisonHint(text: string, a: Expr, at: CheckedType, b: Expr, bt: CheckedType): string {
  for (const [col, ct, lit, lt] of [
    [a, at, b, bt],
    [b, bt, a, at],
  ] as const) {
    if (ct === 'string' && lt === 'number' && lit.kind === 'number')
      return `quote the value to compare text: ${src(text, col)} == '${lit.text}'`;
    if (ct === 'number' && lt === 'string' && lit.kind === 'string' && /^-?\d+(\.\d+)?$/.test(lit.value))
      return `write the number without quotes: ${lit.value}`;
  }
  return 'compare values of the same type (number, bool, string or timestamp)';
}

/** Checks that a derived feature's expression yields a number or a bool. */
export function checkDerived(text: string, e: Expr, cols: ColumnTypes): CheckedType {
  const t = checkExpr(text, e, cols);
  if (t === 'string' || t === 'timestamp')
    throw new ExprError(
      text,
      e.pos,
      `a derived feature must be a number or a bool, but this expression gives ${article(t)}`,
      t === 'string'
        ? `compare it to make a flag, e.g. ${src(text, e)} == 'value'`
        : `take a number from it, e.g. hour_of_day(${src(text, e)})`,
    );
  if (t === 'null')
    throw new ExprError(text, e.pos, 'this expression is always null', 'compute a number or a bool from columns');
  return t;
}
