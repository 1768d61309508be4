/**
 * Data checks: the raw events (and labels) of a model checked against its spec, over apache-arrow
 * Tables and a listing of day partitions (lib/data/source.ts). One finding per problem, naming the
 * dataset, day, file and column, the value and the threshold; `error` findings fail `mlo data check`
 * and the feature backfill's partition, `warning` findings are reported and recorded.
 *
 * Checks: the columns the features use are present and of a usable type; null rates (the id, the
 * event time and entity keys: none allowed; other columns: `data.checks`); duplicate event ids within
 * a day and across the range; event times outside their day partition; empty and missing days;
 * files that landed after their day's end + `data.checks.arrival_allowance`; labels reported after
 * their maturity.
 */
import { exprColumns, parseExpr } from '../features/expr';
import { derivedText } from '../features/featureset';
import { DataType, Type, type Table, type Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { parseDuration } from '../core/duration';
import { addDays, daysBetween, type DayRange } from '../core/windows';
import { timestampMs } from '../features/arrow-io';
import type { FeatureSet } from '../features/featureset';
import type { ColumnStats, PartitionDataStats } from '../features/manifest';
import { DEFAULT_DATA_CHECKS, type DataChecksSpec } from '../spec/data-gates';
import type { DayListing, RawDataSource, RawFile } from './check-source';

export type Level = 'error' | 'warning';

export type CheckName =
  | 'unreadable'
  | 'missing-column'
  | 'column-type'
  | 'nulls'
  | 'infinite-values'
  | 'duplicate-ids'
  | 'out-of-day'
  | 'empty-day'
  | 'missing-day'
  | 'late-arrival'
  | 'late-label';

export type Finding = {
  level: Level;
  check: CheckName;
  dataset: 'events' | 'labels';
  day: string;
  /** s3:// URI of the file, when the finding is about one file. */
  file?: string;
  column?: string;
  value: number | string | null;
  threshold: number | string | null;
  message: string;
};

type Kind = 'integer' | 'timestamp' | 'numeric' | 'coded' | 'any';

/** A raw column the features read: the kinds of use it has, and whether it is a key (no null allowed). */
export type InputColumn = { name: string; kinds: Kind[]; key: boolean; why: string };

const KIND_HELP: Record<Kind, string> = {
  integer: 'an integer column (Int8–Int64)',
  timestamp: 'a timestamp (or date, or Int64 epoch ms) column',
  numeric: 'a numeric column (integer, float or boolean)',
  coded: 'a string, dictionary or integer column',
  any: 'any column',
};

/** Every raw column the feature set reads, in a stable order: id, time, then first use. */
export function inputColumnsOf(fs: Pick<FeatureSet, 'events' | 'columns' | 'derived' | 'aggregations' | 'slices'>) {
  const cols = new Map<string, InputColumn>();
  const add = (name: string, kind: Kind, why: string, key = false) => {
    const c = cols.get(name) ?? { name, kinds: [], key: false, why };
    if (!c.kinds.includes(kind)) c.kinds.push(kind);
    c.key ||= key;
    if (key) c.why = why;
    cols.set(name, c);
  };
  add(fs.events.id, 'integer', 'the event id', true);
  add(fs.events.timestamp, 'timestamp', 'the event time', true);
  for (const c of fs.columns) add(c, 'numeric', 'a feature column');
  // A derived expression's inputs: present, of any type (the expression's checker judges the types).
  for (const d of fs.derived)
    for (const c of exprColumns(parseExpr(derivedText(d.expr)))) add(c, 'any', `an input of ${d.name}`);
  for (const g of fs.aggregations) {
    add(g.entity, 'integer', 'an entity key', true);
    for (const a of g.aggs)
      if (a.of) add(a.of, a.fn === 'count_distinct' ? 'integer' : 'numeric', `aggregated by ${a.name}`);
  }
  for (const s of fs.slices) add(s, 'any', 'a slice');
  return [...cols.values()];
}

function typeOk(t: DataType, kind: Kind): boolean {
  switch (kind) {
    case 'integer':
      return t.typeId === Type.Int;
    case 'timestamp':
      return (
        DataType.isTimestamp(t) ||
        DataType.isDate(t) ||
        (t.typeId === Type.Int && (t as unknown as { bitWidth: number }).bitWidth === 64)
      );
    case 'numeric':
      return t.typeId === Type.Int || t.typeId === Type.Float || t.typeId === Type.Bool;
    case 'coded':
      return DataType.isUtf8(t) || DataType.isLargeUtf8(t) || DataType.isDictionary(t) || t.typeId === Type.Int;
    case 'any':
      return true;
  }
}

type NumericValues = { values: Float64Array; infinite: number };

/** A column's values as doubles, NaN for null (and for NaN); undefined for columns with no numeric value. */
function numericValues(v: Vector): NumericValues | undefined {
  const t = v.type as DataType;
  if (
    DataType.isTimestamp(t) ||
    DataType.isDate(t) ||
    (t.typeId === Type.Int && (t as unknown as { bitWidth: number }).bitWidth === 64)
  )
    return { values: timestampMs(v, '(stats)', '(stats)'), infinite: 0 };
  if (t.typeId !== Type.Int && t.typeId !== Type.Float && t.typeId !== Type.Bool) return undefined;
  const out = new Float64Array(v.length);
  let at = 0;
  let infinite = 0;
  for (const d of v.data) {
    const bm = d.nullCount > 0 ? d.nullBitmap : null;
    if (!bm && t.typeId !== Type.Bool) {
      // No null: one native conversion of the buffer, then a scan for infinities (floats only).
      out.set((d.values as Float64Array).subarray(0, d.length), at);
      if (t.typeId === Type.Float)
        for (let i = at; i < at + d.length; i++) if (out[i] === Infinity || out[i] === -Infinity) infinite++;
      at += d.length;
      continue;
    }
    for (let i = 0; i < d.length; i++) {
      const j = d.offset + i;
      if (bm && ((bm[j >> 3] ?? 0) & (1 << (j & 7))) === 0) out[at + i] = NaN;
      else {
        const x = t.typeId === Type.Bool ? (v.get(at + i) ? 1 : 0) : Number((d.values as Float64Array)[i]);
        if (x === Infinity || x === -Infinity) infinite++;
        out[at + i] = x;
      }
    }
    at += d.length;
  }
  return { values: out, infinite };
}

/** A column as doubles (NaN for null), or all NaN when it has no numeric values. */
function numbers(v: Vector): Float64Array {
  return numericValues(v)?.values ?? new Float64Array(v.length).fill(NaN);
}

/** Nulls (and NaN), min and max of one column over one or more files' vectors. */
function statsOf(vectors: Vector[]): ColumnStats & { rows: number; infinite: number; values: Float64Array[] } {
  const values: Float64Array[] = [];
  let rows = 0;
  let nulls = 0;
  let infinite = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of vectors) {
    rows += v.length;
    const num = numericValues(v);
    if (!num) {
      nulls += v.nullCount;
      continue;
    }
    infinite += num.infinite;
    values.push(num.values);
    const xs = num.values;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      if (x !== x)
        nulls++; // NaN
      else if (x < min) {
        if (x !== -Infinity) min = x;
      }
      if (x > max && x !== Infinity) max = x;
    }
  }
  return {
    rows,
    nulls,
    nullRate: rows === 0 ? 0 : nulls / rows,
    min: min === Infinity ? null : min,
    max: max === -Infinity ? null : max,
    infinite,
    values,
  };
}

