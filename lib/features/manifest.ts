/**
 * The feature snapshot manifest: the hand-off from feature backfill to training and
 * evaluation. One JSON object per snapshot, written after every partition it lists, under
 * a key derived from its content hash, so a reader never sees a manifest whose partitions
 * are missing.
 */
import type { FeatureSet } from './featureset';

export const FEATURE_SNAPSHOT_KIND = 'mlo.feature-snapshot/v1';

export type FeatureColumnType = 'float64';

export type FeatureSnapshotPartition = {
  /** Day partition, YYYY-MM-DD (UTC). */
  day: string;
  /** s3://bucket/key of the file holding the day's rows (Arrow IPC, or Parquet when the manifest's format says so). */
  uri: string;
  rows: number;
  /** Rows whose label had matured by the cut-off (the rest have a null label). */
  labeledRows: number;
  positives: number;
  /** Content hash of the partition's inputs and definitions (the cache key). */
  hash: string;
  /**
   * A warm-up day (features.warmup: exclude): its longest window reaches before the first raw day,
   * so no trainer, evaluation or shadow scoring reads it. Absent on every other partition.
   */
  warmup?: true;
  /**
   * The day's raw input statistics and data-check warnings (lib/data/check.ts). Absent in
   * manifests written before they were recorded; readers must not require it.
   */
  stats?: PartitionDataStats;
};

/**
 * One raw input column of a day: nulls (Arrow nulls, and NaN in floating-point columns), their
 * rate over the day's rows, and the min and max of its values (numbers; epoch milliseconds for
 * timestamps; null for strings or when every value is null).
 */
export type ColumnStats = { nulls: number; nullRate: number; min: number | null; max: number | null };

/** A day's raw events as the feature backfill read them: rows, every input column used, warnings. */
export type PartitionDataStats = {
  rows: number;
  columns: Record<string, ColumnStats>;
  /** Warning-level data-check findings of the day, one line each (errors fail the partition). */
  warnings: string[];
};

export type FeatureSnapshotManifest = {
  kind: typeof FEATURE_SNAPSHOT_KIND;
  model: string;
  /** Hash of the feature definitions alone. */
  featureSetHash: string;
  /** Hash of everything that determines the snapshot's bytes. */
  hash: string;
  window: { from: string; to: string };
  /** Labels that arrived after this instant are ignored (ISO-8601). */
  labelCutoff: string;
  /** Format of the partition files; absent = Arrow IPC (readers also tell them apart by their magic bytes). */
  format?: 'parquet';
  columns: {
    /** Event id column (Int64). */
    id: string;
    /** Event time column (Timestamp ms, UTC). */
    timestamp: string;
    /** Label column: Float64 1/0, null when not mature by the cut-off. */
    label: string;
    /** Model inputs, in the order of the model's input vector; all Float64 in the files. */
    features: { name: string; type: FeatureColumnType }[];
    /** String columns kept for slicing evaluation (country, channel, …). */
    slices: string[];
  };
  partitions: FeatureSnapshotPartition[];
  rows: number;
  labeledRows: number;
  positives: number;
};

/**
 * A snapshot's manifest from its identity and partitions: the columns follow the feature set (the
 * label column is `labelColumn`), the totals are the partitions'.
 */
export function buildSnapshotManifest(m: {
  model: string;
  featureSetHash: string;
  hash: string;
  window: { from: string; to: string };
  labelCutoff: string;
  featureSet: Pick<FeatureSet, 'events' | 'featureOrder' | 'slices'>;
  labelColumn: string;
  partitions: FeatureSnapshotPartition[];
  format?: 'parquet';
}): FeatureSnapshotManifest {
  const { featureSet: fs, partitions } = m;
  return {
    kind: FEATURE_SNAPSHOT_KIND,
    model: m.model,
    featureSetHash: m.featureSetHash,
    hash: m.hash,
    window: m.window,
    labelCutoff: m.labelCutoff,
    ...(m.format ? { format: m.format } : {}),
    columns: {
      id: fs.events.id,
      timestamp: fs.events.timestamp,
      label: m.labelColumn,
      features: fs.featureOrder.map((name) => ({ name, type: 'float64' as const })),
      slices: fs.slices,
    },
    partitions,
    rows: partitions.reduce((s, p) => s + p.rows, 0),
    labeledRows: partitions.reduce((s, p) => s + p.labeledRows, 0),
    positives: partitions.reduce((s, p) => s + p.positives, 0),
  };
}
