/**
 * Arrow feature columns → the float32 model input, row-major [N, F], written straight into one
 * Float32Array: no JS object per row, and no copy of a column that is already one contiguous
 * Float64 buffer without nulls (the usual shape of a snapshot partition).
 *
 * Non-finite values (mlo's policy, also in the final report):
 * - ±Infinity, and finite Float64 values beyond float32's range (they would become ±Infinity in
 *   the tensor), are always bad input: no model has a defined answer for them.
 * - NaN is mlo's "missing" (a null feature, or e.g. the max over an empty window). It is passed
 *   to the model only when every model scoring the rows declares missing-value handling (its
 *   input feeds only tree ensembles or a NaN imputer, see onnx-graph.ts); otherwise a NaN is bad
 *   input naming the column and the row.
 */
import { Type, type DataType, type Table, type Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { numericColumn } from '../features/arrow-io';

/** Feature columns of one table as Float64 arrays (views into the Arrow buffers where possible). */
export type FeatureColumns = { names: string[]; columns: Float64Array[]; rows: number };

/**
 * One Float64 column as a contiguous Float64Array; nulls become NaN. Zero-copy when the column
 * is one chunk of Float64 without nulls.
 */
export function float64Column(v: Vector, where: string, name: string): Float64Array {
  const chunks = v.data;
  if (chunks.length === 1) {
    const d = chunks[0]!;
    const t = d.type as DataType;
    if (t.typeId === Type.Float && (d.values as unknown) instanceof Float64Array && d.nullCount === 0) {
      return (d.values as Float64Array).subarray(0, d.length);
    }
  }
  // Several chunks, nulls or another numeric type: one copy (nulls → NaN).
  const out = new Float64Array(v.length);
  let at = 0;
  let direct = true;
  for (const d of chunks) {
    const t = d.type as DataType;
    if (!(t.typeId === Type.Float && (d.values as unknown) instanceof Float64Array)) {
      direct = false;
      break;
    }
    out.set((d.values as Float64Array).subarray(0, d.length), at);
    if (d.nullCount > 0) {
      const bm = d.nullBitmap;
      for (let i = 0; i < d.length; i++) {
        const j = d.offset + i;
        if (bm && ((bm[j >> 3] ?? 0) & (1 << (j & 7))) === 0) out[at + i] = NaN;
      }
    }
    at += d.length;
  }
  if (direct) return out;
  // Float32, integers, booleans: arrow-io's reader (nulls → NaN; it rejects ±Infinity itself).
  return numericColumn(v, where, name);
}

/** The named feature columns of a table, in order; a missing column is bad input. */
export function featureColumns(table: Table, names: string[], where: string): FeatureColumns {
  const columns = names.map((name) => {
    const v = table.getChild(name);
    if (!v) {
      const have = table.schema.fields.map((f) => f.name).join(', ');
      throw new BadInputError(`${where} has no feature column "${name}"; its columns are: ${have}`);
    }
    return float64Column(v, where, name);
  });
  return { names, columns, rows: table.numRows };
}

export type NanPolicy = {
  allowNaN: boolean;
  /** Why NaN is refused (which model cannot take it), for the error message. */
  refusal?: string;
};

export type FillStats = {
  /** NaN (missing) cells per feature column, accumulated across calls. */
  nanPerColumn: Float64Array;
};

export function newFillStats(features: number): FillStats {
  return { nanPerColumn: new Float64Array(features) };
}

/**
 * Writes rows [start, end) of `rows` (row indices into the columns; null = all rows in order)
 * into `out` row-major, `out[(r - start) * F + f]`. Checks every value: ±Infinity or a value out
 * of float32 range is bad input; NaN is bad input unless the policy allows it. `describeRow`
 * names a row in messages (e.g. its event id).
 */
export function fillTensor(
  out: Float32Array,
  m: FeatureColumns,
  rows: Int32Array | null,
  start: number,
  end: number,
  policy: NanPolicy,
  stats: FillStats,
  where: string,
  describeRow: (row: number) => string = (row) => `row ${row}`,
): void {
  const F = m.columns.length;
  const n = end - start;
  if (out.length < n * F) throw new Error(`internal: tensor buffer holds ${out.length} values, need ${n * F}`);
  for (let f = 0; f < F; f++) {
    const c = m.columns[f]!;
    // acc stays 0 while every value is finite: y * 0 is NaN for NaN and ±Infinity.
    let acc = 0;
    let k = f;
    if (rows === null) {
      for (let r = start; r < end; r++, k += F) {
        const y = Math.fround(c[r]!);
        out[k] = y;
        acc += y * 0;
      }
    } else {
      for (let r = start; r < end; r++, k += F) {
        const y = Math.fround(c[rows[r]!]!);
        out[k] = y;
        acc += y * 0;
      }
    }
    if (acc !== 0) checkColumn(m, f, rows, start, end, { policy, stats, where, describeRow });
  }
}

/** The slow path of fillTensor for one column holding a non-finite value: classify and count. */
function checkColumn(
  m: FeatureColumns,
  f: number,
  rows: Int32Array | null,
  start: number,
  end: number,
  check: { policy: NanPolicy; stats: FillStats; where: string; describeRow: (row: number) => string },
): void {
  const { policy, stats, where, describeRow } = check;
  const c = m.columns[f]!;
  const name = m.names[f]!;
  let nan = 0;
  let firstNan = -1;
  for (let r = start; r < end; r++) {
    const row = rows === null ? r : rows[r]!;
    const x = c[row]!;
    if (Number.isNaN(x)) {
      nan++;
      if (firstNan < 0) firstNan = row;
    } else if (!Number.isFinite(x)) {
      throw new BadInputError(
        `${where}: feature "${name}" is ${x} at ${describeRow(row)}; ` +
          'infinite feature values are not allowed (fix the feature definition or the data)',
      );
    } else if (!Number.isFinite(Math.fround(x))) {
      throw new BadInputError(
        `${where}: feature "${name}" is ${x} at ${describeRow(row)}, ` +
          'outside the float32 range of the model input (±3.4e38)',
      );
    }
  }
  if (nan > 0 && !policy.allowNaN) {
    throw new BadInputError(
      `${where}: feature "${name}" is NaN (missing) at ${describeRow(firstNan)} ` +
        `and ${nan - 1} more row(s) of this batch; ` +
        (policy.refusal ?? 'the model does not declare missing-value handling'),
    );
  }
  stats.nanPerColumn[f]! += nan;
}