export type DayFile = { file: string; table: Table };

/** What checking one day of events yields: its findings, its statistics, and its event ids (for cross-day checks). */
export type DayCheck = { findings: Finding[]; stats: PartitionDataStats; ids: Float64Array; times: Float64Array };

const DAY_MS = 86_400_000;

const fmtRate = (x: number) => (x === 0 ? '0' : x.toFixed(4));
const iso = (ms: number) => (Number.isNaN(ms) ? 'null' : new Date(ms).toISOString());

/**
 * Checks one day partition of events (one or more files): columns present and usable, null rates,
 * infinite values, duplicate ids within the day, event times outside the day, an empty day.
 */
export function checkEventDay(
  fs: Pick<FeatureSet, 'events' | 'columns' | 'derived' | 'aggregations' | 'slices'>,
  checks: DataChecksSpec | undefined,
  day: string,
  files: DayFile[],
): DayCheck {
  const cfg = checks ?? DEFAULT_DATA_CHECKS;
  const findings: Finding[] = [];
  const where = (f?: string) => (f ? { file: f } : {});
  const columns: Record<string, ColumnStats> = {};
  const rows = files.reduce((n, f) => n + f.table.numRows, 0);
  const usable = new Map<string, Vector[]>();
  /** Each usable column's values as doubles (numeric, integer and time columns), computed once. */
  const valuesOf = new Map<string, Float64Array[]>();
  for (const col of inputColumnsOf(fs)) {
    const vectors: Vector[] = [];
    let ok = true;
    for (const f of files) {
      const v = f.table.getChild(col.name);
      if (!v) {
        const have = f.table.schema.fields.map((x) => x.name).join(', ');
        findings.push({
          level: 'error',
          check: 'missing-column',
          dataset: 'events',
          day,
          ...where(f.file),
          column: col.name,
          value: null,
          threshold: null,
          message: `column "${col.name}" (${col.why}) is missing; the file's columns are: ${have}`,
        });
        ok = false;
        continue;
      }
      const bad = col.kinds.find((k) => !typeOk(v.type as DataType, k));
      if (bad) {
        findings.push({
          level: 'error',
          check: 'column-type',
          dataset: 'events',
          day,
          ...where(f.file),
          column: col.name,
          value: String(v.type),
          threshold: KIND_HELP[bad],
          message: `column "${col.name}" (${col.why}) is ${String(v.type)}; it must be ${KIND_HELP[bad]}`,
        });
        ok = false;
        continue;
      }
      vectors.push(v);
    }
    if (!ok && vectors.length === 0) continue;
    usable.set(col.name, vectors);
    const s = statsOf(vectors);
    if (s.values.length === vectors.length) valuesOf.set(col.name, s.values);
    columns[col.name] = { nulls: s.nulls, nullRate: s.nullRate, min: s.min, max: s.max };
    const file = files.length === 1 ? files[0]!.file : undefined;
    if (s.infinite > 0)
      findings.push({
        level: 'error',
        check: 'infinite-values',
        dataset: 'events',
        day,
        ...where(file),
        column: col.name,
        value: s.infinite,
        threshold: 0,
        message: `column "${col.name}" holds ${s.infinite} infinite value(s); none is allowed`,
      });
    const declared = cfg.max_null_rate[col.name];
    const [level, threshold, whose]: [Level, number, string] = col.key
      ? ['error', 0, `${col.why}: no null allowed`]
      : declared !== undefined
        ? ['error', declared, 'data.checks.max_null_rate']
        : ['warning', cfg.warn_null_rate, 'data.checks.warn_null_rate'];
    if (s.rows > 0 && s.nullRate > threshold)
      findings.push({
        level,
        check: 'nulls',
        dataset: 'events',
        day,
        ...where(file),
        column: col.name,
        value: s.nullRate,
        threshold,
        message:
          `column "${col.name}" null rate ${fmtRate(s.nullRate)} (${s.nulls} of ${s.rows} rows) ` +
          `> ${threshold} (${whose})`,
      });
  }

  const file = files.length === 1 ? files[0]!.file : undefined;
  const idName = fs.events.id;
  const tsName = fs.events.timestamp;
  const ids = valuesOf.has(idName) ? concat(valuesOf.get(idName)!) : empty();
  const times = valuesOf.has(tsName) ? concat(valuesOf.get(tsName)!) : empty();

  // Duplicate ids within the day: adjacent equal ids once sorted (NaN, for null, sorts last).
  const sorted = Float64Array.from(ids).sort();
  const dupExamples: number[] = [];
  let dups = 0;
  for (let i = 1; i < sorted.length; i++) {
    const id = sorted[i]!;
    if (id !== sorted[i - 1]) continue;
    dups++;
    if (dupExamples.length < 3 && dupExamples[dupExamples.length - 1] !== id) dupExamples.push(id);
  }
  if (dups > 0)
    findings.push({
      level: 'error',
      check: 'duplicate-ids',
      dataset: 'events',
      day,
      ...where(file),
      column: idName,
      value: dups,
      threshold: 0,
      message: `${dups} row(s) repeat a ${idName} of the same day (e.g. ${dupExamples.join(', ')}); ids must be unique`,
    });

  // Event times outside the day partition.
  const start = Date.parse(`${day}T00:00:00Z`);
  let outside = 0;
  let firstOutside = NaN;
  for (const x of times) {
    if (Number.isNaN(x)) continue;
    if (x < start || x >= start + DAY_MS) {
      if (outside === 0) firstOutside = x;
      outside++;
    }
  }
  if (outside > 0)
    findings.push({
      level: 'error',
      check: 'out-of-day',
      dataset: 'events',
      day,
      ...where(file),
      column: tsName,
      value: outside,
      threshold: 0,
      message:
        `${outside} row(s) have ${tsName} outside the day ${day} (first: ${iso(firstOutside)}); ` +
        'the event log is mis-partitioned',
    });

  if (rows === 0 && files.length > 0)
    findings.push({
      level: fs.events.allowGaps ? 'warning' : 'error',
      check: 'empty-day',
      dataset: 'events',
      day,
      ...where(file),
      value: 0,
      threshold: 1,
      message: `the day partition holds no row${fs.events.allowGaps ? ' (data.events.allow_gaps: true)' : ''}`,
    });

  const warnings = findings.filter((f) => f.level === 'warning').map(findingLine);
  return { findings, stats: { rows, columns, warnings }, ids, times };
}

