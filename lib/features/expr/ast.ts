/**
 * The derived-column expression language: its syntax tree, value types and function table.
 * See docs/expressions.md for the language itself.
 */

/** The value types of the language. `null` is the type of the literal null only. */
export type ExprType = 'number' | 'bool' | 'string' | 'timestamp';

/** Positions are 0-based offsets into the expression text: [pos, end). */
type Span = { pos: number; end: number };

export type BinaryOp = '+' | '-' | '*' | '/' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';

export type Expr = Span &
  (
    | { kind: 'number'; value: number; text: string }
    | { kind: 'string'; value: string }
    | { kind: 'bool'; value: boolean }
    | { kind: 'null' }
    | { kind: 'column'; name: string }
    | { kind: 'neg'; arg: Expr }
    | { kind: 'not'; arg: Expr }
    | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr }
    | { kind: 'in'; arg: Expr; items: Expr[]; negated: boolean }
    | { kind: 'call'; fn: FnName; args: Expr[]; namePos: number }
  );

export const FUNCTIONS = {
  coalesce: { min: 1, max: Infinity, help: 'coalesce(a, b, …): the first argument that is not null' },
  is_null: { min: 1, max: 1, help: 'is_null(x): true when x is null, else false (never null)' },
  clip: { min: 3, max: 3, help: 'clip(x, lo, hi): min(max(x, lo), hi)' },
  log1p: { min: 1, max: 1, help: 'log1p(x): ln(1 + x)' },
  abs: { min: 1, max: 1, help: 'abs(x): |x|' },
  hour_of_day: { min: 1, max: 1, help: 'hour_of_day(ts): 0-23, UTC' },
  day_of_week: { min: 1, max: 1, help: 'day_of_week(ts): 0 = Sunday … 6 = Saturday, UTC' },
} as const;

export type FnName = keyof typeof FUNCTIONS;

export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FnName[];

export function isFnName(s: string): s is FnName {
  return Object.hasOwn(FUNCTIONS, s);
}

export const KEYWORDS = ['and', 'or', 'not', 'in', 'true', 'false', 'null'] as const;

/** A problem in an expression: what and where (0-based offsets into the text), and the fix. */
export class ExprError extends Error {
  constructor(
    readonly text: string,
    readonly pos: number,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`column ${pos + 1}: ${problem}; ${fix}`);
    this.name = 'ExprError';
  }

  /** The message with the expression and a caret under the position, each line indented by `indent`. */
  describe(indent = '    '): string {
    const shown = this.text.replace(/[\t\r\n]/g, ' ');
    const caret = ' '.repeat(Math.min(this.pos, shown.length)) + '^';
    return `${this.message}\n${indent}${shown}\n${indent}${caret}`;
  }
}
