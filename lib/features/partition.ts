/**
 * One day partition of a feature snapshot, computed from the day's events, the lookback
 * days its longest window needs, and the labels known at the cut-off. Pure: bytes in,
 * bytes out, so a retried computation writes the same bytes.
 */
import { Float64, makeData, makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { codedColumn, idColumn, numericColumn, requireColumn, timestampMs } from './arrow-io';
import type { FeatureSet } from './featureset';
import { computeWindowedFeatures } from './kernel';

export type LoadedDay = { day: string; where: string; table: Table };

/** Labels known at the cut-off: event id → when its label (chargeback) was reported. */
export type LabelIndex = Map<number, number>;

export const LABEL_COLUMN = 'label';

export type PartitionStats = { rows: number; labeledRows: number; positives: number };

const DAY_MS = 86_400_000;

export function buildLabelIndex(
  tables: LoadedDay[],
  keyColumn: string,
  timeColumn: string,
  cutoffMs: number,
): LabelIndex {
  const index: LabelIndex = new Map();
  for (const t of tables) {
    const ids = eventIds(requireColumn(t.table, keyColumn, t.where, 'the label join key'), t.where, keyColumn);
    const at = timestampMs(requireColumn(t.table, timeColumn, t.where, 'the label time'), t.where, timeColumn);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const rep = at[i]!;
      if (Number.isNaN(id) || !(rep < cutoffMs)) continue; // arrived at or after the cut-off: unknown at training time
      const prev = index.get(id);
      if (prev === undefined || rep < prev) index.set(id, rep);
    }
  }
  return index;
}

/** Event ids (Int64 or Int32) as doubles; exact below 2^53. */
function eventIds(v: Vector, where: string, name: string): Float64Array {
  return timestampLikeInt(v, where, name);
}

function timestampLikeInt(v: Vector, where: string, name: string): Float64Array {
  const t = String(v.type);
  if (!/^u?int/i.test(t) && !/^Int/.test(t))
    throw new BadInputError(`${where}: column "${name}" is ${t}; event ids must be integers`);
  return /64/.test(t) ? timestampMs(v, where, name) : numericColumn(v, where, name);
}

/** A lookback day's time span: min and max of its finite timestamps, and whether every one is finite. */
type DaySpan = { min: number; max: number; allFinite: boolean };

function spanOf(ts: Float64Array): DaySpan {
  let min = Infinity;
  let max = -Infinity;
  let finite = 0;
  for (let i = 0; i < ts.length; i++) {
    const x = ts[i]!;
    if (!Number.isFinite(x)) continue;
    finite++;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min, max, allFinite: finite === ts.length };
}

/**
 * Per lookback day, the rows with a timestamp in [from, to) and a key (the last entry of
 * `keyDays` holds the target day's keys) that has a target row; ascending row indices. Days
 * whose span lies outside [from, to) are skipped without reading a row.
 */
function selectLookbackRows(
  lbTs: Float64Array[],
  spans: DaySpan[],
  keyDays: Int32Array[],
  from: number,
  to: number,
): Int32Array[] {
  const targetKeys = keyDays[keyDays.length - 1]!;
  let maxKey = -1;
  for (let i = 0; i < targetKeys.length; i++) if (targetKeys[i]! > maxKey) maxKey = targetKeys[i]!;
  const rows = keyDays.reduce((s, k) => s + k.length, 0);
  // A byte per key when the key range is compact, else a hash set.
  const mark = maxKey <= Math.max(1 << 20, 4 * rows) ? new Uint8Array(maxKey + 1) : undefined;
  const set = mark ? undefined : new Set<number>();
  for (let i = 0; i < targetKeys.length; i++) {
    const k = targetKeys[i]!;
    if (k < 0) continue;
    if (mark) mark[k] = 1;
    else set!.add(k);
  }
  const scratch = new Int32Array(Math.max(0, ...lbTs.map((x) => x.length)));
  return lbTs.map((ts, d) => {
    const { min, max, allFinite } = spans[d]!;
    if (maxKey < 0 || !(max >= from) || !(min < to)) return new Int32Array(0);
    const key = keyDays[d]!;
    const inside = allFinite && min >= from && max < to; // every row is in the time range
    let m = 0;
    if (mark && inside) {
      for (let i = 0; i < ts.length; i++) {
        const k = key[i]!;
        if (k >= 0 && k <= maxKey && mark[k] === 1) scratch[m++] = i;
      }
    } else if (mark) {
      for (let i = 0; i < ts.length; i++) {
        const k = key[i]!;
        if (ts[i]! >= from && ts[i]! < to && k >= 0 && k <= maxKey && mark[k] === 1) scratch[m++] = i;
      }
    } else {
      for (let i = 0; i < ts.length; i++)
        if (ts[i]! >= from && ts[i]! < to && key[i]! >= 0 && set!.has(key[i]!)) scratch[m++] = i;
    }
    return scratch.slice(0, m);
  });
}

