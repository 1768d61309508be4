/**
 * The raw columns a feature set reads, so only those are decoded (Parquet reads only their column
 * chunks). Derived expressions are searched for every string they hold: a superset at worst,
 * never a column missed.
 */
import type { FeatureSet } from '../features/featureset';

function strings(v: unknown, out: Set<string>): void {
  if (typeof v === 'string') out.add(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
}

/** Event columns: id, time, raw feature columns, derived inputs, aggregation entities and inputs, slices. */
export function eventColumns(fs: FeatureSet): string[] {
  const out = new Set<string>([fs.events.id, fs.events.timestamp, ...fs.columns, ...fs.slices]);
  for (const d of fs.derived) strings(d.expr, out);
  for (const g of fs.aggregations) {
    out.add(g.entity);
    for (const a of g.aggs) if (a.of) out.add(a.of);
  }
  return [...out];
}

/** Label columns: the join key, the report time, and the explicit label column when the spec declares one. */
export function labelColumns(fs: FeatureSet): string[] {
  return [...new Set([fs.labels.key, fs.labels.timestamp, ...(fs.labels.value ? [fs.labels.value.column] : [])])];
}
