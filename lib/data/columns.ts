/**
 * The raw columns a feature set reads, so only those are decoded (Parquet reads only their column
 * chunks). A derived feature reads the columns its expression names.
 */
import { derivedText, type FeatureSet } from '../features/featureset';
import { exprColumns, parseExpr } from '../features/expr';

/** Event columns: id, time, raw feature columns, derived inputs, aggregation entities and inputs, slices. */
export function eventColumns(fs: FeatureSet): string[] {
  const out = new Set<string>([fs.events.id, fs.events.timestamp, ...fs.columns, ...fs.slices]);
  for (const d of fs.derived) for (const c of exprColumns(parseExpr(derivedText(d.expr)))) out.add(c);
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
