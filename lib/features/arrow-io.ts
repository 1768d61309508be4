/**
 * Column access over Arrow tables as typed arrays: no JS object per row. Every reader
 * names the file and column in its errors, so bad input says where it is and what to fix.
 */
import { DataType, Type, tableFromIPC, type Table, type Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';

/** A type's readable name, e.g. Timestamp<MILLISECOND, UTC>. */
function typeName(t: DataType): string {
  return (t as { toString(): string }).toString();
}

/** Parses Arrow IPC (file or stream format); a corrupt file is a BadInputError naming it. */
export function readIpcTable(bytes: Uint8Array, where: string): Table {
  try {
    const t = tableFromIPC(bytes);
    if (t.schema.fields.length === 0) throw new Error('no columns');
    return t;
  } catch (err) {
    throw new BadInputError(
      `${where} is not a readable Arrow IPC file (${(err as Error).message}); ` +
        'rewrite it, or remove it and regenerate the partition',
    );
  }
}

/** Schema metadata key holding a projected table's source file columns (comma-separated). */
export const FILE_COLUMNS_KEY = 'mlo.file-columns';

export function requireColumn(table: Table, name: string, where: string, kind: string): Vector {
  const v = table.getChild(name);
  if (!v) {
    // A projected read records the file's full column list (lib/data/read.ts).
    const have = table.schema.metadata.get(FILE_COLUMNS_KEY) ?? table.schema.fields.map((f) => f.name).join(', ');
    throw new BadInputError(
      `${where} has no column "${name}" (needed as ${kind}); its columns are: ${have}. ` +
        "Fix the model spec's column name or the data.",
    );
  }
  return v;
}

type DataLike = { nullBitmap?: Uint8Array | null; nullCount: number; offset: number; length: number };

/**
 * Calls `onNull(i)` for every null slot i of one Data chunk. Reads `nullCount` (a getter that
 * is not free in apache-arrow) once per chunk, never per row.
 */
function forEachNull(d: DataLike, onNull: (i: number) => void): void {
  const bm = d.nullBitmap;
  if (!bm || bm.length === 0 || d.nullCount === 0) return;
  const off = d.offset;
  for (let i = 0; i < d.length; i++) {
    const j = off + i;
    if (((bm[j >> 3] ?? 0) & (1 << (j & 7))) === 0) onNull(i);
  }
}

/**
 * An Int64 / Timestamp buffer's values as doubles, through 32-bit views (exact below 2^53), times
 * `scale` (> 1) or floor-divided by `1 / scale` (< 1: sub-millisecond units, exact per value).
 */
function int64ToNumbers(
  values: BigInt64Array | BigUint64Array,
  out: Float64Array,
  at: number,
  n: number,
  scale: number,
  signed: boolean,
): void {
  if (scale < 1) {
    const div = Math.round(1 / scale);
    const big = BigInt(div);
    const v = values as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      // Below 2^53 a double division is exact enough for floor; beyond it (ns), BigInt.
      const d = Number(x);
      if (Number.isSafeInteger(d)) out[at + i] = Math.floor(d / div);
      else {
        const q = x / big;
        out[at + i] = Number(x % big !== 0n && x < 0n ? q - 1n : q);
      }
    }
    return;
  }
  const i32 = new Int32Array(values.buffer, values.byteOffset, n * 2);
  for (let i = 0; i < n; i++) {
    const lo = i32[2 * i]! >>> 0;
    const hi = i32[2 * i + 1]!;
    out[at + i] = (signed ? hi : hi >>> 0) * 4294967296 + lo;
  }
  if (scale !== 1) for (let i = 0; i < n; i++) out[at + i] = Math.floor(out[at + i]! * scale);
}

const isSigned = (t: DataType) => (t as unknown as { isSigned?: boolean }).isSigned !== false;

