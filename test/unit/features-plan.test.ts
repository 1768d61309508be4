/**
 * The lookback coverage of a day range (refused, or warm-up days), and a run's plan: windows,
 * excluded days, labeled share expected, partitions to compute and reuse, problems.
 */
import { describe, expect, it } from 'vitest';
import { daysBetween, planWindows } from '../../lib/core/windows';
import type { FeatureSet } from '../../lib/features/featureset';
import {
  buildRunPlan,
  dayRanges,
  lookbackCoverage,
  lookbackRefusal,
  renderRunPlan,
  type PlannedPartition,
} from '../../lib/features/plan';

const DAY = 86_400_000;
const RAW = daysBetween({ from: '2026-01-01', to: '2026-03-01' });

describe('lookback coverage', () => {
  it('a day is complete when its first instant minus the lookback is inside the raw data', () => {
    const c = lookbackCoverage({ lookbackMs: 7 * DAY }, { from: '2026-01-05', to: '2026-01-12' }, RAW);
    expect(c).toMatchObject({
      firstAvailableDay: '2026-01-01',
      lastAvailableDay: '2026-02-28',
      firstCompleteDay: '2026-01-08',
      needsFrom: '2025-12-29',
      incompleteDays: ['2026-01-05', '2026-01-06', '2026-01-07'],
      warmup: 'refuse',
    });
    // A window shorter than a day still makes the first raw day incomplete (its first rows reach back).
    expect(
      lookbackCoverage({ lookbackMs: 600_000 }, { from: '2026-01-01', to: '2026-01-03' }, RAW).incompleteDays,
    ).toEqual(['2026-01-01']);
    expect(lookbackCoverage({ lookbackMs: 0 }, { from: '2026-01-01', to: '2026-01-03' }, RAW).incompleteDays).toEqual(
      [],
    );
  });

  it('refuses by default, naming the first raw day, the days, the exact --from and the warm-up', () => {
    const c = lookbackCoverage({ lookbackMs: 30 * DAY }, { from: '2026-01-06', to: '2026-03-01' }, RAW);
    const err = lookbackRefusal(c, 's3://mlo/raw/payments/');
    expect(err?.message).toBe(
      'the longest feature window (30d) of 25 days (2026-01-06..2026-01-30) reaches before the first day of raw ' +
        'events under s3://mlo/raw/payments/ (2026-01-01): their windowed features would be computed from partial ' +
        'history, unlike what serving sees. Move --from to 2026-01-31 (the first day with a complete lookback), ' +
        'load raw events from 2025-12-07 on, or declare features.warmup: exclude in the model spec (those days ' +
        'are computed but left out of training, evaluation and shadow windows).',
    );
    expect(
      lookbackRefusal(
        lookbackCoverage({ lookbackMs: 30 * DAY, warmup: 'exclude' }, { from: '2026-01-06', to: '2026-03-01' }, RAW),
        'x',
      ),
    ).toBeUndefined();
    expect(
      lookbackRefusal(lookbackCoverage({ lookbackMs: 30 * DAY }, { from: '2026-01-31', to: '2026-03-01' }, RAW), 'x'),
    ).toBeUndefined();
  });

  it('dayRanges collapses consecutive days', () => {
    expect(dayRanges(['2026-01-03', '2026-01-01', '2026-01-02', '2026-01-05'])).toBe(
      '2026-01-01..2026-01-03, 2026-01-05',
    );
  });
});

