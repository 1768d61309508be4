/**
 * The data windows of one run, all derived from its as-of day (the run's nominal time,
 * exclusive): labels known at the cut-off, a holdout after the training window whose labels
 * have matured, and the most recent days for shadow scoring. Pure: used by workflows.
 */
import { parseDuration } from './duration';

export type DayRange = { from: string; to: string };

export type RunWindows = {
  asOf: string;
  labelCutoff: string;
  train: DayRange;
  validation: DayRange;
  holdout: DayRange;
  shadow: DayRange;
  /** Every day the feature snapshot covers: from the training start up to the as-of day. */
  snapshot: DayRange;
};

const DAY_MS = 86_400_000;

/** A calendar day written YYYY-MM-DD (month 13 or February 30 are not days). */
export function isDay(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

export function daysBetween(range: DayRange): string[] {
  const out: string[] = [];
  for (let d = range.from; d < range.to; d = addDays(d, 1)) out.push(d);
  return out;
}

export type WindowSpec = {
  maturity: string;
  trainDays: number;
  validationDays: number;
  holdoutDays: number;
  shadowDays: number;
  /** Start training here instead of trainDays before validation (YYYY-MM-DD). */
  trainFrom?: string;
};

export function planWindows(asOf: string, w: WindowSpec): RunWindows {
  const maturityDays = Math.ceil((parseDuration(w.maturity) ?? 0) / DAY_MS);
  const holdoutTo = addDays(asOf, -maturityDays);
  const holdoutFrom = addDays(holdoutTo, -w.holdoutDays);
  const validationFrom = addDays(holdoutFrom, -w.validationDays);
  const trainFrom = w.trainFrom ?? addDays(validationFrom, -w.trainDays);
  return {
    asOf,
    labelCutoff: `${asOf}T00:00:00.000Z`,
    train: { from: trainFrom, to: validationFrom },
    validation: { from: validationFrom, to: holdoutFrom },
    holdout: { from: holdoutFrom, to: holdoutTo },
    shadow: { from: addDays(asOf, -w.shadowDays), to: asOf },
    snapshot: { from: trainFrom, to: asOf },
  };
}

/**
 * A trainAndPromote run's windows: as-of day given, else the day of `fallback` (the schedule's
 * nominal time, else the start time), and the spec's window lengths. The workflow and the CLI
 * both resolve windows through this one function.
 */
export function runWindows(
  input: {
    asOf?: string;
    trainFrom?: string;
    spec: {
      data: { labels: { maturity: string } };
      training: { window: { days: number }; validation: { days: number } };
      evaluation: { holdout: { days: number } };
      shadow: { days: number };
    };
  },
  fallback: Date,
): RunWindows {
  const spec = input.spec;
  return planWindows(input.asOf ?? fallback.toISOString().slice(0, 10), {
    maturity: spec.data.labels.maturity,
    trainDays: spec.training.window.days,
    validationDays: spec.training.validation.days,
    holdoutDays: spec.evaluation.holdout.days,
    shadowDays: spec.shadow.days,
    trainFrom: input.trainFrom,
  });
}