/** Decimal128/256 values (little-endian 32-bit words, two's complement) as doubles, divided by 10^scale. */
function decimalToNumbers(
  d: { values: Uint32Array; length: number; offset?: number },
  t: DataType,
  out: Float64Array,
  at: number,
): void {
  const { scale, bitWidth } = t as unknown as { scale: number; bitWidth: number };
  const words = (bitWidth ?? 128) / 32;
  const w = d.values;
  const div = 10 ** scale;
  for (let i = 0; i < d.length; i++) {
    const base = i * words;
    const negative = (w[base + words - 1]! & 0x80000000) !== 0;
    let x = 0;
    if (!negative) for (let k = words - 1; k >= 0; k--) x = x * 4294967296 + w[base + k]!;
    else {
      // two's complement: -(~x + 1)
      let carry = 1;
      const parts: number[] = [];
      for (let k = 0; k < words; k++) {
        const v = (~w[base + k]! >>> 0) + carry;
        carry = v > 0xffffffff ? 1 : 0;
        parts.push(v >>> 0);
      }
      for (let k = words - 1; k >= 0; k--) x = x * 4294967296 + parts[k]!;
      x = -x;
    }
    out[at + i] = x / div;
  }
}

/** IEEE half floats as doubles. */
function float16ToNumbers(src: Uint16Array, out: Float64Array, at: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const h = src[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    out[at + i] =
      e === 0
        ? sign * 2 ** -14 * (f / 1024)
        : e === 31
          ? f
            ? NaN
            : sign * Infinity
          : sign * 2 ** (e - 15) * (1 + f / 1024);
  }
}

/** Epoch milliseconds of a timestamp (any unit), date or integer column; null → NaN. */
export function timestampMs(v: Vector, where: string, name: string): Float64Array {
  const out = new Float64Array(v.length);
  let at = 0;
  for (const d of v.data) {
    const t = d.type as DataType;
    if (DataType.isTimestamp(t)) {
      const unit = (t as unknown as { unit: number }).unit; // 0 s, 1 ms, 2 µs, 3 ns
      const scale = [1000, 1, 1e-3, 1e-6][unit] ?? 1;
      int64ToNumbers(d.values as BigInt64Array, out, at, d.length, scale, true);
    } else if (DataType.isDate(t) && (t as unknown as { unit: number }).unit === 0) {
      const days = d.values as Int32Array; // Date32: days since the epoch
      for (let i = 0; i < d.length; i++) out[at + i] = days[i]! * 86_400_000;
    } else if (t.typeId === Type.Int && (t as unknown as { bitWidth: number }).bitWidth === 64) {
      int64ToNumbers(d.values as BigInt64Array, out, at, d.length, 1, isSigned(t));
    } else if (DataType.isDate(t)) {
      int64ToNumbers(d.values as BigInt64Array, out, at, d.length, 1, true); // Date64: epoch ms
    } else {
      throw new BadInputError(
        `${where}: column "${name}" is ${typeName(t)}, not a timestamp; ` +
          `the spec's time columns must be timestamps or dates (or declare casts: { ${name}: timestamp })`,
      );
    }
    forEachNull(d, (i) => (out[at + i] = NaN));
    at += d.length;
  }
  return out;
}

/** An integer id column (Int8–Int64, unsigned too) as Int32; null → -1. */
export function idColumn(v: Vector, where: string, name: string): Int32Array {
  const out = new Int32Array(v.length);
  let at = 0;
  for (const d of v.data) {
    const t = d.type as DataType;
    if (t.typeId !== Type.Int)
      throw new BadInputError(
        `${where}: column "${name}" is ${typeName(t)}; entity keys and count_distinct columns must be integer ids`,
      );
    if ((t as unknown as { bitWidth: number }).bitWidth === 64) {
      const tmp = new Float64Array(d.length);
      int64ToNumbers(d.values as BigInt64Array, tmp, 0, d.length, 1, isSigned(t));
      for (let i = 0; i < d.length; i++) {
        const x = tmp[i]!;
        if (x > 2147483647 || x < -1)
          throw new BadInputError(
            `${where}: column "${name}" holds ${x}, outside the 32-bit id range mlo's kernel uses`,
          );
        out[at + i] = x;
      }
    } else {
      const src = d.values as Int32Array;
      if (src instanceof Int32Array) out.set(src.subarray(0, d.length), at);
      else for (let i = 0; i < d.length; i++) out[at + i] = Number(src[i]);
    }
    forEachNull(d, (i) => (out[at + i] = -1));
    at += d.length;
  }
  return out;
}

