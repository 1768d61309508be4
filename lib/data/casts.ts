/**
 * Column casts declared in the model spec (`casts: { amount: float64, ts: timestamp }`), applied
 * to a file's table right after it is read, so every later step sees the declared type. A cast
 * that is not supported, or a value that does not convert, is bad input naming the file, the
 * column, the types, the row and the fix.
 */
import {
  DataType,
  DateDay,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  Table,
  TimestampMillisecond,
  Type,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { numericColumn, timestampMs } from '../features/arrow-io';
import type { CastType } from '../spec/data-source';

const DAY_MS = 86_400_000;

function validity(values: ArrayLike<number>, isNull: (x: number) => boolean): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  for (let i = 0; i < values.length; i++) {
    if (isNull(values[i]!)) nulls++;
    else bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return { bitmap, nulls };
}

const isText = (t: DataType) =>
  DataType.isUtf8(t) ||
  DataType.isLargeUtf8(t) ||
  (DataType.isDictionary(t) && (DataType.isUtf8(t.dictionary) || DataType.isLargeUtf8(t.dictionary)));
const isNumeric = (t: DataType) =>
  t.typeId === Type.Int || t.typeId === Type.Float || t.typeId === Type.Decimal || t.typeId === Type.Bool;
const isTime = (t: DataType) => DataType.isTimestamp(t) || DataType.isDate(t);

/** The column's values as doubles (numbers, decimals, text parsed as numbers); null → NaN. */
function asNumbers(v: Vector, fail: (row: number, value: string) => never): Float64Array {
  const t = v.type as DataType;
  if (isNumeric(t)) return numericColumn(v, '', '');
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const s = v.get(i) as string | null;
    if (s === null || s === undefined || (typeof s === 'string' && s.trim() === '')) {
      out[i] = NaN;
      continue;
    }
    const x = Number(s);
    if (!Number.isFinite(x)) fail(i, JSON.stringify(s));
    out[i] = x;
  }
  return out;
}

/** Epoch ms of timestamps, dates, ISO-8601 text or integer epoch milliseconds; null → NaN. */
function asEpochMs(v: Vector, fail: (row: number, value: string) => never): Float64Array {
  const t = v.type as DataType;
  if (isTime(t) || (t.typeId === Type.Int && (t as unknown as { bitWidth: number }).bitWidth === 64))
    return timestampMs(v, '', '');
  if (t.typeId === Type.Int) return numericColumn(v, '', '');
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const s = v.get(i) as string | null;
    if (s === null || s === undefined || s.trim() === '') {
      out[i] = NaN;
      continue;
    }
    // A date alone is midnight UTC; a date-time without an offset is read as UTC too.
    const text = /^\d{4}-\d{2}-\d{2}$/.test(s)
      ? `${s}T00:00:00Z`
      : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)
        ? `${s.replace(' ', 'T')}Z`
        : s;
    const x = Date.parse(text);
    if (!Number.isFinite(x)) fail(i, JSON.stringify(s));
    out[i] = x;
  }
  return out;
}

