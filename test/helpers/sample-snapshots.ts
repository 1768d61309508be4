/**
 * Feature snapshots of the bundled sample data (the dataset `npm run demo` writes) for a shipped
 * model spec and an as-of day, computed in-process with the backfill's own partition code
 * (`computeFeaturePartition`) instead of through Temporal: the sample dataset is generated into a
 * local directory, and each as-of day's train and validation partitions are computed with its
 * label cut-off and written with a `mlo.feature-snapshot/v1` manifest through a sink (local or S3).
 */
import { readFileSync } from 'node:fs';
import { generateDataset, LocalDirSink, paymentsKey, chargebacksKey, type PartitionSink } from '../../lib/datagen';
import { readIpcTable } from '../../lib/features/arrow-io';
import { featureSetFromSpec, featureSetHash, type FeatureSet } from '../../lib/features/featureset';
import { buildSnapshotManifest, type FeatureSnapshotManifest } from '../../lib/features/manifest';
import { buildLabelIndex, computeFeaturePartition, LABEL_COLUMN, type LoadedDay } from '../../lib/features/partition';
import { addDays, daysBetween, runWindows, type RunWindows } from '../../lib/core/windows';
import type { ModelSpec } from '../../lib/spec/model-spec';

/** The sample dataset of `npm run demo` (scripts/demo.ts). */
export const SAMPLE_DATA = { events: 400_000, days: 75, start: '2026-01-01', seed: 42, prefix: 'raw/' } as const;

const DAY_MS = 86_400_000;

/** The sample data's days, first to last. */
export function sampleDays(): string[] {
  return daysBetween({ from: SAMPLE_DATA.start, to: addDays(SAMPLE_DATA.start, SAMPLE_DATA.days) });
}

/**
 * The as-of days of the sample data on which `spec`'s windows are valid: the training window
 * starts on or after the first day and the shadow window ends on or before the last day + 1
 * (the as-of day is exclusive).
 */
export function validAsOfDays(spec: ModelSpec): string[] {
  const days = sampleDays();
  const first = days[0]!;
  const end = addDays(days[days.length - 1]!, 1);
  const out: string[] = [];
  for (let d = first; d <= end; d = addDays(d, 1)) {
    const w = runWindows({ asOf: d, spec }, new Date(0));
    if (w.train.from >= first && w.shadow.to <= end) out.push(d);
  }
  return out;
}

/** Generates the sample dataset into `dir` (reused when already there). */
export async function sampleData(dir: string): Promise<LocalDirSink> {
  const sink = new LocalDirSink(dir);
  await generateDataset({ ...SAMPLE_DATA }, sink);
  return sink;
}

/** Reads raw partitions of the sample data from a local directory, each once. */
class RawDays {
  private readonly tables = new Map<string, LoadedDay | null>();
  constructor(private readonly raw: LocalDirSink) {}

  get(key: string, day: string): LoadedDay | undefined {
    if (!this.tables.has(key)) {
      const file = this.raw.pathOf(key);
      let bytes: Buffer | undefined;
      try {
        bytes = readFileSync(file);
      } catch {
        bytes = undefined;
      }
      this.tables.set(key, bytes ? { day, where: file, table: readIpcTable(new Uint8Array(bytes), file) } : null);
    }
    return this.tables.get(key) ?? undefined;
  }
}

export type SampleSnapshot = { windows: RunWindows; manifestUri: string; featureColumns: string[] };

/**
 * Writes the snapshot of `spec` as of `asOf` (its train and validation days, labels as known at
 * the as-of day) under `prefix` of `sink`, whose objects are addressed as `<uriBase><key>`.
 */
export async function writeSampleSnapshot(opts: {
  raw: LocalDirSink;
  spec: ModelSpec;
  asOf: string;
  sink: PartitionSink;
  prefix: string;
  uriBase: string;
}): Promise<SampleSnapshot> {
  const { spec, asOf, sink, prefix, uriBase } = opts;
  const fs = featureSetFromSpec(spec);
  const windows = runWindows({ asOf, spec }, new Date(0));
  const raw = new RawDays(opts.raw);
  const cutoffMs = Date.parse(windows.labelCutoff);
  const labelTables = sampleDays()
    .filter((d) => d < asOf)
    .map((d) => raw.get(chargebacksKey(SAMPLE_DATA.prefix, d), d))
    .filter((t): t is LoadedDay => t !== undefined);
  const labels = buildLabelIndex(labelTables, fs.labels.key, fs.labels.timestamp, cutoffMs, fs.labels.value);
  const days = daysBetween({ from: windows.train.from, to: windows.validation.to });
  const partitions: FeatureSnapshotManifest['partitions'] = [];
  for (const day of days) {
    const target = raw.get(paymentsKey(SAMPLE_DATA.prefix, day), day);
    if (!target) throw new Error(`the sample data has no payments on ${day}`);
    const out = computeFeaturePartition(fs, target, lookbackOf(raw, fs, day), labels, cutoffMs);
    const key = `${prefix}day=${day}/part.arrow`;
    await sink.put(key, out.bytes);
    partitions.push({ day, uri: `${uriBase}${key}`, hash: day, ...out.stats });
  }
  const manifest = manifestOf(fs, spec, windows, days, partitions);
  const key = `${prefix}manifest.json`;
  await sink.put(key, new TextEncoder().encode(JSON.stringify(manifest)));
  return { windows, manifestUri: `${uriBase}${key}`, featureColumns: fs.featureOrder };
}

function lookbackOf(raw: RawDays, fs: FeatureSet, day: string): LoadedDay[] {
  const out: LoadedDay[] = [];
  for (let k = Math.ceil(fs.lookbackMs / DAY_MS); k >= 1; k--) {
    const d = addDays(day, -k);
    const t = raw.get(paymentsKey(SAMPLE_DATA.prefix, d), d);
    if (t) out.push(t);
  }
  return out;
}

function manifestOf(
  fs: FeatureSet,
  spec: ModelSpec,
  windows: RunWindows,
  days: string[],
  partitions: FeatureSnapshotManifest['partitions'],
): FeatureSnapshotManifest {
  return buildSnapshotManifest({
    model: spec.name,
    featureSetHash: featureSetHash(fs),
    hash: `sample-${windows.asOf}`,
    window: { from: days[0]!, to: addDays(days[days.length - 1]!, 1) },
    labelCutoff: windows.labelCutoff,
    featureSet: fs,
    labelColumn: LABEL_COLUMN,
    partitions,
  });
}
