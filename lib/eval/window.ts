/**
 * Scoring one window of a feature snapshot with the candidate and the champion, as evaluation and
 * shadow scoring both do: the snapshot's partitions whose day is in the window, both models loaded
 * against its feature columns (and released once scored), and the rows each stage picks of every
 * partition scored in batches into one probability array per model.
 */
import type { Table } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import type { DayRange } from '../core/windows';
import type { FeatureSnapshotManifest, FeatureSnapshotPartition } from '../features/manifest';
import type { ModelVersion } from '../registry/mlflow';
import { Growable, partitionsIn, readManifest, readPartition, rowNamer } from './data';
import { loadModels, releaseModels, type Clients, type LoadedModels } from './load-models';
import type { ModelDescription } from './onnx-model';
import { DEFAULT_BATCH_ROWS, scoreRows } from './score';
import { featureColumns, newFillStats, type FillStats } from './tensor';

/** Probabilities per model, aligned: row i of one is row i of the other. */
export type WindowScores = { candidate: Float64Array; champion: Float64Array | null };

/** What a stage scores of one partition, and what it keeps once those rows are scored. */
export type PartitionRows = {
  /** Rows to score (indices into the partition), or null for every row. */
  rows: Int32Array | null;
  /** How many rows that is; none skips the partition. */
  count: number;
  /** Called once the rows are scored: theirs are [at, at + count) of `scores`. */
  scored?: (at: number, scores: WindowScores) => void;
};

/** How a stage picks the rows of each partition of its window. */
export type RowPicker = {
  /** The rows the window's partitions are expected to give, to size the score arrays. */
  capacity: number;
  pick: (table: Table, p: FeatureSnapshotPartition) => PartitionRows;
};

export type ScoreWindowOptions = {
  model: string;
  candidate: { version: string; onnxUri: string };
  manifestUri: string;
  window: DayRange;
  /** How messages name the window, e.g. "the holdout". */
  windowName: string;
  /** Checks the manifest before the window is chosen (e.g. for the columns a stage needs). */
  checkManifest?: (manifest: FeatureSnapshotManifest) => void;
  /** Called once the window's partitions are known. */
  picker: (manifest: FeatureSnapshotManifest, parts: FeatureSnapshotPartition[]) => RowPicker;
  /** Rows per session.run (default DEFAULT_BATCH_ROWS). */
  batchSize?: number;
  heartbeat: (details: Record<string, unknown>) => void;
  signal: AbortSignal;
};

export type ScoredWindow = {
  manifest: FeatureSnapshotManifest;
  features: string[];
  parts: FeatureSnapshotPartition[];
  candidate: ModelDescription;
  champion: ModelDescription | null;
  championVersion: ModelVersion | null;
  /** Why there is no champion, when there is none. */
  championNote: string | null;
  scores: WindowScores;
  /** Rows in the window's partitions, scored or not. */
  totalRows: number;
  /** NaN counts per feature over the scored rows. */
  stats: FillStats;
  /** Milliseconds of each batch's session.run, per model. */
  latencyMs: { candidate: number[]; champion: number[] | null };
  /** Rows of each batch, in the order scored. */
  batchRows: number[];
};

/** The snapshot's manifest, its feature columns, and the partitions in the window (bad input when none). */
async function openWindow(
  c: Clients,
  o: ScoreWindowOptions,
): Promise<{ manifest: FeatureSnapshotManifest; features: string[]; parts: FeatureSnapshotPartition[] }> {
  const manifest = await readManifest(c.s3, o.manifestUri, o.signal);
  const features = manifest.columns.features.map((f) => f.name);
  o.checkManifest?.(manifest);
  const parts = partitionsIn(manifest, o.window);
  if (parts.length === 0) {
    throw new BadInputError(
      `${o.windowName} ${o.window.from}..${o.window.to} is empty: the snapshot ${o.manifestUri} has no partition ` +
        `in it (it covers ${manifest.window.from}..${manifest.window.to})`,
    );
  }
  return { manifest, features, parts };
}

/** Loads the window's snapshot and both models, and scores every partition's selected rows. */
export async function scoreWindow(c: Clients, o: ScoreWindowOptions): Promise<ScoredWindow> {
  o.heartbeat({ stage: 'loading' });
  const { manifest, features, parts } = await openWindow(c, o);
  const models = await loadModels(c, o.model, o.candidate, features, o.signal);
  try {
    const scored = await scorePartitions(c, o, manifest, features, parts, models);
    return {
      manifest,
      features,
      parts,
      candidate: models.candidate.description,
      champion: models.champion?.description ?? null,
      championVersion: models.championVersion,
      championNote: models.championNote,
      ...scored,
    };
  } finally {
    await releaseModels(models);
  }
}

async function scorePartitions(
  c: Clients,
  o: ScoreWindowOptions,
  manifest: FeatureSnapshotManifest,
  features: string[],
  parts: FeatureSnapshotPartition[],
  models: LoadedModels,
): Promise<Pick<ScoredWindow, 'scores' | 'totalRows' | 'stats' | 'latencyMs' | 'batchRows'>> {
  const scoring = models.champion ? [models.candidate, models.champion] : [models.candidate];
  const picker = o.picker(manifest, parts);
  const capacity = picker.capacity;
  const cand = new Growable((n) => new Float64Array(n), capacity);
  const champ = models.champion ? new Growable((n) => new Float64Array(n), capacity) : null;
  const latencies: number[][] = scoring.map(() => []);
  const batchRows: number[] = [];
  const stats = newFillStats(features.length);
  const buffer = new Float32Array((o.batchSize ?? DEFAULT_BATCH_ROWS) * features.length);
  let totalRows = 0;
  for (const [i, p] of parts.entries()) {
    const progress = { stage: 'scoring', partition: p.day, done: i, of: parts.length };
    o.heartbeat(progress);
    const t = await readPartition(c.s3, p, o.signal);
    totalRows += t.numRows;
    const pick = picker.pick(t, p);
    if (pick.count === 0) continue;
    const cols = featureColumns(t, features, p.uri);
    const at = cand.reserve(pick.count);
    champ?.reserve(pick.count);
    let prev = 0;
    await scoreRows(scoring, cols, pick.rows, {
      batchSize: o.batchSize,
      where: p.uri,
      describeRow: rowNamer(t, manifest.columns.id, manifest.columns.timestamp),
      stats,
      buffer,
      signal: o.signal,
      latencies,
      out: champ ? [cand.raw, champ.raw] : [cand.raw],
      offset: at,
      onBatch: (done, total) => {
        batchRows.push(done - prev);
        prev = done;
        o.heartbeat({ ...progress, rows: done, rowsOfPartition: total });
      },
    });
    pick.scored?.(at, { candidate: cand.raw, champion: champ?.raw ?? null });
  }
  return {
    scores: { candidate: cand.view(), champion: champ ? champ.view() : null },
    totalRows,
    stats,
    latencyMs: { candidate: latencies[0]!, champion: champ ? latencies[1]! : null },
    batchRows,
  };
}

/** NaN counts per feature column, for a report. */
export function missingValues(w: Pick<ScoredWindow, 'features' | 'stats'>): Record<string, number> {
  return Object.fromEntries(w.features.map((f, k) => [f, w.stats.nanPerColumn[k]!]));
}
