/** Arrow columns as expression inputs: each read once, by the readers of arrow-io. */
import { DataType, Type, type Table, type Vector } from 'apache-arrow';
import { BadInputError } from '../../core/errors';
import { codedColumn, numericColumn, requireColumn, timestampMs } from '../arrow-io';
import type { ExprType } from './ast';
import type { ColumnTypes } from './check';
import { BOOL_NULL, type Column, type ColumnSource } from './evaluate';

/** The expression type of an Arrow type, or undefined if expressions cannot read it. */
export function exprTypeOf(t: DataType): ExprType | undefined {
  if (DataType.isTimestamp(t) || DataType.isDate(t)) return 'timestamp';
  if (t.typeId === Type.Int || t.typeId === Type.Float) return 'number';
  if (t.typeId === Type.Bool) return 'bool';
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t) || DataType.isDictionary(t)) return 'string';
  return undefined;
}

/** A Bool column as 0/1 with 2 for null, straight from its bit-packed chunks. */
export function boolColumn(v: Vector): Uint8Array {
  const out = new Uint8Array(v.length);
  let at = 0;
  for (const d of v.data) {
    const bits = d.values as Uint8Array;
    const nb = d.nullBitmap;
    const checkNulls = d.nullCount > 0 && nb && nb.length > 0;
    const off = d.offset;
    for (let i = 0; i < d.length; i++) {
      const j = off + i;
      out[at + i] =
        checkNulls && ((nb[j >> 3] ?? 0) & (1 << (j & 7))) === 0 ? BOOL_NULL : ((bits[j >> 3] ?? 0) >> (j & 7)) & 1;
    }
    at += d.length;
  }
  return out;
}

/** The columns of one table as typed by its schema, for the checker and the evaluator. */
export class TableColumns implements ColumnTypes, ColumnSource {
  readonly rows: number;
  private readonly cache = new Map<string, Column>();

  constructor(
    private readonly table: Table,
    private readonly where: string,
    private readonly use: string,
  ) {
    this.rows = table.numRows;
  }

  typeOf(name: string): ExprType | undefined {
    const f = this.table.schema.fields.find((x) => x.name === name);
    if (!f) return undefined;
    const t = exprTypeOf(f.type as DataType);
    if (!t)
      throw new BadInputError(
        `${this.where}: column "${name}" (used by ${this.use}) is ${String(f.type)}; ` +
          'expressions read numbers, bools, strings and timestamps: convert the column or change the expression',
      );
    return t;
  }

  origin(name: string): string | undefined {
    const f = this.table.schema.fields.find((x) => x.name === name);
    return f ? `${String(f.type)} in ${this.where}` : undefined;
  }

  names(): string[] {
    return this.table.schema.fields.map((f) => f.name);
  }

  load(name: string): Column {
    let c = this.cache.get(name);
    if (c) return c;
    const v = requireColumn(this.table, name, this.where, this.use);
    const t = this.typeOf(name);
    if (t === 'number') c = { t, v: numericColumn(v, this.where, name) };
    else if (t === 'timestamp') c = { t, v: timestampMs(v, this.where, name) };
    else if (t === 'bool') c = { t, v: boolColumn(v) };
    else {
      const { codes, dict } = codedColumn(v, this.where, name);
      c = { t: 'string', codes, dict };
    }
    this.cache.set(name, c);
    return c;
  }
}