function castVector(v: Vector, to: CastType, fail: (row: number, value: string) => never): Vector {
  const n = v.length;
  switch (to) {
    case 'float64':
    case 'float32': {
      const x = asNumbers(v, fail);
      const { bitmap, nulls } = validity(x, Number.isNaN);
      const data = to === 'float64' ? x : Float32Array.from(x);
      const type = to === 'float64' ? new Float64() : new Float32();
      return makeVector(makeData({ type, length: n, nullCount: nulls, nullBitmap: nulls ? bitmap : undefined, data }));
    }
    case 'int64':
    case 'int32': {
      const x = asNumbers(v, fail);
      const limit = to === 'int32' ? 2 ** 31 : 2 ** 53;
      for (let i = 0; i < n; i++) {
        const y = x[i]!;
        if (!Number.isNaN(y) && (!Number.isInteger(y) || Math.abs(y) >= limit)) fail(i, String(y));
      }
      const { bitmap, nulls } = validity(x, Number.isNaN);
      const nullBitmap = nulls ? bitmap : undefined;
      if (to === 'int32')
        return makeVector(
          makeData({
            type: new Int32(),
            length: n,
            nullCount: nulls,
            nullBitmap,
            data: Int32Array.from(x, (y) => y || 0),
          }),
        );
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = Number.isNaN(x[i]!) ? 0n : BigInt(x[i]!);
      return makeVector(makeData({ type: new Int64(), length: n, nullCount: nulls, nullBitmap, data }));
    }
    case 'timestamp':
    case 'date': {
      const x = asEpochMs(v, fail);
      const { bitmap, nulls } = validity(x, Number.isNaN);
      const nullBitmap = nulls ? bitmap : undefined;
      if (to === 'date') {
        const data = Int32Array.from(x, (y) => (Number.isNaN(y) ? 0 : Math.floor(y / DAY_MS)));
        return makeVector(makeData({ type: new DateDay(), length: n, nullCount: nulls, nullBitmap, data }));
      }
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = Number.isNaN(x[i]!) ? 0n : BigInt(x[i]!);
      return makeVector(
        makeData({ type: new TimestampMillisecond('UTC'), length: n, nullCount: nulls, nullBitmap, data }),
      );
    }
    case 'string': {
      const out: (string | null)[] = new Array<string | null>(n);
      for (let i = 0; i < n; i++) {
        const x = v.get(i) as unknown;
        out[i] =
          x === null || x === undefined
            ? null
            : x instanceof Date
              ? x.toISOString()
              : typeof x === 'object'
                ? JSON.stringify(x)
                : `${x as string | number | bigint | boolean}`;
      }
      return vectorFromArray(out, new Utf8());
    }
  }
}

/** Each cast's result type, as apache-arrow names it. */
const TARGET_TYPE: Record<CastType, string> = {
  float64: String(new Float64()),
  float32: String(new Float32()),
  int64: String(new Int64()),
  int32: String(new Int32()),
  timestamp: String(new TimestampMillisecond('UTC')),
  date: String(new DateDay()),
  string: String(new Utf8()),
};

/** Which source types each cast accepts (the rest is refused before reading a value). */
function accepts(to: CastType, t: DataType): boolean {
  switch (to) {
    case 'float64':
    case 'float32':
    case 'int64':
    case 'int32':
      return isNumeric(t) || isText(t);
    case 'timestamp':
    case 'date':
      return isTime(t) || t.typeId === Type.Int || isText(t);
    case 'string':
      return isText(t) || isNumeric(t) || isTime(t);
  }
}

const ACCEPTED: Record<CastType, string> = {
  float64: 'integers, floats, decimals, booleans or numeric text',
  float32: 'integers, floats, decimals, booleans or numeric text',
  int64: 'integers, integral floats or decimals, or integer text',
  int32: 'integers, integral floats or decimals, or integer text',
  timestamp: 'timestamps, dates, integer epoch milliseconds or ISO-8601 text',
  date: 'timestamps, dates, integer epoch milliseconds or ISO-8601 text',
  string: 'strings, dictionaries, numbers, timestamps or dates',
};

/**
 * Applies `casts` (column → type) to the columns of `table` that have them; `field` names the spec
 * field (e.g. data.events.casts) for the fix.
 */
export function applyCasts(
  table: Table,
  casts: Record<string, CastType> | undefined,
  where: string,
  field: string,
): Table {
  if (!casts) return table;
  const entries = Object.entries(casts).filter(([c]) => table.getChild(c));
  if (entries.length === 0) return table;
  const columns: Record<string, Vector> = {};
  for (const f of table.schema.fields) columns[f.name] = table.getChild(f.name)!;
  for (const [name, to] of entries) {
    const v = columns[name]!;
    const from = String(v.type);
    if (from === TARGET_TYPE[to]) continue; // already the type: the column is kept as it is
    if (!accepts(to, v.type as DataType))
      throw new BadInputError(
        `${where}: column "${name}" is ${from}, which cannot be cast to ${to} (${to} casts take ${ACCEPTED[to]}); ` +
          `remove ${field}.${name} or declare a type its values convert to`,
      );
    const fail = (row: number, value: string): never => {
      throw new BadInputError(
        `${where}: column "${name}" (${from}) holds ${value} at row ${row}, which does not convert to ${to} ` +
          `(${field}.${name}); fix the data or change the cast`,
      );
    };
    columns[name] = castVector(v, to, fail);
  }
  const out = new Table(columns);
  for (const [k, val] of table.schema.metadata) out.schema.metadata.set(k, val);
  return out;
}
