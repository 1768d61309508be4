/**
 * Derived feature columns: an expression over the target day's columns, parsed and checked
 * once against the spec and again against the data's types, then evaluated column-wise.
 */
import type { Table } from 'apache-arrow';
import { BadInputError } from '../../core/errors';
import { type Expr, ExprError } from './ast';
import { checkDerived, type ColumnTypes } from './check';
import { evaluate, toFeature } from './evaluate';
import { parseExpr, printExpr } from './parse';
import { TableColumns } from './arrow';

export { ExprError, type Expr, type ExprType, FUNCTIONS, FUNCTION_NAMES } from './ast';
export { parseExpr, printExpr } from './parse';
export { checkExpr, checkDerived, type CheckedType, type ColumnTypes } from './check';
export { evaluate, toFeature, type Column, type ColumnSource, BOOL_NULL } from './evaluate';

/** The canonical text of a derived expression (its identity in the feature-set hash). */
export function canonicalDerived(text: string): string {
  return printExpr(parseExpr(text));
}

/** Type-checks a derived expression against what is known of the columns; throws ExprError. */
export function checkDerivedText(text: string, cols: ColumnTypes): Expr {
  const e = parseExpr(text);
  checkDerived(text, e, cols);
  return e;
}

/**
 * A derived feature over a table's rows as a Float64 column (bool → 1/0, null → NaN). Bad
 * input (an expression that does not fit the data's types, an unreadable column) is a
 * BadInputError naming the file, the feature, the position in the expression and the fix.
 */
export function derivedColumn(table: Table, where: string, name: string, text: string): Float64Array {
  const cols = columnsOf(table, where);
  let e: Expr;
  try {
    e = checkDerivedText(text, cols);
  } catch (err) {
    if (err instanceof ExprError)
      throw new BadInputError(`${where}: derived feature "${name}" does not fit this data: ${err.describe('    ')}`);
    throw err;
  }
  const out = toFeature(evaluate(e, cols), table.numRows);
  // A bare column is the cached input itself: each feature gets its own array.
  return e.kind === 'column' ? out.slice() : out;
}

/** One reader per table, so the derived features of a partition read each input column once. */
const readers = new WeakMap<Table, Map<string, TableColumns>>();

function columnsOf(table: Table, where: string): TableColumns {
  let byWhere = readers.get(table);
  if (!byWhere) readers.set(table, (byWhere = new Map<string, TableColumns>()));
  let cols = byWhere.get(where);
  if (!cols) byWhere.set(where, (cols = new TableColumns(table, where, 'an input of a derived feature')));
  return cols;
}

/** The columns an expression reads, in first-use order. */
export function exprColumns(e: Expr): string[] {
  const out = new Set<string>();
  const walk = (x: Expr): void => {
    switch (x.kind) {
      case 'column':
        out.add(x.name);
        return;
      case 'neg':
      case 'not':
        return walk(x.arg);
      case 'binary':
        walk(x.left);
        return walk(x.right);
      case 'in':
        walk(x.arg);
        return x.items.forEach(walk);
      case 'call':
        return x.args.forEach(walk);
      default:
        return;
    }
  };
  walk(e);
  return [...out];
}