function empty(): Float64Array {
  return new Float64Array(0);
}

function concat(parts: Float64Array[]): Float64Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One finding as one line: level, dataset, day, file, and the message with its value and threshold. */
export function findingLine(f: Finding): string {
  const level = f.level === 'error' ? 'ERROR' : 'WARN ';
  return `${level} ${f.dataset} day=${f.day}${f.file ? ` ${f.file}` : ''}: ${f.check}: ${f.message}`;
}

/** Files of a day that landed later than the day's end + the allowance. */
export function lateFiles(
  dataset: Finding['dataset'],
  day: string,
  files: RawFile[],
  allowanceMs: number,
  allowanceText: string,
): Finding[] {
  const deadline = Date.parse(`${day}T00:00:00Z`) + DAY_MS + allowanceMs;
  return files
    .filter((f) => f.lastModified && f.lastModified.getTime() > deadline)
    .map((f) => ({
      level: 'warning' as const,
      check: 'late-arrival' as const,
      dataset,
      day,
      file: f.uri,
      value: f.lastModified!.toISOString(),
      threshold: iso(deadline),
      message:
        `landed at ${f.lastModified!.toISOString()}, after ${iso(deadline)} ` +
        `(the day's end + ${allowanceText}, data.checks.arrival_allowance)`,
    }));
}

