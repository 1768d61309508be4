/**
 * A model spec's feature part, resolved into what the backfill computes: windows in ms,
 * kernel aggregation specs with their output names, the lookback the longest window
 * needs, and the model's input column order. Its hash is the feature set's identity.
 */
import { parseDuration } from '../core/duration';
import { hashOf } from '../infra/hash';
import { aggFeatureName, featureColumnNames, parseDerivedExpr, type ModelSpec } from '../spec/model-spec';
import { type Expr, printExpr } from './expr';
import { labelValueRule, type LabelValueRule } from '../spec/labels';
import { rawSourceOptions, type RawSourceOptions } from '../spec/data-source';
import type { AggSpec } from './kernel';
import type { DataChecksSpec } from '../spec/data-gates';

/** Bump when the computation changes in a way that changes output bytes. */
const FEATURE_KERNEL_VERSION = 1;

export type FeatureSet = {
  model: string;
  /** `source`: format, partition layout and casts when not the defaults (lib/spec/data-source.ts). */
  events: { prefix: string; timestamp: string; id: string; allowGaps: boolean; source?: RawSourceOptions };
  /** `value`: the explicit label column's rule; absent for presence-based labels (a report is a positive). */
  labels: {
    prefix: string;
    key: string;
    timestamp: string;
    maturityMs: number;
    value?: LabelValueRule;
    source?: RawSourceOptions;
  };
  /** Snapshot partitions as Parquet; absent = Arrow IPC. */
  snapshotFormat?: 'parquet';
  columns: string[];
  /**
   * Derived columns: the canonical text of each expression. Feature sets resolved before the
   * expression language (in the histories of older runs) carry the structured form instead.
   */
  derived: { name: string; expr: string | LegacyDerived }[];
  aggregations: { entity: string; aggs: AggSpec[] }[];
  slices: string[];
  /** Model input columns in order. */
  featureOrder: string[];
  /** How far before a day's first event the longest window reaches. */
  lookbackMs: number;
  /** The spec's data.checks, when it declares them (absent otherwise, so the hash stays the same). */
  checks?: DataChecksSpec;
  /** Days whose lookback reaches before the first raw day: computed, but left out of every window. Absent: refused. */
  warmup?: 'exclude';
};

export function featureSetFromSpec(spec: ModelSpec): FeatureSet {
  const aggregations = spec.features.aggregations.map((a) => ({
    entity: a.entity,
    aggs: a.metrics.flatMap((m): AggSpec[] => {
      if (m.fn === 'time_since_prev') {
        // Bounded by the group's longest window: no history beyond the lookback is loaded.
        const longest = Math.max(...a.windows.map((w) => parseDuration(w) ?? 0));
        return [{ fn: m.fn, windowMs: longest, name: aggFeatureName(a.entity, m, a.windows[0] ?? '') }];
      }
      return a.windows.map((w) => ({
        fn: m.fn,
        of: m.of,
        windowMs: parseDuration(w) ?? 0,
        name: aggFeatureName(a.entity, m, w),
      }));
    }),
  }));
  const lookbackMs = Math.max(0, ...aggregations.flatMap((g) => g.aggs.map((a) => a.windowMs ?? 0)));
  const value = labelValueRule(spec.data.labels);
  return {
    model: spec.name,
    events: {
      prefix: spec.data.events.prefix,
      timestamp: spec.data.events.timestamp,
      id: spec.data.events.id,
      allowGaps: spec.data.events.allow_gaps,
      source: rawSourceOptions(spec.data.events),
    },
    labels: {
      prefix: spec.data.labels.prefix,
      key: spec.data.labels.key,
      timestamp: spec.data.labels.timestamp,
      maturityMs: parseDuration(spec.data.labels.maturity) ?? 0,
      ...(value ? { value } : {}),
      source: rawSourceOptions(spec.data.labels),
    },
    snapshotFormat: spec.features.format === 'parquet' ? 'parquet' : undefined,
    columns: spec.features.columns,
    derived: spec.features.derived.map((d) => ({ name: d.name, expr: printExpr(parseDerivedExpr(d.expr)) })),
    aggregations,
    slices: spec.features.slices,
    featureOrder: featureColumnNames(spec),
    lookbackMs,
    ...(spec.data.checks ? { checks: spec.data.checks } : {}),
    ...(spec.features.warmup === 'exclude' ? { warmup: 'exclude' as const } : {}),
  };
}

/**
 * The feature set's identity. A derived expression of one of the forms mlo had before its
 * expression language (log1p, hour_of_day or day_of_week of a column; a column == or != a
 * column or a literal) enters it in that form's structure, so such feature sets keep their
 * hash and their stored partitions (their values are bit-identical); any other expression
 * enters as its canonical text. The warm-up policy is left out: it decides which days a trainer
 * sees, not a partition's bytes.
 */
export function featureSetHash(fs: FeatureSet): string {
  const { warmup: _warmup, ...bytesDefining } = fs;
  const derived = bytesDefining.derived.map((d) => {
    const text = derivedText(d.expr);
    return { name: d.name, expr: legacyForm(parseDerivedExpr(text)) ?? text };
  });
  return hashOf({ v: FEATURE_KERNEL_VERSION, fs: { ...bytesDefining, derived } });
}

/** The derived-column forms of feature sets resolved before the expression language. */
export type LegacyDerived =
  | { op: 'log1p' | 'hour_of_day' | 'day_of_week'; column: string }
  | { op: 'ne' | 'eq'; left: string; right: { column: string } | { literal: string | number } };

/** A derived column's expression text, whichever form the feature set carries. */
export function derivedText(expr: string | LegacyDerived): string {
  if (typeof expr === 'string') return expr;
  if ('left' in expr) {
    const r = expr.right;
    const right =
      'column' in r
        ? r.column
        : typeof r.literal === 'number'
          ? String(r.literal)
          : `'${r.literal.replace(/'/g, "''")}'`;
    return `${expr.left} ${expr.op === 'eq' ? '==' : '!='} ${right}`;
  }
  return `${expr.op}(${expr.column})`;
}

/** The legacy structure of an expression, when it has one. */
export function legacyForm(e: Expr): LegacyDerived | undefined {
  if (e.kind === 'call' && (e.fn === 'log1p' || e.fn === 'hour_of_day' || e.fn === 'day_of_week')) {
    const a = e.args[0];
    return a?.kind === 'column' ? { op: e.fn, column: a.name } : undefined;
  }
  if (e.kind === 'binary' && (e.op === '==' || e.op === '!=') && e.left.kind === 'column') {
    const op = e.op === '==' ? 'eq' : 'ne';
    const r = e.right;
    // The old grammar's number literals: -?digits(.digits)?
    const num = (x: Expr, sign: string): number | undefined =>
      x.kind === 'number' && /^\d+(\.\d+)?$/.test(x.text) ? Number(sign + x.text) : undefined;
    if (r.kind === 'column') return { op, left: e.left.name, right: { column: r.name } };
    if (r.kind === 'string') return { op, left: e.left.name, right: { literal: r.value } };
    const lit = r.kind === 'neg' ? num(r.arg, '-') : num(r, '');
    if (lit !== undefined) return { op, left: e.left.name, right: { literal: lit } };
  }
  return undefined;
}