/** A numeric column as Float64; null → NaN. Infinite values are bad input. */
export function numericColumn(v: Vector, where: string, name: string): Float64Array {
  const out = new Float64Array(v.length);
  let at = 0;
  for (const d of v.data) {
    const t = d.type as DataType;
    if (t.typeId === Type.Float && (t as unknown as { precision: number }).precision === 0) {
      float16ToNumbers(d.values as Uint16Array, out, at, d.length);
    } else if (
      t.typeId === Type.Float ||
      (t.typeId === Type.Int && (t as unknown as { bitWidth: number }).bitWidth <= 32)
    ) {
      // element-wise numeric conversion, as a loop would do
      out.set((d.values as Float64Array).subarray(0, d.length), at);
    } else if (t.typeId === Type.Int) {
      int64ToNumbers(d.values as BigInt64Array, out, at, d.length, 1, isSigned(t));
    } else if (t.typeId === Type.Decimal) {
      decimalToNumbers(d, t, out, at);
    } else if (t.typeId === Type.Bool) {
      for (let i = 0; i < d.length; i++) out[at + i] = (v.get(at + i) as boolean | null) ? 1 : 0;
    } else {
      throw new BadInputError(
        `${where}: column "${name}" is ${typeName(t)}, not numeric; ` +
          `use it in a comparison (e.g. ${name} == 'value'), list a numeric column, ` +
          `or declare casts: { ${name}: float64 } for numbers stored as text`,
      );
    }
    forEachNull(d, (i) => (out[at + i] = NaN));
    for (let i = at; i < at + d.length; i++) {
      const x = out[i]!;
      if (x === Infinity || x === -Infinity)
        throw new BadInputError(`${where}: column "${name}" holds ${x} at row ${i}; infinite values are not allowed`);
    }
    at += d.length;
  }
  return out;
}

/**
 * A column as codes into a string dictionary (null → -1): dictionary columns keep their
 * codes; plain strings and integers are dictionary-encoded here.
 */
export function codedColumn(v: Vector, where: string, name: string): { codes: Int32Array; dict: string[] } {
  const codes = new Int32Array(v.length);
  const dict: string[] = [];
  const index = new Map<string, number>();
  const codeOf = (s: string) => {
    let c = index.get(s);
    if (c === undefined) {
      c = dict.length;
      dict.push(s);
      index.set(s, c);
    }
    return c;
  };
  let at = 0;
  for (const d of v.data) {
    const t = d.type as DataType;
    if (DataType.isDictionary(t) && d.dictionary) {
      const local = d.dictionary.toArray() as unknown as (string | null)[];
      const remap = new Int32Array(local.length);
      for (let k = 0; k < local.length; k++) remap[k] = local[k] === null ? -1 : codeOf(String(local[k]));
      const idx = d.values as Int32Array | BigInt64Array;
      if (idx instanceof BigInt64Array || idx instanceof BigUint64Array)
        for (let i = 0; i < d.length; i++) codes[at + i] = remap[Number(idx[i]!)] ?? -1;
      else for (let i = 0; i < d.length; i++) codes[at + i] = remap[idx[i]!] ?? -1;
    } else if (DataType.isUtf8(t) || DataType.isLargeUtf8(t) || t.typeId === Type.Int || t.typeId === Type.Bool) {
      for (let i = 0; i < d.length; i++) {
        const x = v.get(at + i) as string | number | bigint | null;
        codes[at + i] = x === null ? -1 : codeOf(String(x));
      }
    } else {
      throw new BadInputError(
        `${where}: column "${name}" is ${typeName(t)}; comparisons need a string, dictionary or integer column`,
      );
    }
    forEachNull(d, (i) => (codes[at + i] = -1));
    at += d.length;
  }
  return { codes, dict };
}
