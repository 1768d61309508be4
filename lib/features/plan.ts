/**
 * What a run or a backfill will do, decided before anything runs: the lookback coverage of a
 * day range (which days' longest window reaches before the first day of raw events, and whether
 * that is refused or those days are warm-up days left out of every window), and a run's plan:
 * its windows, the partitions to compute or reuse, the label maturity and the labeled share
 * expected per window. Pure: the caller lists S3 (see plannedPartitions in activities/features.ts).
 */
import { BadInputError } from '../core/errors';
import { addDays, daysBetween, type DayRange, type RunWindows } from '../core/windows';
import type { FeatureSet } from './featureset';

const DAY_MS = 86_400_000;

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** A duration in ms written the way specs write it: 30d, 36h, 10m. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % DAY_MS === 0) return `${ms / DAY_MS}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** Consecutive days collapsed into ranges: "2026-01-01..2026-01-05, 2026-01-09". */
export function dayRanges(days: string[]): string {
  const sorted = [...days].sort();
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === addDays(sorted[j]!, 1)) j++;
    out.push(j === i ? sorted[i]! : `${sorted[i]}..${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

export type LookbackCoverage = {
  /** How far before a row its longest window reaches. */
  lookbackMs: number;
  /** The first and last day of raw events; null when there are none. */
  firstAvailableDay: string | null;
  lastAvailableDay: string | null;
  /** The first day whose every row has its whole lookback inside the raw data (null: no raw data). */
  firstCompleteDay: string | null;
  /** The earliest raw day the range's first day needs. */
  needsFrom: string;
  /** Days of the range whose lookback reaches before the first raw day, ascending. */
  incompleteDays: string[];
  /** What happens to them: refused (the default) or computed and left out of every window. */
  warmup: 'refuse' | 'exclude';
};

/**
 * The lookback coverage of `range`. A day is complete when its first instant minus the lookback is
 * at or after the first raw day's first instant (day granularity: a 10-minute window makes the first
 * raw day itself incomplete, since its first rows' windows reach into the day before).
 */
export function lookbackCoverage(
  fs: Pick<FeatureSet, 'lookbackMs' | 'warmup'>,
  range: DayRange,
  eventDays: Iterable<string>,
): LookbackCoverage {
  const days = [...eventDays].sort();
  const first = days[0] ?? null;
  const lookbackDays = Math.ceil(fs.lookbackMs / DAY_MS);
  const firstCompleteDay = first === null ? null : addDays(first, lookbackDays);
  const incompleteDays =
    firstCompleteDay === null ? [] : daysBetween(range).filter((d) => dayStart(d) < dayStart(firstCompleteDay));
  return {
    lookbackMs: fs.lookbackMs,
    firstAvailableDay: first,
    lastAvailableDay: days[days.length - 1] ?? null,
    firstCompleteDay,
    needsFrom: new Date(dayStart(range.from) - fs.lookbackMs).toISOString().slice(0, 10),
    incompleteDays,
    warmup: fs.warmup ?? 'refuse',
  };
}

/** The days left out of every window: the incomplete days when the spec declares a warm-up. */
export function warmupDays(c: LookbackCoverage): string[] {
  return c.warmup === 'exclude' ? c.incompleteDays : [];
}

/**
 * The refusal of a range with incomplete lookbacks and no declared warm-up: names the first raw
 * day, the days affected and the fixes (the exact --from, earlier data, or features.warmup: exclude).
 */
export function lookbackRefusal(c: LookbackCoverage, where: string): BadInputError | undefined {
  if (c.warmup === 'exclude' || c.incompleteDays.length === 0 || !c.firstCompleteDay) return undefined;
  const n = c.incompleteDays.length;
  return new BadInputError(
    `the longest feature window (${formatDuration(c.lookbackMs)}) of ${n} day${n > 1 ? 's' : ''} ` +
      `(${dayRanges(c.incompleteDays)}) reaches before the first day of raw events under ${where} ` +
      `(${c.firstAvailableDay}): their windowed features would be computed from partial history, unlike ` +
      `what serving sees. Move --from to ${c.firstCompleteDay} (the first day with a complete lookback), ` +
      `load raw events from ${c.needsFrom} on, or declare features.warmup: exclude in the model spec ` +
      '(those days are computed but left out of training, evaluation and shadow windows).',
  );
}

/** One day partition of the snapshot as planned: computed, reused (its content-addressed output exists) or missing. */
export type PlannedPartition = {
  day: string;
  action: 'compute' | 'reuse' | 'missing';
  /** s3://… of the output (compute, reuse). */
  uri?: string;
  /** The reused output's counts. */
  rows?: number;
  labeledRows?: number;
  positives?: number;
  /** Why it is missing (bad input the partition would fail with). */
  problem?: string;
};

export type WindowName = 'training' | 'validation' | 'holdout' | 'shadow';

export type WindowPlan = {
  name: WindowName;
  from: string;
  /** Exclusive. */
  to: string;
  days: number;
  /** Warm-up days inside the window: left out. */
  excludedDays: string[];
  /**
   * The share of the window's rows expected to carry a label: the share of its (non-excluded) time
   * at or before the maturity limit, events assumed spread evenly. With an explicit label column
   * whose absent reports are null it is an upper bound ("at most").
   */
  expectedLabeledShare: number | null;
  labeledShareBound: 'expected' | 'at most';
  /** Counts of the reused partitions, when every non-excluded day of the window is reused. */
  known?: { rows: number; labeledRows: number; positives: number };
};

export type RunPlan = {
  model: string;
  asOf: string;
  labelCutoff: string;
  labels: {
    mode: 'presence' | 'column';
    prefix: string;
    column?: string;
    maturity: string;
    /** Events at or before this instant (the cut-off minus the maturity) get a label; later ones are null. */
    matureBefore: string;
    rule: string;
  };
  lookback: LookbackCoverage & { longestWindow: string };
  windows: WindowPlan[];
  snapshot: {
    from: string;
    to: string;
    days: number;
    featureSetHash: string;
    outputPrefix: string;
    compute: string[];
    reuse: string[];
    missing: string[];
    excluded: string[];
  };
  partitions: PlannedPartition[];
  /** Bad input the run would fail with; empty when it can run. */
  problems: string[];
};

function labelRule(fs: FeatureSet, maturity: string): string {
  const v = fs.labels.value;
  const young = `events younger than the maturity (${maturity}) are null`;
  if (!v)
    return `a report under ${fs.labels.prefix} before the cut-off makes a matured event positive (1), none makes it 0; ${young}`;
  const mapping = v.values
    ? `mapped by ${Object.entries(v.values)
        .map(([k, c]) => `${k} → ${c}`)
        .join(', ')}`
    : 'read as 0/1';
  return (
    `column "${v.column}" (${mapping}) of the latest report before the cut-off (ties: 1 wins); ` +
    `no report: ${v.absent === 'negative' ? '0' : 'null'}; unmapped value: ${v.unmapped === 'ignore' ? 'report skipped' : 'bad input'}; ${young}`
  );
}

function labeledShare(days: string[], matureBeforeMs: number): number | null {
  if (days.length === 0) return null;
  const sum = days.reduce((s, d) => s + Math.min(1, Math.max(0, (matureBeforeMs - dayStart(d)) / DAY_MS)), 0);
  return sum / days.length;
}

/**
 * A run's plan from its windows, the raw event days and its partitions as planned. Problems: the
 * lookback refusal, missing partitions, windows left without a usable day.
 */
export function buildRunPlan(i: {
  model: string;
  featureSet: FeatureSet;
  windows: RunWindows;
  maturity: string;
  eventDays: Iterable<string>;
  eventsWhere: string;
  featureSetHash: string;
  outputPrefix: string;
  partitions: PlannedPartition[];
}): RunPlan {
  const { featureSet: fs, windows: w } = i;
  const coverage = lookbackCoverage(fs, w.snapshot, i.eventDays);
  const excluded = new Set(warmupDays(coverage));
  const matureBeforeMs = Date.parse(w.labelCutoff) - fs.labels.maturityMs;
  const bound = fs.labels.value && fs.labels.value.absent === 'null' ? 'at most' : 'expected';
  const byDay = new Map(i.partitions.map((p) => [p.day, p]));
  const ranges: [WindowName, DayRange][] = [
    ['training', w.train],
    ['validation', w.validation],
    ['holdout', w.holdout],
    ['shadow', w.shadow],
  ];
  const windows = ranges.map(([name, r]): WindowPlan => {
    const days = daysBetween(r);
    const usable = days.filter((d) => !excluded.has(d));
    const parts = usable.map((d) => byDay.get(d));
    const known =
      usable.length > 0 && parts.every((p) => p?.action === 'reuse' && p.rows !== undefined)
        ? parts.reduce(
            (s, p) => ({
              rows: s.rows + (p!.rows ?? 0),
              labeledRows: s.labeledRows + (p!.labeledRows ?? 0),
              positives: s.positives + (p!.positives ?? 0),
            }),
            { rows: 0, labeledRows: 0, positives: 0 },
          )
        : undefined;
    return {
      name,
      from: r.from,
      to: r.to,
      days: days.length,
      excludedDays: days.filter((d) => excluded.has(d)),
      expectedLabeledShare: labeledShare(usable, matureBeforeMs),
      labeledShareBound: bound,
      ...(known ? { known } : {}),
    };
  });

  const problems: string[] = [];
  const refusal = lookbackRefusal(coverage, i.eventsWhere);
  if (refusal) problems.push(refusal.message);
  if (coverage.firstCompleteDay && coverage.firstCompleteDay >= w.validation.from && coverage.incompleteDays.length)
    problems.push(
      `no training day has a complete lookback: the first such day, ${coverage.firstCompleteDay}, is on or after ` +
        `the validation window's start (${w.validation.from}); load raw events from ${coverage.needsFrom} on, ` +
        'or move --to later',
    );
  for (const win of windows)
    if (win.days > 0 && win.excludedDays.length === win.days)
      problems.push(
        `the ${win.name} window ${win.from}..${win.to} holds only warm-up days (${dayRanges(win.excludedDays)}); ` +
          `move --to so that it starts on or after ${coverage.firstCompleteDay}, or load earlier raw events`,
      );
  const missing = i.partitions.filter((p) => p.action === 'missing');
  if (missing.length > 0) {
    const reasons = [...new Set(missing.map((p) => p.problem ?? 'unknown'))];
    problems.push(
      `${missing.length} partition(s) cannot be computed (${dayRanges(missing.map((p) => p.day))}): ` +
        `${reasons.slice(0, 2).join('; ')}${reasons.length > 2 ? `; and ${reasons.length - 2} more like these` : ''}`,
    );
  }

  const pick = (a: PlannedPartition['action']) => i.partitions.filter((p) => p.action === a).map((p) => p.day);
  return {
    model: i.model,
    asOf: w.asOf,
    labelCutoff: w.labelCutoff,
    labels: {
      mode: fs.labels.value ? 'column' : 'presence',
      prefix: fs.labels.prefix,
      ...(fs.labels.value ? { column: fs.labels.value.column } : {}),
      maturity: i.maturity,
      matureBefore: new Date(matureBeforeMs).toISOString(),
      rule: labelRule(fs, i.maturity),
    },
    lookback: { ...coverage, longestWindow: formatDuration(fs.lookbackMs) },
    windows,
    snapshot: {
      from: w.snapshot.from,
      to: w.snapshot.to,
      days: daysBetween(w.snapshot).length,
      featureSetHash: i.featureSetHash,
      outputPrefix: i.outputPrefix,
      compute: pick('compute'),
      reuse: pick('reuse'),
      missing: pick('missing'),
      excluded: [...excluded],
    },
    partitions: i.partitions,
    problems,
  };
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(x === 0 || x === 1 ? 0 : 1)}%`);

/** The plan as lines for a terminal. */
export function renderRunPlan(p: RunPlan): string[] {
  const lb = p.lookback;
  const lines = [
    `plan: ${p.model} as of ${p.asOf} (labels reported before ${p.labelCutoff})`,
    `labels:    ${p.labels.rule}; matured: events at or before ${p.labels.matureBefore}`,
    `lookback:  longest window ${lb.longestWindow}; raw events ${
      lb.firstAvailableDay ? `${lb.firstAvailableDay}..${lb.lastAvailableDay}` : 'none found'
    }; the snapshot's first day ${p.snapshot.from} needs events from ${lb.needsFrom}`,
  ];
  if (lb.incompleteDays.length > 0)
    lines.push(
      `           ${lb.incompleteDays.length} day(s) with an incomplete lookback (${dayRanges(lb.incompleteDays)}): ` +
        (lb.warmup === 'exclude'
          ? 'warm-up days, computed but left out of every window (features.warmup: exclude)'
          : 'refused (declare features.warmup: exclude to leave them out instead)'),
    );
  else if (lb.firstAvailableDay) lines.push('           every day of the snapshot has a complete lookback');
  lines.push('windows:');
  lines.push(`  ${'window'.padEnd(11)} ${'from'.padEnd(10)}  ${'to (excl.)'.padEnd(10)}  days  excluded  labeled`);
  for (const w of p.windows) {
    const share = `${w.labeledShareBound === 'at most' ? '≤ ' : ''}${pct(w.expectedLabeledShare)}`;
    const known = w.known
      ? ` (reused partitions: ${w.known.labeledRows}/${w.known.rows} labeled, ${w.known.positives} positive)`
      : '';
    lines.push(
      `  ${w.name.padEnd(11)} ${w.from}  ${w.to}  ${String(w.days).padStart(4)}  ${String(w.excludedDays.length).padStart(8)}  ${share}${known}`,
    );
  }
  const s = p.snapshot;
  lines.push(
    `partitions: ${s.days} day(s) ${s.from}..${s.to} (excl.) under ${s.outputPrefix}: ` +
      `${s.compute.length} to compute, ${s.reuse.length} to reuse${s.missing.length ? `, ${s.missing.length} missing` : ''}`,
  );
  if (s.compute.length) lines.push(`  compute: ${dayRanges(s.compute)}`);
  if (s.reuse.length) lines.push(`  reuse:   ${dayRanges(s.reuse)}`);
  if (s.missing.length) lines.push(`  missing: ${dayRanges(s.missing)}`);
  if (p.problems.length) {
    lines.push('problems (the run would fail with bad input):');
    for (const pr of p.problems) lines.push(`  - ${pr}`);
  }
  return lines;
}