/** The selected lookback rows of every day, then all `n` target rows (the last entry of `days`), into `out`. */
function gatherRows<T extends Float64Array | Int32Array>(
  days: T[],
  sel: Int32Array[],
  m: number,
  n: number,
  out: T,
): T {
  let j = 0;
  for (let d = 0; d < sel.length; d++) {
    const src = days[d]!;
    const idx = sel[d]!;
    if (idx.length === src.length) {
      out.set(src, j);
      j += src.length;
    } else for (let i = 0; i < idx.length; i++) out[j++] = src[idx[i]!]!;
  }
  out.set(days[sel.length]!.subarray(0, n), m);
  return out;
}

function float64Vector(values: Float64Array, valid?: Uint8Array, nullCount = 0): Vector {
  if (!valid || nullCount === 0) return makeVector(values);
  return makeVector(
    makeData({ type: new Float64(), length: values.length, nullCount, nullBitmap: valid, data: values }),
  );
}

/**
 * Computes a day's feature rows: the day's events in file order, with id, time, label,
 * slice columns and one Float64 column per feature (NaN = missing).
 */
export function computeFeaturePartition(
  fs: FeatureSet,
  target: LoadedDay,
  lookback: LoadedDay[],
  labels: LabelIndex,
  cutoffMs: number,
): { table: Table; bytes: Uint8Array; stats: PartitionStats } {
  const t = target.table;
  const n = t.numRows;
  const tsName = fs.events.timestamp;
  const targetTs = timestampMs(requireColumn(t, tsName, target.where, 'the event time'), target.where, tsName);
  let minTs = Infinity;
  for (let i = 0; i < n; i++) if (targetTs[i]! < minTs) minTs = targetTs[i]!;
  const dayStart = Date.parse(`${target.day}T00:00:00Z`);
  for (let i = 0; i < n; i++) {
    const x = targetTs[i]!;
    if (!(x >= dayStart && x < dayStart + DAY_MS)) {
      throw new BadInputError(
        `${target.where}: row ${i} has ${tsName} = ${Number.isNaN(x) ? 'null' : new Date(x).toISOString()}, outside its day partition ${target.day}; the event log is mis-partitioned`,
      );
    }
  }

  // Lookback rows: only those the longest window can reach.
  const firstTs = Number.isFinite(minTs) ? minTs : dayStart;
  const horizon = firstTs - fs.lookbackMs;
  const lbTs = lookback.map((d) =>
    timestampMs(requireColumn(d.table, tsName, d.where, 'the event time'), d.where, tsName),
  );
  const lbSpans = lbTs.map(spanOf);

  // Input columns of the lookback days and then the target day, each read once per partition
  // however many aggregation groups use it.
  const numericCols = new Map<string, Float64Array[]>();
  const idCols = new Map<string, Int32Array[]>();
  const numericDays = (name: string): Float64Array[] => {
    let c = numericCols.get(name);
    if (!c) {
      const read = (d: LoadedDay) =>
        numericColumn(requireColumn(d.table, name, d.where, 'a numeric feature input'), d.where, name);
      numericCols.set(name, (c = [...lookback.map(read), read(target)]));
    }
    return c;
  };
  const idDays = (name: string): Int32Array[] => {
    let c = idCols.get(name);
    if (!c) {
      const read = (d: LoadedDay) =>
        idColumn(requireColumn(d.table, name, d.where, 'an entity key or id'), d.where, name);
      idCols.set(name, (c = [...lookback.map(read), read(target)]));
    }
    return c;
  };

  const features: Record<string, Float64Array> = {};

  // Raw numeric columns and derived columns: target rows only.
  for (const c of fs.columns)
    features[c] = numericColumn(requireColumn(t, c, target.where, 'a feature column'), target.where, c);
  for (const d of fs.derived) {
    const e = d.expr;
    const out = new Float64Array(n);
    if (e.op === 'log1p') {
      const x = numericColumn(
        requireColumn(t, e.column, target.where, `the input of ${d.name}`),
        target.where,
        e.column,
      );
      for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]!);
    } else if (e.op === 'hour_of_day' || e.op === 'day_of_week') {
      const x = timestampMs(requireColumn(t, e.column, target.where, `the input of ${d.name}`), target.where, e.column);
      if (e.op === 'hour_of_day')
        for (let i = 0; i < n; i++) out[i] = Math.floor((((x[i]! % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
      else for (let i = 0; i < n; i++) out[i] = (Math.floor(x[i]! / DAY_MS) + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
    } else {
      const left = codedColumn(requireColumn(t, e.left, target.where, `the input of ${d.name}`), target.where, e.left);
      const eq = e.op === 'eq';
      if ('column' in e.right) {
        const right = codedColumn(
          requireColumn(t, e.right.column, target.where, `the input of ${d.name}`),
          target.where,
          e.right.column,
        );
        // Translate the right column's codes into the left's dictionary once, not per row.
        const leftIndex = new Map(left.dict.map((s, k) => [s, k]));
        const tr = new Int32Array(right.dict.length).map((_, k) => leftIndex.get(right.dict[k]!) ?? -2);
        for (let i = 0; i < n; i++) {
          const l = left.codes[i]!;
          const r = right.codes[i]!;
          out[i] = l < 0 || r < 0 ? NaN : (l === tr[r]) === eq ? 1 : 0;
        }
      } else {
        const lit = String(e.right.literal);
        const code = left.dict.indexOf(lit);
        for (let i = 0; i < n; i++) {
          const l = left.codes[i]!;
          out[i] = l < 0 ? NaN : (l === code) === eq ? 1 : 0;
        }
      }
    }
    features[d.name] = out;
  }

  // Windowed aggregations: one kernel call per entity group, over the target rows and the
  // lookback rows the group can reach: within its longest window of the day's first event, and
  // of an entity that has a target row. The kernel never reads any other row (older rows are
  // outside every window of every target, other entities' rows are dropped by its layout), so
  // leaving them out changes no output bit; it saves re-laying-out 30 days of lookback for a
  // 10-minute window.
  for (const g of fs.aggregations) {
    const valueDays: Record<string, Float64Array[]> = {};
    const idDaysOf: Record<string, Int32Array[]> = {};
    for (const a of g.aggs) {
      if (!a.of) continue;
      if (a.fn === 'count_distinct') idDaysOf[a.of] ??= idDays(a.of);
      else valueDays[a.of] ??= numericDays(a.of);
    }
    const keyDays = idDays(g.entity);
    const reach = Math.max(...g.aggs.map((a) => a.windowMs ?? Infinity));
    const from = Math.max(horizon, firstTs - reach);
    const sel = selectLookbackRows(lbTs, lbSpans, keyDays, from, dayStart);
    const m = sel.reduce((s, x) => s + x.length, 0);
    const gatherF = (days: Float64Array[]) => gatherRows(days, sel, m, n, new Float64Array(m + n));
    const gatherI = (days: Int32Array[]) => gatherRows(days, sel, m, n, new Int32Array(m + n));
    const values: Record<string, Float64Array> = {};
    const ids: Record<string, Int32Array> = {};
    for (const [name, days] of Object.entries(valueDays)) values[name] = gatherF(days);
    for (const [name, days] of Object.entries(idDaysOf)) ids[name] = gatherI(days);
    const out = computeWindowedFeatures(
      { ts: gatherF([...lbTs, targetTs]), key: gatherI(keyDays), values, ids, targetStart: m, targetEnd: m + n },
      g.aggs,
    );
    Object.assign(features, out);
  }

  // Labels: known only if reported before the cut-off, and only for events old enough to have matured.
  const idVec = requireColumn(t, fs.events.id, target.where, 'the event id');
  const ids = eventIds(idVec, target.where, fs.events.id);
  const label = new Float64Array(n);
  const valid = new Uint8Array(Math.ceil(n / 8));
  const matureBefore = cutoffMs - fs.labels.maturityMs;
  let labeledRows = 0;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (!(targetTs[i]! <= matureBefore)) continue;
    const y = labels.has(ids[i]!) ? 1 : 0;
    label[i] = y;
    valid[i >> 3]! |= 1 << (i & 7);
    labeledRows++;
    positives += y;
  }

  const columns: Record<string, Vector> = {
    [fs.events.id]: idVec,
    [tsName]: requireColumn(t, tsName, target.where, 'the event time'),
    [LABEL_COLUMN]: float64Vector(label, valid, n - labeledRows),
  };
  for (const s of fs.slices) columns[s] = requireColumn(t, s, target.where, 'a slice column');
  for (const f of fs.featureOrder) {
    const v = features[f];
    if (!v) throw new Error(`internal: feature ${f} was not computed`);
    columns[f] = makeVector(v);
  }
  const table = new Table(columns);
  const bytes = tableToIPC(table, 'file');
  return { table, bytes, stats: { rows: n, labeledRows, positives } };
}