export type DataCheckReport = {
  model: string;
  range: DayRange;
  checkedAt: string;
  events: { prefix: string; days: { day: string; files: number; bytes: number; rows: number }[] };
  labels: { prefix: string; days: { day: string; files: number; bytes: number; rows: number }[] };
  findings: Finding[];
  errors: number;
  warnings: number;
  passed: boolean;
};

export type DataCheckInput = {
  model: string;
  featureSet: FeatureSet;
  checks?: DataChecksSpec;
  range: DayRange;
  source: RawDataSource;
  /** Label days after `now` cannot have arrived yet: they are not looked for. */
  now?: Date;
  signal?: AbortSignal;
};

/** Reads one day's files; an unreadable file is an error finding (and is left out). */
async function readDay(
  source: RawDataSource,
  dataset: Finding['dataset'],
  day: string,
  files: RawFile[],
  findings: Finding[],
  signal?: AbortSignal,
): Promise<DayFile[]> {
  const out: DayFile[] = [];
  for (const f of files) {
    try {
      out.push({ file: f.uri, table: await source.read(f, signal) });
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      findings.push({
        level: 'error',
        check: 'unreadable',
        dataset,
        day,
        file: f.uri,
        value: null,
        threshold: null,
        message: err.message,
      });
    }
  }
  return out;
}

