/**
 * One day partition of a feature snapshot, computed from the day's events, the lookback
 * days its longest window needs, and the labels known at the cut-off. Pure: bytes in,
 * bytes out, so a retried computation writes the same bytes.
 */
import { Float64, makeData, makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { codedColumn, idColumn, numericColumn, requireColumn, timestampMs } from './arrow-io';
import { checkEventDay, findingLine } from '../data/check';
import type { LabelValueRule } from '../spec/labels';
import { derivedText, type FeatureSet } from './featureset';
import { derivedColumn } from './expr';
import { computeWindowedFeatures } from './kernel';
import type { PartitionDataStats } from './manifest';

export type LoadedDay = { day: string; where: string; table: Table };

/**
 * Labels known at the cut-off. `labels`: event id → its class (1 positive, 0 negative), from the
 * latest report before the cut-off; `absent`: the class of a matured event without such a report
 * (presence-based labels: 0; an explicit label column: null, unknown, unless the spec says `negative`).
 */
export type LabelIndex = { labels: Map<number, number>; absent: number | null };

export const LABEL_COLUMN = 'label';

/** The partition's counts, and its raw input statistics for the manifest (lib/data/check.ts). */
export type PartitionStats = { rows: number; labeledRows: number; positives: number; data: PartitionDataStats };

const DAY_MS = 86_400_000;

/**
 * The labels reported before `cutoffMs`. Without `rule` (presence-based) any report makes its
 * event positive. With `rule` (an explicit label column) each report carries a class, and the
 * latest report before the cut-off wins; reports at the same instant resolve to the positive class,
 * whatever the file or row order. A value the rule does not map is bad input (or skipped:
 * `unmapped: ignore`). Reports at or after the cut-off are never read.
 */
export function buildLabelIndex(
  tables: LoadedDay[],
  keyColumn: string,
  timeColumn: string,
  cutoffMs: number,
  rule?: LabelValueRule,
): LabelIndex {
  const labels = new Map<number, number>();
  const latest = new Map<number, number>();
  for (const t of tables) {
    const ids = eventIds(requireColumn(t.table, keyColumn, t.where, 'the label join key'), t.where, keyColumn);
    const at = timestampMs(requireColumn(t.table, timeColumn, t.where, 'the label time'), t.where, timeColumn);
    const classOf = rule ? labelClasses(t, rule) : undefined;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const rep = at[i]!;
      if (Number.isNaN(id) || !(rep < cutoffMs)) continue; // arrived at or after the cut-off: unknown at training time
      if (!classOf) {
        labels.set(id, 1);
        continue;
      }
      const y = classOf(i);
      if (y === undefined) continue; // unmapped, and the spec says ignore
      const prev = latest.get(id);
      if (prev === undefined || rep > prev || (rep === prev && y > labels.get(id)!)) {
        latest.set(id, rep);
        labels.set(id, y);
      }
    }
  }
  return { labels, absent: rule ? (rule.absent === 'negative' ? 0 : null) : 0 };
}

/** How to fix an unmapped label value, for the error message. */
function unmappedFix(rule: LabelValueRule, shown: string): string {
  const example = `{ ${/^[A-Za-z_][A-Za-z0-9_]*$/.test(shown) ? shown : JSON.stringify(shown)}: 1 }`;
  return rule.values
    ? `add it to data.labels.values (e.g. ${example} or 0), or set data.labels.unmapped: ignore to skip such reports`
    : 'a label column without data.labels.values must hold 0/1 (numeric) or true/false; declare data.labels.values ' +
        `(e.g. ${example}) or set data.labels.unmapped: ignore to skip such reports`;
}

/**
 * Row → class (1/0) of one labels file's label column, or undefined for a report to skip; an
 * unmapped value (or null) is bad input naming the file, the row, the value and the fix.
 */
