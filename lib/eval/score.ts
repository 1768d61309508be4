/**
 * mlo's scoring path: Arrow feature columns → one reusable float32 batch tensor → every model's
 * session.run → one Float64Array of probabilities per model. The evaluation and shadow
 * activities, the parity test and the scoring benchmark all go through `scoreRows`.
 */
import { fillTensor, newFillStats, type FeatureColumns, type FillStats, type NanPolicy } from './tensor';
import type { ScoringModel } from './onnx-model';

export const DEFAULT_BATCH_ROWS = 65_536;

export type ScoreOptions = {
  batchSize?: number;
  /** Where the rows come from (a partition URI), for errors. */
  where: string;
  /** Names a row (index into the columns) in errors, e.g. by its event id. */
  describeRow?: (row: number) => string;
  /** Accumulates NaN counts per feature; a fresh one when absent. */
  stats?: FillStats;
  /** Per model, the wall time of each batch's session.run in ms (appended). */
  latencies?: number[][];
  /** Output arrays to fill (one per model) starting at `offset`; new arrays when absent. */
  out?: Float64Array[];
  offset?: number;
  /** Called after each batch, e.g. to heartbeat. */
  onBatch?: (rowsDone: number, rowsTotal: number) => void;
  /** A reusable tensor buffer of at least batchSize × F floats. */
  buffer?: Float32Array;
  /** Checked between batches: a cancelled activity stops scoring. */
  signal?: AbortSignal;
};

/** NaN passes only when every model declares missing-value handling. */
export function nanPolicyFor(models: ScoringModel[]): NanPolicy {
  const refusing = models.filter((m) => !m.description.handlesMissing);
  if (refusing.length === 0) return { allowNaN: true };
  return {
    allowNaN: false,
    refusal: refusing.map((m) => `${m.label} cannot take missing values (${m.description.missingReason})`).join('; '),
  };
}

/**
 * Scores `rows` (indices into the columns; null = every row in order) with every model, in
 * batches. Returns one Float64Array of probabilities per model (aligned with `rows`).
 */
export async function scoreRows(
  models: ScoringModel[],
  m: FeatureColumns,
  rows: Int32Array | null,
  o: ScoreOptions,
): Promise<Float64Array[]> {
  const n = rows ? rows.length : m.rows;
  const F = m.columns.length;
  for (const model of models) {
    if (model.features !== F)
      throw new Error(`internal: ${model.label} takes ${model.features} features, the columns hold ${F}`);
  }
  const batch = Math.max(1, Math.min(o.batchSize ?? DEFAULT_BATCH_ROWS, Math.max(n, 1)));
  const buffer = o.buffer && o.buffer.length >= batch * F ? o.buffer : new Float32Array(batch * F);
  const offset = o.offset ?? 0;
  const out = o.out ?? models.map(() => new Float64Array(n));
  const stats = o.stats ?? newFillStats(F);
  const policy = nanPolicyFor(models);
  const describeRow = o.describeRow ?? ((row: number) => `row ${row}`);
  for (let start = 0; start < n; start += batch) {
    o.signal?.throwIfAborted();
    const end = Math.min(n, start + batch);
    const len = end - start;
    fillTensor(buffer, m, rows, start, end, policy, stats, o.where, describeRow);
    const input = len * F === buffer.length ? buffer : buffer.subarray(0, len * F);
    for (let k = 0; k < models.length; k++) {
      const ms = await models[k]!.run(
        input,
        len,
        out[k]!,
        offset + start,
        (i) => `${describeRow(rows ? rows[start + i]! : start + i)} of ${o.where}`,
      );
      o.latencies?.[k]?.push(ms);
    }
    o.onBatch?.(end, n);
  }
  return out;
}