/**
 * Checks a model's raw events over a day range, and the labels that can report on them (label days
 * from the range's first day to its end + the label maturity, up to today).
 */
export async function runDataCheck(input: DataCheckInput): Promise<DataCheckReport> {
  const { featureSet: fs, range, source, signal } = input;
  const cfg = input.checks ?? DEFAULT_DATA_CHECKS;
  const allowanceMs = parseDuration(cfg.arrival_allowance) ?? 0;
  const now = input.now ?? new Date();
  const findings: Finding[] = [];
  const [events, labels]: [DayListing, DayListing] = await Promise.all([
    source.list(fs.events.prefix, signal),
    source.list(fs.labels.prefix, signal),
  ]);
  const report: DataCheckReport = {
    model: input.model,
    range,
    checkedAt: now.toISOString(),
    events: { prefix: fs.events.prefix, days: [] },
    labels: { prefix: fs.labels.prefix, days: [] },
    findings,
    errors: 0,
    warnings: 0,
    passed: true,
  };
  const firstSeen = new Map<number, string>();
  const eventTime = new Map<number, number>();
  for (const day of daysBetween(range)) {
    const files = events.get(day);
    if (!files) {
      findings.push({
        level: fs.events.allowGaps ? 'warning' : 'error',
        check: 'missing-day',
        dataset: 'events',
        day,
        value: null,
        threshold: null,
        message:
          `no partition under ${fs.events.prefix}day=${day}/` +
          (fs.events.allowGaps ? ' (data.events.allow_gaps: true)' : '; load it or set data.events.allow_gaps: true'),
      });
      continue;
    }
    const tables = await readDay(source, 'events', day, files, findings, signal);
    const c = checkEventDay(fs, cfg, day, tables);
    findings.push(...c.findings, ...lateFiles('events', day, files, allowanceMs, cfg.arrival_allowance));
    report.events.days.push({
      day,
      files: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      rows: c.stats.rows,
    });
    // Ids seen on an earlier day of the range.
    let again = 0;
    const examples: string[] = [];
    const seenToday = new Set<number>();
    for (let i = 0; i < c.ids.length; i++) {
      const id = c.ids[i]!;
      if (Number.isNaN(id) || seenToday.has(id)) continue;
      seenToday.add(id);
      const before = firstSeen.get(id);
      if (before !== undefined) {
        again++;
        if (examples.length < 3) examples.push(`${id} first on ${before}`);
      } else {
        firstSeen.set(id, day);
        eventTime.set(id, c.times[i] ?? NaN);
      }
    }
    if (again > 0)
      findings.push({
        level: 'error',
        check: 'duplicate-ids',
        dataset: 'events',
        day,
        ...(files.length === 1 ? { file: files[0]!.uri } : {}),
        column: fs.events.id,
        value: again,
        threshold: 0,
        message: `${again} ${fs.events.id}(s) already seen on an earlier day of the range (e.g. ${examples.join(', ')})`,
      });
  }

  await checkLabels(input, labels, eventTime, allowanceMs, now, report);
  findings.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  report.errors = findings.filter((f) => f.level === 'error').length;
  report.warnings = findings.length - report.errors;
  report.passed = report.errors === 0;
  return report;
}

