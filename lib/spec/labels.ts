/**
 * The spec fields that decide a row's label and which days a trainer may see:
 * `data.labels.column` (an explicit label column and its value mapping) and
 * `features.warmup` (what to do with days whose longest window reaches before the first
 * day of raw data). Every field is optional and has no default, so a spec that declares
 * none of them parses (and hashes) exactly as before. See docs/data.md.
 */
import { z } from 'zod';

const column = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a column name: letters, digits and "_", not starting with a digit');

/** What a label value maps to: 1 = positive (bad), 0 = negative (good). */
const labelClass = z.union([z.literal(0), z.literal(1)], { error: 'must be 1 (positive, bad) or 0 (negative, good)' });

/** Fields added to `data.labels`. */
export const LABEL_VALUE_FIELDS = {
  /** The label column of the labels data; without it, a report's presence is the label (positive). */
  column: column.optional(),
  /** A string (or other) column's values → 0/1, e.g. { bad: 1, good: 0 }; keys are the values as text. */
  values: z.record(z.string().min(1), labelClass).optional(),
  /** A report whose value is not mapped (or null): `error` (default) fails the partition, `ignore` skips the report. */
  unmapped: z.enum(['error', 'ignore']).optional(),
  /** A matured event with no report before the cut-off: `null` (default, unknown) or `negative` (0). */
  absent: z.enum(['null', 'negative']).optional(),
};

type LabelsFields = {
  column?: string;
  values?: Record<string, 0 | 1>;
  unmapped?: 'error' | 'ignore';
  absent?: 'null' | 'negative';
};

/** Cross-field checks of `data.labels` (each issue names its field and the fix). */
export function checkLabelFields(l: LabelsFields, ctx: z.RefinementCtx): void {
  if (l.column) {
    if (l.values && Object.keys(l.values).length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['values'],
        message: 'maps no value; list each value of the label column, e.g. { bad: 1, good: 0 }, or leave it out',
      });
    return;
  }
  for (const f of ['values', 'unmapped', 'absent'] as const) {
    if (l[f] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: [f],
        message: `applies to an explicit label column only; add "column: <name>" to data.labels or remove "${f}"`,
      });
  }
}

/** `features.warmup`: days whose lookback is incomplete are refused (default) or computed and left out. */
export const WARMUP_FIELD = z
  .enum(['refuse', 'exclude'], {
    error: (i) =>
      `unknown warm-up "${String(i.input)}"; use "refuse" (the default: such days are bad input) or "exclude" ` +
      '(computed, but left out of training, evaluation and shadow windows)',
  })
  .optional();

/** How the label of a matured row is read from its reports (explicit label column). */
export type LabelValueRule = {
  column: string;
  /** Value (as text) → class; absent: numeric 0/1 or boolean columns only. */
  values?: Record<string, 0 | 1>;
  unmapped: 'error' | 'ignore';
  absent: 'null' | 'negative';
};

/** The resolved rule of a spec's `data.labels`; undefined for presence-based labels. */
export function labelValueRule(l: LabelsFields): LabelValueRule | undefined {
  if (!l.column) return undefined;
  return {
    column: l.column,
    ...(l.values ? { values: l.values } : {}),
    unmapped: l.unmapped ?? 'error',
    absent: l.absent ?? 'null',
  };
}
