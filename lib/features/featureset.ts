/**
 * A model spec's feature part, resolved into what the backfill computes: windows in ms,
 * kernel aggregation specs with their output names, the lookback the longest window
 * needs, and the model's input column order. Its hash is the feature set's identity.
 */
import { parseDuration } from '../core/duration';
import { hashOf } from '../infra/hash';
import {
  aggFeatureName,
  featureColumnNames,
  parseDerivedExpr,
  type DerivedExpr,
  type ModelSpec,
} from '../spec/model-spec';
import { labelValueRule, type LabelValueRule } from '../spec/labels';
import type { AggSpec } from './kernel';

/** Bump when the computation changes in a way that changes output bytes. */
const FEATURE_KERNEL_VERSION = 1;

export type FeatureSet = {
  model: string;
  events: { prefix: string; timestamp: string; id: string; allowGaps: boolean };
  /** `value`: the explicit label column's rule; absent for presence-based labels (a report is a positive). */
  labels: { prefix: string; key: string; timestamp: string; maturityMs: number; value?: LabelValueRule };
  columns: string[];
  derived: { name: string; expr: DerivedExpr }[];
  aggregations: { entity: string; aggs: AggSpec[] }[];
  slices: string[];
  /** Model input columns in order. */
  featureOrder: string[];
  /** How far before a day's first event the longest window reaches. */
  lookbackMs: number;
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
    },
    labels: {
      prefix: spec.data.labels.prefix,
      key: spec.data.labels.key,
      timestamp: spec.data.labels.timestamp,
      maturityMs: parseDuration(spec.data.labels.maturity) ?? 0,
      ...(value ? { value } : {}),
    },
    columns: spec.features.columns,
    derived: spec.features.derived.map((d) => ({ name: d.name, expr: parseDerivedExpr(d.expr) as DerivedExpr })),
    aggregations,
    slices: spec.features.slices,
    featureOrder: featureColumnNames(spec),
    lookbackMs,
    ...(spec.features.warmup === 'exclude' ? { warmup: 'exclude' as const } : {}),
  };
}

/** The warm-up policy is left out: it decides which days a trainer sees, not a partition's bytes. */
export function featureSetHash(fs: FeatureSet): string {
  const { warmup: _warmup, ...bytesDefining } = fs;
  return hashOf({ v: FEATURE_KERNEL_VERSION, fs: bytesDefining });
}