describe('a run plan', () => {
  const fs = (over: Partial<FeatureSet> = {}): FeatureSet => ({
    model: 'm',
    events: { prefix: 'raw/p/', timestamp: 'ts', id: 'payment_id', allowGaps: false },
    labels: { prefix: 'raw/l/', key: 'payment_id', timestamp: 'reported_at', maturityMs: 36 * 3_600_000 },
    columns: ['amount'],
    derived: [],
    aggregations: [],
    slices: [],
    featureOrder: ['amount'],
    lookbackMs: 3 * DAY,
    ...over,
  });
  // as of 2026-01-20: maturity 36h (2 whole days) → holdout ends on the 18th; train 5, validation 2, holdout 2, shadow 2.
  const windows = planWindows('2026-01-20', {
    maturity: '36h',
    trainDays: 5,
    validationDays: 2,
    holdoutDays: 2,
    shadowDays: 2,
  });
  const partitions = (reused: string[]): PlannedPartition[] =>
    daysBetween(windows.snapshot).map((day) =>
      reused.includes(day)
        ? { day, action: 'reuse', uri: `s3://b/${day}`, rows: 10, labeledRows: 10, positives: 1 }
        : { day, action: 'compute', uri: `s3://b/${day}` },
    );
  const plan = (f: FeatureSet, events: string[], reused: string[] = []) =>
    buildRunPlan({
      model: 'm',
      featureSet: f,
      windows,
      maturity: '36h',
      eventDays: events,
      eventsWhere: 's3://b/raw/p/',
      featureSetHash: 'h',
      outputPrefix: 's3://b/features/m/h/',
      partitions: partitions(reused),
    });

  it('lists the windows, the labeled share expected, and the partitions to compute and reuse', () => {
    const p = plan(fs(), daysBetween({ from: '2026-01-01', to: '2026-01-20' }), ['2026-01-11', '2026-01-12']);
    expect(windows.train).toEqual({ from: '2026-01-09', to: '2026-01-14' });
    expect(p.problems).toEqual([]);
    expect(p.labels).toMatchObject({ mode: 'presence', matureBefore: '2026-01-18T12:00:00.000Z' });
    const w = Object.fromEntries(p.windows.map((x) => [x.name, x]));
    expect(w.training).toMatchObject({ from: '2026-01-09', to: '2026-01-14', days: 5, expectedLabeledShare: 1 });
    expect(w.holdout).toMatchObject({ from: '2026-01-16', to: '2026-01-18', expectedLabeledShare: 1 });
    // shadow 2026-01-18 and -19: half of the 18th is at or before the maturity limit, none of the 19th.
    expect(w.shadow).toMatchObject({ from: '2026-01-18', to: '2026-01-20', expectedLabeledShare: 0.25 });
    expect(w.training!.known).toBeUndefined();
    expect(p.snapshot).toMatchObject({ days: 11, reuse: ['2026-01-11', '2026-01-12'], excluded: [] });
    expect(p.snapshot.compute).toHaveLength(9);
    const text = renderRunPlan(p).join('\n');
    expect(text).toContain('  training    2026-01-09  2026-01-14     5         0  100%');
    expect(text).toContain('  shadow      2026-01-18  2026-01-20     2         0  25.0%');
    expect(text).toContain('  compute: 2026-01-09..2026-01-10, 2026-01-13..2026-01-19');
    expect(text).toContain('  reuse:   2026-01-11..2026-01-12');
  });

  it('an incomplete lookback is a problem unless declared a warm-up, whose days leave every window', () => {
    const events = daysBetween({ from: '2026-01-08', to: '2026-01-20' }); // the 3-day lookback: complete from the 11th
    const refused = plan(fs(), events);
    expect(refused.problems).toHaveLength(1);
    expect(refused.problems[0]).toContain('of 2 days (2026-01-09..2026-01-10)');
    expect(refused.problems[0]).toContain('Move --from to 2026-01-11');
    const warm = plan(fs({ warmup: 'exclude' }), events, ['2026-01-11', '2026-01-12', '2026-01-13']);
    expect(warm.problems).toEqual([]);
    expect(warm.snapshot.excluded).toEqual(['2026-01-09', '2026-01-10']);
    const training = warm.windows.find((w) => w.name === 'training')!;
    expect(training.excludedDays).toEqual(['2026-01-09', '2026-01-10']);
    expect(warm.windows.filter((w) => w.name !== 'training').every((w) => w.excludedDays.length === 0)).toBe(true);
    // Its usable days are all reused: their counts are known.
    expect(training.known).toEqual({ rows: 30, labeledRows: 30, positives: 3 });
    expect(renderRunPlan(warm).join('\n')).toContain(
      '2 day(s) with an incomplete lookback (2026-01-09..2026-01-10): warm-up days, computed but left out',
    );
    // When not one training day is complete, even the warm-up cannot help.
    const late = plan(fs({ warmup: 'exclude' }), daysBetween({ from: '2026-01-12', to: '2026-01-20' }));
    const problems = late.problems.join('\n');
    expect(problems).toContain('no training day has a complete lookback: the first such day, 2026-01-15');
    expect(problems).toContain('the training window 2026-01-09..2026-01-14 holds only warm-up days');
  });

  it('an explicit label column with null for absent reports bounds the labeled share ("at most")', () => {
    const p = plan(
      fs({ labels: { ...fs().labels, value: { column: 'y', unmapped: 'error', absent: 'null' } } }),
      daysBetween({ from: '2026-01-01', to: '2026-01-20' }),
    );
    expect(p.labels.mode).toBe('column');
    expect(p.windows.every((w) => w.labeledShareBound === 'at most')).toBe(true);
    expect(renderRunPlan(p).join('\n')).toMatch(/training {4}2026-01-09 {2}2026-01-14 {5}5 {9}0 {2}≤ 100%/);
  });

  it('missing raw days are one problem naming them', () => {
    const parts = partitions([]).map((p) =>
      p.day === '2026-01-09' || p.day === '2026-01-10'
        ? { day: p.day, action: 'missing' as const, problem: `raw event partition day=${p.day}/ does not exist` }
        : p,
    );
    const p = buildRunPlan({
      model: 'm',
      featureSet: fs(),
      windows,
      maturity: '36h',
      eventDays: RAW,
      eventsWhere: 'x',
      featureSetHash: 'h',
      outputPrefix: 'o',
      partitions: parts,
    });
    expect(p.problems).toEqual([
      '2 partition(s) cannot be computed (2026-01-09..2026-01-10): raw event partition day=2026-01-09/ does not ' +
        'exist; raw event partition day=2026-01-10/ does not exist',
    ]);
  });
});