/** The label days that can report on the range's events: key and time columns, nulls, days, lateness, maturity. */
async function checkLabels(
  input: DataCheckInput,
  labels: DayListing,
  eventTime: Map<number, number>,
  allowanceMs: number,
  now: Date,
  report: DataCheckReport,
): Promise<void> {
  const { featureSet: fs, source, signal } = input;
  const cfg = input.checks ?? DEFAULT_DATA_CHECKS;
  const findings = report.findings;
  const maturityMs = fs.labels.maturityMs;
  const lastDay = addDays(input.range.to, Math.ceil(maturityMs / DAY_MS));
  const today = now.toISOString().slice(0, 10);
  const end = lastDay < today ? lastDay : addDays(today, 1);
  for (const day of daysBetween({ from: input.range.from, to: end })) {
    const files = labels.get(day);
    if (!files) continue;
    const tables = await readDay(source, 'labels', day, files, findings, signal);
    findings.push(...lateFiles('labels', day, files, allowanceMs, cfg.arrival_allowance));
    const rows = tables.reduce((n, t) => n + t.table.numRows, 0);
    report.labels.days.push({ day, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), rows });
    const start = Date.parse(`${day}T00:00:00Z`);
    let late = 0;
    let joined = 0;
    let outside = 0;
    for (const t of tables) {
      const cols: [string, Kind, string][] = [
        [fs.labels.key, 'integer', 'the label key'],
        [fs.labels.timestamp, 'timestamp', 'the label time'],
      ];
      const vals: Float64Array[] = [];
      for (const [name, kind, why] of cols) {
        const v = t.table.getChild(name);
        const base = { dataset: 'labels' as const, day, file: t.file, column: name };
        if (!v) {
          const have = t.table.schema.fields.map((x) => x.name).join(', ');
          findings.push({
            ...base,
            level: 'error',
            check: 'missing-column',
            value: null,
            threshold: null,
            message: `column "${name}" (${why}) is missing; the file's columns are: ${have}`,
          });
          continue;
        }
        if (!typeOk(v.type as DataType, kind)) {
          findings.push({
            ...base,
            level: 'error',
            check: 'column-type',
            value: String(v.type),
            threshold: KIND_HELP[kind],
            message: `column "${name}" (${why}) is ${String(v.type)}; it must be ${KIND_HELP[kind]}`,
          });
          continue;
        }
        const s = statsOf([v]);
        if (s.nulls > 0)
          findings.push({
            ...base,
            level: 'error',
            check: 'nulls',
            value: s.nullRate,
            threshold: 0,
            message: `column "${name}" null rate ${fmtRate(s.nullRate)} (${s.nulls} of ${s.rows} rows) > 0 (${why}: no null allowed)`,
          });
        vals.push(numbers(v));
      }
      if (vals.length < 2) continue;
      const [keys, reported] = vals as [Float64Array, Float64Array];
      for (let i = 0; i < keys.length; i++) {
        const r = reported[i]!;
        if (!Number.isNaN(r) && (r < start || r >= start + DAY_MS)) outside++;
        const at = eventTime.get(keys[i]!);
        if (at === undefined || Number.isNaN(at) || Number.isNaN(r)) continue;
        joined++;
        if (r - at > maturityMs) late++;
      }
    }
    if (outside > 0)
      findings.push({
        level: 'error',
        check: 'out-of-day',
        dataset: 'labels',
        day,
        column: fs.labels.timestamp,
        value: outside,
        threshold: 0,
        message: `${outside} label row(s) have ${fs.labels.timestamp} outside the day ${day}`,
      });
    if (late > 0)
      findings.push({
        level: 'warning',
        check: 'late-label',
        dataset: 'labels',
        day,
        column: fs.labels.timestamp,
        value: late,
        threshold: `${Math.round(maturityMs / DAY_MS)}d`,
        message:
          `${late} of ${joined} label(s) joined to the range's events were reported more than the ` +
          `${Math.round(maturityMs / DAY_MS)}d maturity after their event: training counts those events as negatives`,
      });
  }
}

/** The report as text: one line per finding, then a summary line. */
export function reportText(r: DataCheckReport): string {
  const rows = r.events.days.reduce((n, d) => n + d.rows, 0);
  const lines = r.findings.map(findingLine);
  lines.push(
    `${r.passed ? 'passed' : 'FAILED'}: ${r.model} ${r.range.from}..${r.range.to}: ${r.events.days.length} event day(s), ` +
      `${rows} rows, ${r.labels.days.length} label day(s); ${r.errors} error(s), ${r.warnings} warning(s)`,
  );
  return lines.join('\n');
}
