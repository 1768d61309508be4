import { describe, expect, it } from 'vitest';
import { addDays, daysBetween, isDay, planWindows, runWindows } from '../../lib/core/windows';

/** The parts of a model spec that set a run's windows. */
function spec(w: { maturity?: string; train?: number; validation?: number; holdout?: number; shadow?: number } = {}) {
  return {
    data: { labels: { maturity: w.maturity ?? '30d' } },
    training: { window: { days: w.train ?? 60 }, validation: { days: w.validation ?? 5 } },
    evaluation: { holdout: { days: w.holdout ?? 5 } },
    shadow: { days: w.shadow ?? 3 },
  };
}

const NOON = new Date('2026-04-01T12:00:00Z');

describe('runWindows', () => {
  it('lays train, validation and holdout back to back, ending where labels are mature', () => {
    const w = runWindows({ asOf: '2026-03-15', spec: spec() }, NOON);
    expect(w).toEqual({
      asOf: '2026-03-15',
      labelCutoff: '2026-03-15T00:00:00.000Z',
      train: { from: '2025-12-05', to: '2026-02-03' },
      validation: { from: '2026-02-03', to: '2026-02-08' },
      holdout: { from: '2026-02-08', to: '2026-02-13' },
      shadow: { from: '2026-03-12', to: '2026-03-15' },
      snapshot: { from: '2025-12-05', to: '2026-03-15' },
    });
    expect(daysBetween(w.train)).toHaveLength(60);
    expect(daysBetween(w.validation)).toHaveLength(5);
    expect(daysBetween(w.holdout)).toHaveLength(5);
    expect(daysBetween(w.shadow)).toEqual(['2026-03-12', '2026-03-13', '2026-03-14']);
  });

  it('without an as-of day, uses the UTC day of the fallback time (the nominal time)', () => {
    const late = new Date('2026-03-15T23:30:00-05:00'); // 04:30 UTC on the 16th
    expect(runWindows({ spec: spec() }, late).asOf).toBe('2026-03-16');
    expect(runWindows({ spec: spec() }, NOON).asOf).toBe('2026-04-01');
    expect(runWindows({ asOf: '2026-03-15', spec: spec() }, late).asOf).toBe('2026-03-15');
  });

  it('trainFrom replaces the training window length, and the snapshot starts there too', () => {
    const w = runWindows({ asOf: '2026-03-15', trainFrom: '2026-01-01', spec: spec() }, NOON);
    expect(w.train).toEqual({ from: '2026-01-01', to: '2026-02-03' });
    expect(w.snapshot).toEqual({ from: '2026-01-01', to: '2026-03-15' });
    expect(w.validation).toEqual({ from: '2026-02-03', to: '2026-02-08' });
  });

  it('rounds a maturity of part of a day up to whole days', () => {
    expect(runWindows({ asOf: '2026-03-15', spec: spec({ maturity: '36h' }) }, NOON).holdout.to).toBe('2026-03-13');
    expect(runWindows({ asOf: '2026-03-15', spec: spec({ maturity: '90m' }) }, NOON).holdout.to).toBe('2026-03-14');
    expect(runWindows({ asOf: '2026-03-15', spec: spec({ maturity: '2w' }) }, NOON).holdout.to).toBe('2026-03-01');
  });

  it('an unparseable maturity counts as none (the spec schema rejects it before a run)', () => {
    expect(runWindows({ asOf: '2026-03-15', spec: spec({ maturity: 'soon' }) }, NOON).holdout.to).toBe('2026-03-15');
  });

  it('zero holdout days leave an empty holdout, and validation ends at the maturity cut', () => {
    const w = runWindows({ asOf: '2026-03-15', spec: spec({ holdout: 0 }) }, NOON);
    expect(w.holdout).toEqual({ from: '2026-02-13', to: '2026-02-13' });
    expect(daysBetween(w.holdout)).toEqual([]);
    expect(w.validation).toEqual({ from: '2026-02-08', to: '2026-02-13' });
  });

  it('shadow days count back from the as-of day across month, year and leap-day boundaries', () => {
    expect(runWindows({ asOf: '2026-01-02', spec: spec({ shadow: 3 }) }, NOON).shadow).toEqual({
      from: '2025-12-30',
      to: '2026-01-02',
    });
    expect(runWindows({ asOf: '2024-03-01', spec: spec({ shadow: 1 }) }, NOON).shadow).toEqual({
      from: '2024-02-29',
      to: '2024-03-01',
    });
  });

  it('is planWindows over the spec fields', () => {
    const s = spec({ maturity: '7d', train: 10, validation: 2, holdout: 3, shadow: 4 });
    expect(runWindows({ asOf: '2026-03-15', trainFrom: '2026-02-01', spec: s }, NOON)).toEqual(
      planWindows('2026-03-15', {
        maturity: '7d',
        trainDays: 10,
        validationDays: 2,
        holdoutDays: 3,
        shadowDays: 4,
        trainFrom: '2026-02-01',
      }),
    );
  });
});

describe('day arithmetic', () => {
  it('isDay accepts real calendar days only', () => {
    expect(isDay('2024-02-29')).toBe(true);
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2026-13-01')).toBe(false); // an invalid date, not an exception
    expect(isDay('2026-02-30')).toBe(false);
    expect(isDay('2026-3-1')).toBe(false);
    expect(isDay('2026-03-01T00:00:00Z')).toBe(false);
  });

  it('addDays moves in UTC days, both ways', () => {
    expect(addDays('2026-03-29', 1)).toBe('2026-03-30'); // a DST change in Europe: still one day
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
    expect(addDays('2026-01-01', 0)).toBe('2026-01-01');
  });

  it('daysBetween lists the days of a range, end exclusive', () => {
    expect(daysBetween({ from: '2026-02-27', to: '2026-03-02' })).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(daysBetween({ from: '2026-03-02', to: '2026-03-02' })).toEqual([]);
    expect(daysBetween({ from: '2026-03-03', to: '2026-03-02' })).toEqual([]);
  });
});