function labelClasses(t: LoadedDay, rule: LabelValueRule): (row: number) => number | undefined {
  const name = rule.column;
  const v = requireColumn(t.table, name, t.where, 'the label column (data.labels.column)');
  const type = String(v.type);
  const isString = /^(Utf8|LargeUtf8|Dictionary)/i.test(type);
  const isBool = /^Bool/i.test(type);
  const fail = (row: number, value: string): undefined => {
    if (rule.unmapped === 'ignore') return undefined;
    throw new BadInputError(
      `${t.where}: row ${row} of the label column "${name}" holds ${value === 'null' ? 'null' : JSON.stringify(value)}, ` +
        `which is not a label: ${unmappedFix(rule, value)}`,
    );
  };
  if (isString) {
    if (!rule.values)
      throw new BadInputError(
        `${t.where}: the label column "${name}" is ${type}; map its values to 1 (bad) and 0 (good) with ` +
          'data.labels.values, e.g. { bad: 1, good: 0 }',
      );
    const values = rule.values;
    const { codes, dict } = codedColumn(v, t.where, name);
    const mapped = dict.map((s) => (Object.hasOwn(values, s) ? values[s] : undefined));
    return (row) => {
      const c = codes[row]!;
      const y = c < 0 ? undefined : mapped[c];
      return y ?? fail(row, c < 0 ? 'null' : dict[c]!);
    };
  }
  if (isBool) {
    return (row) => {
      const b = v.get(row) as boolean | null;
      if (b === null) return fail(row, 'null');
      if (!rule.values) return b ? 1 : 0;
      return rule.values[String(b)] ?? fail(row, String(b));
    };
  }
  const x = numericColumn(v, t.where, name);
  const values = rule.values;
  return (row) => {
    const y = x[row]!;
    if (Number.isNaN(y)) return fail(row, 'null');
    if (values) return values[String(y)] ?? fail(row, String(y));
    return y === 0 || y === 1 ? y : fail(row, String(y));
  };
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

/** The target day's event times; a row outside its day is bad input (the event log is mis-partitioned). */
function targetTimes(target: LoadedDay, tsName: string): { ts: Float64Array; dayStart: number; firstTs: number } {
  const t = target.table;
  const n = t.numRows;
  const ts = timestampMs(requireColumn(t, tsName, target.where, 'the event time'), target.where, tsName);
  let minTs = Infinity;
  for (let i = 0; i < n; i++) if (ts[i]! < minTs) minTs = ts[i]!;
  const dayStart = Date.parse(`${target.day}T00:00:00Z`);
  for (let i = 0; i < n; i++) {
    const x = ts[i]!;
    if (!(x >= dayStart && x < dayStart + DAY_MS)) {
      const at = Number.isNaN(x) ? 'null' : new Date(x).toISOString();
      throw new BadInputError(
        `${target.where}: row ${i} has ${tsName} = ${at}, outside its day partition ${target.day}; ` +
          'the event log is mis-partitioned',
      );
    }
  }
  return { ts, dayStart, firstTs: Number.isFinite(minTs) ? minTs : dayStart };
}

/**
 * Input columns of the lookback days and then the target day (the last entry), each read once
 * per partition however many aggregation groups use it.
 */
class DayColumns {
  private numeric = new Map<string, Float64Array[]>();
  private ids = new Map<string, Int32Array[]>();

  constructor(private readonly days: LoadedDay[]) {}

  numericOf(name: string): Float64Array[] {
    let c = this.numeric.get(name);
    if (!c) {
      c = this.days.map((d) =>
        numericColumn(requireColumn(d.table, name, d.where, 'a numeric feature input'), d.where, name),
      );
      this.numeric.set(name, c);
    }
    return c;
  }

  idsOf(name: string): Int32Array[] {
    let c = this.ids.get(name);
    if (!c) {
      c = this.days.map((d) => idColumn(requireColumn(d.table, name, d.where, 'an entity key or id'), d.where, name));
      this.ids.set(name, c);
    }
    return c;
  }
}

/** A derived column: its expression evaluated column-wise over the target rows (bool → 1/0, null → NaN). */
function derivedFeature(target: LoadedDay, d: FeatureSet['derived'][number]): Float64Array {
  return derivedColumn(target.table, target.where, d.name, derivedText(d.expr));
}

/** Where the target rows' windows reach back to, and the lookback days' times and spans. */
type Lookback = { horizon: number; firstTs: number; dayStart: number; ts: Float64Array[]; spans: DaySpan[] };

/**
 * One aggregation group's windowed features: one kernel call over the target rows and the
 * lookback rows the group can reach: within its longest window of the day's first event, and of
 * an entity that has a target row. The kernel never reads any other row (older rows are outside
 * every window of every target, other entities' rows are dropped by its layout), so leaving them
 * out changes no output bit; it saves re-laying-out 30 days of lookback for a 10-minute window.
 */
function windowedFeatures(
  g: FeatureSet['aggregations'][number],
  columns: DayColumns,
  lb: Lookback,
  targetTs: Float64Array,
): Record<string, Float64Array> {
  const n = targetTs.length;
  const valueDays: Record<string, Float64Array[]> = {};
  const idDaysOf: Record<string, Int32Array[]> = {};
  for (const a of g.aggs) {
    if (!a.of) continue;
    if (a.fn === 'count_distinct') idDaysOf[a.of] ??= columns.idsOf(a.of);
    else valueDays[a.of] ??= columns.numericOf(a.of);
  }
  const keyDays = columns.idsOf(g.entity);
  const reach = Math.max(...g.aggs.map((a) => a.windowMs ?? Infinity));
  const from = Math.max(lb.horizon, lb.firstTs - reach);
  const sel = selectLookbackRows(lb.ts, lb.spans, keyDays, from, lb.dayStart);
  const m = sel.reduce((s, x) => s + x.length, 0);
  const gatherF = (days: Float64Array[]) => gatherRows(days, sel, m, n, new Float64Array(m + n));
  const gatherI = (days: Int32Array[]) => gatherRows(days, sel, m, n, new Int32Array(m + n));
  const values: Record<string, Float64Array> = {};
  const ids: Record<string, Int32Array> = {};
  for (const [name, days] of Object.entries(valueDays)) values[name] = gatherF(days);
  for (const [name, days] of Object.entries(idDaysOf)) ids[name] = gatherI(days);
  return computeWindowedFeatures(
    { ts: gatherF([...lb.ts, targetTs]), key: gatherI(keyDays), values, ids, targetStart: m, targetEnd: m + n },
    g.aggs,
  );
}

/**
 * The label column: for events old enough to have matured (event time at or before
 * `matureBefore`, the cut-off minus the maturity), the class of their latest report before the
 * cut-off, else the index's `absent` class; null for younger events and for an absent null.
 */
function labelColumn(
  ids: Float64Array,
  targetTs: Float64Array,
  labels: LabelIndex,
  matureBefore: number,
): { vector: Vector; labeledRows: number; positives: number } {
  const n = targetTs.length;
  const label = new Float64Array(n);
  const valid = new Uint8Array(Math.ceil(n / 8));
  let labeledRows = 0;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (!(targetTs[i]! <= matureBefore)) continue;
    const y = labels.labels.get(ids[i]!) ?? labels.absent;
    if (y === null) continue;
    label[i] = y;
    valid[i >> 3]! |= 1 << (i & 7);
    labeledRows++;
    positives += y;
  }
  return { vector: float64Vector(label, valid, n - labeledRows), labeledRows, positives };
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
  const tsName = fs.events.timestamp;
  const { ts: targetTs, dayStart, firstTs } = targetTimes(target, tsName);

  // Lookback rows: only those the longest window can reach.
  const lbTs = lookback.map((d) =>
    timestampMs(requireColumn(d.table, tsName, d.where, 'the event time'), d.where, tsName),
  );
  const lb: Lookback = { horizon: firstTs - fs.lookbackMs, firstTs, dayStart, ts: lbTs, spans: lbTs.map(spanOf) };
  const columns = new DayColumns([...lookback, target]);

  // Raw numeric columns and derived columns: target rows only; then the windowed aggregations.
  const features: Record<string, Float64Array> = {};
  for (const c of fs.columns)
    features[c] = numericColumn(requireColumn(t, c, target.where, 'a feature column'), target.where, c);
  for (const d of fs.derived) features[d.name] = derivedFeature(target, d);
  for (const g of fs.aggregations) Object.assign(features, windowedFeatures(g, columns, lb, targetTs));

  const idVec = requireColumn(t, fs.events.id, target.where, 'the event id');
  const ids = eventIds(idVec, target.where, fs.events.id);
  const label = labelColumn(ids, targetTs, labels, cutoffMs - fs.labels.maturityMs);

  const out: Record<string, Vector> = {
    [fs.events.id]: idVec,
    [tsName]: requireColumn(t, tsName, target.where, 'the event time'),
    [LABEL_COLUMN]: label.vector,
  };
  for (const s of fs.slices) out[s] = requireColumn(t, s, target.where, 'a slice column');
  for (const f of fs.featureOrder) {
    const v = features[f];
    if (!v) throw new Error(`internal: feature ${f} was not computed`);
    out[f] = makeVector(v);
  }
  const table = new Table(out);
  const bytes = tableToIPC(table, 'file');
  const data = dataStats(fs, target);
  return {
    table,
    bytes,
    stats: { rows: t.numRows, labeledRows: label.labeledRows, positives: label.positives, data },
  };
}

/** The target day's data checks (`mlo data check`'s, per partition): errors fail the partition, warnings are kept. */
function dataStats(fs: FeatureSet, target: LoadedDay): PartitionDataStats {
  const check = checkEventDay(fs, fs.checks, target.day, [{ file: target.where, table: target.table }]);
  const errors = check.findings.filter((f) => f.level === 'error');
  if (errors.length > 0)
    throw new BadInputError(
      `the data checks of ${target.day} failed:\n${errors.map((f) => `  - ${findingLine(f)}`).join('\n')}\n` +
        'Fix the data, or the thresholds in data.checks of the model spec; `mlo data check` reports every finding.',
    );
  return check.stats;
}
