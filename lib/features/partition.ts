/**
 * One day partition of a feature snapshot, computed from the day's events, the lookback
 * days its longest window needs, and the labels known at the cut-off. Pure: bytes in,
 * bytes out, so a retried computation writes the same bytes.
 */
import { Float64, makeData, makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import { BadInputError } from '../errors';
import { codedColumn, idColumn, numericColumn, requireColumn, timestampMs } from './arrow-io';
import type { FeatureSet } from './featureset';
import { computeWindowedFeatures } from './kernel';

export type LoadedDay = { day: string; where: string; table: Table };

/** Labels known at the cut-off: event id → when its label (chargeback) was reported. */
export type LabelIndex = Map<number, number>;

export const LABEL_COLUMN = 'label';

export type PartitionStats = { rows: number; labeledRows: number; positives: number };

const DAY_MS = 86_400_000;

export function buildLabelIndex(tables: LoadedDay[], keyColumn: string, timeColumn: string, cutoffMs: number): LabelIndex {
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
  if (!/^u?int/i.test(t) && !/^Int/.test(t)) throw new BadInputError(`${where}: column "${name}" is ${t}; event ids must be integers`);
  return /64/.test(t) ? timestampMs(v, where, name) : numericColumn(v, where, name);
}

function concat<T extends Float64Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = make(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function float64Vector(values: Float64Array, valid?: Uint8Array, nullCount = 0): Vector {
  if (!valid || nullCount === 0) return makeVector(values);
  return makeVector(makeData({ type: new Float64(), length: values.length, nullCount, nullBitmap: valid, data: values }));
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
      throw new BadInputError(`${target.where}: row ${i} has ${tsName} = ${Number.isNaN(x) ? 'null' : new Date(x).toISOString()}, outside its day partition ${target.day}; the event log is mis-partitioned`);
    }
  }

  // Lookback rows: only those the longest window can reach.
  const horizon = (Number.isFinite(minTs) ? minTs : dayStart) - fs.lookbackMs;
  const lbTs: Float64Array[] = [];
  const lbKeep: Uint8Array[] = [];
  for (const d of lookback) {
    const ts = timestampMs(requireColumn(d.table, tsName, d.where, 'the event time'), d.where, tsName);
    const keep = new Uint8Array(ts.length);
    for (let i = 0; i < ts.length; i++) keep[i] = ts[i]! >= horizon && ts[i]! < dayStart ? 1 : 0;
    lbTs.push(ts);
    lbKeep.push(keep);
  }
  const filterF = (a: Float64Array, keep: Uint8Array) => {
    let m = 0;
    for (let i = 0; i < keep.length; i++) m += keep[i]!;
    const out = new Float64Array(m);
    for (let i = 0, j = 0; i < keep.length; i++) if (keep[i]) out[j++] = a[i]!;
    return out;
  };
  const filterI = (a: Int32Array, keep: Uint8Array) => {
    let m = 0;
    for (let i = 0; i < keep.length; i++) m += keep[i]!;
    const out = new Int32Array(m);
    for (let i = 0, j = 0; i < keep.length; i++) if (keep[i]) out[j++] = a[i]!;
    return out;
  };
  const allTs = concat([...lbTs.map((a, k) => filterF(a, lbKeep[k]!)), targetTs], (m) => new Float64Array(m));
  const nLookback = allTs.length - n;

  const numericAll = (name: string) =>
    concat(
      [...lookback.map((d, k) => filterF(numericColumn(requireColumn(d.table, name, d.where, 'a numeric feature input'), d.where, name), lbKeep[k]!)), numericColumn(requireColumn(t, name, target.where, 'a numeric feature input'), target.where, name)],
      (m) => new Float64Array(m),
    );
  const idsAll = (name: string) =>
    concat(
      [...lookback.map((d, k) => filterI(idColumn(requireColumn(d.table, name, d.where, 'an entity key or id'), d.where, name), lbKeep[k]!)), idColumn(requireColumn(t, name, target.where, 'an entity key or id'), target.where, name)],
      (m) => new Int32Array(m),
    );

  const features: Record<string, Float64Array> = {};

  // Raw numeric columns and derived columns: target rows only.
  for (const c of fs.columns) features[c] = numericColumn(requireColumn(t, c, target.where, 'a feature column'), target.where, c);
  for (const d of fs.derived) {
    const e = d.expr;
    const out = new Float64Array(n);
    if (e.op === 'log1p') {
      const x = numericColumn(requireColumn(t, e.column, target.where, `the input of ${d.name}`), target.where, e.column);
      for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]!);
    } else if (e.op === 'hour_of_day' || e.op === 'day_of_week') {
      const x = timestampMs(requireColumn(t, e.column, target.where, `the input of ${d.name}`), target.where, e.column);
      if (e.op === 'hour_of_day') for (let i = 0; i < n; i++) out[i] = Math.floor((((x[i]! % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
      else for (let i = 0; i < n; i++) out[i] = (Math.floor(x[i]! / DAY_MS) + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
    } else {
      const left = codedColumn(requireColumn(t, e.left, target.where, `the input of ${d.name}`), target.where, e.left);
      const eq = e.op === 'eq';
      if ('column' in e.right) {
        const right = codedColumn(requireColumn(t, e.right.column, target.where, `the input of ${d.name}`), target.where, e.right.column);
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

  // Windowed aggregations: one kernel call per entity, over lookback + target rows.
  for (const g of fs.aggregations) {
    const values: Record<string, Float64Array> = {};
    const ids: Record<string, Int32Array> = {};
    for (const a of g.aggs) {
      if (!a.of) continue;
      if (a.fn === 'count_distinct') ids[a.of] ??= idsAll(a.of);
      else values[a.of] ??= numericAll(a.of);
    }
    const out = computeWindowedFeatures({ ts: allTs, key: idsAll(g.entity), values, ids, targetStart: nLookback, targetEnd: nLookback + n }, g.aggs);
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
