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
import { rawSourceOptions, type RawSourceOptions } from '../spec/data-source';
import type { AggSpec } from './kernel';

/** Bump when the computation changes in a way that changes output bytes. */
const FEATURE_KERNEL_VERSION = 1;

export type FeatureSet = {
  model: string;
  /** `source`: format, partition layout and casts when not the defaults (lib/spec/data-source.ts). */
  events: { prefix: string; timestamp: string; id: string; allowGaps: boolean; source?: RawSourceOptions };
  labels: { prefix: string; key: string; timestamp: string; maturityMs: number; source?: RawSourceOptions };
  /** Snapshot partitions as Parquet; absent = Arrow IPC. */
  snapshotFormat?: 'parquet';
  columns: string[];
  derived: { name: string; expr: DerivedExpr }[];
  aggregations: { entity: string; aggs: AggSpec[] }[];
  slices: string[];
  /** Model input columns in order. */
  featureOrder: string[];
  /** How far before a day's first event the longest window reaches. */
  lookbackMs: number;
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
      source: rawSourceOptions(spec.data.labels),
    },
    snapshotFormat: spec.features.format === 'parquet' ? 'parquet' : undefined,
    columns: spec.features.columns,
    derived: spec.features.derived.map((d) => ({ name: d.name, expr: parseDerivedExpr(d.expr) as DerivedExpr })),
    aggregations,
    slices: spec.features.slices,
    featureOrder: featureColumnNames(spec),
    lookbackMs,
  };
}

export function featureSetHash(fs: FeatureSet): string {
  return hashOf({ v: FEATURE_KERNEL_VERSION, fs });
}
