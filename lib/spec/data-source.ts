/**
 * The model spec's raw-data pieces: how a source's files are laid out and encoded (format,
 * Hive-style partition keys, column casts) and how feature snapshots are written. Every field
 * is optional so a spec that does not use them keeps its hash.
 */
import { z } from 'zod';

/** File formats of raw events and labels; `auto` detects each file from its magic bytes. */
export const RAW_FORMATS = ['auto', 'parquet', 'arrow'] as const;
export type RawFormat = (typeof RAW_FORMATS)[number];

/** Hive-style partition layouts: `day=YYYY-MM-DD/`, `dt=…/`, `date=…/`, or `year=YYYY/month=MM/day=DD/`. */
export const PARTITION_LAYOUTS = ['day', 'dt', 'date', 'year/month/day'] as const;
export type PartitionLayout = (typeof PARTITION_LAYOUTS)[number];

/** Types a raw column can be cast to on read. */
export const CAST_TYPES = ['float64', 'float32', 'int64', 'int32', 'string', 'timestamp', 'date'] as const;
export type CastType = (typeof CAST_TYPES)[number];

/** Snapshot partition formats. */
export const SNAPSHOT_FORMATS = ['arrow', 'parquet'] as const;
export type SnapshotFormat = (typeof SNAPSHOT_FORMATS)[number];

const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a column name');

export const rawFormat = z.enum(RAW_FORMATS, {
  message: `must be one of ${RAW_FORMATS.join(', ')} (auto: detected per file from its magic bytes)`,
});
export const partitionLayout = z.enum(PARTITION_LAYOUTS, {
  message: `must be one of ${PARTITION_LAYOUTS.join(', ')} (the Hive-style keys of the day directories)`,
});
export const columnCasts = z.record(
  columnName,
  z.enum(CAST_TYPES, { message: `must be one of ${CAST_TYPES.join(', ')}` }),
);
export const snapshotFormat = z.enum(SNAPSHOT_FORMATS, { message: `must be ${SNAPSHOT_FORMATS.join(' or ')}` });

/** Fields shared by `data.events` and `data.labels`. */
export const rawSourceFields = {
  format: rawFormat.optional(),
  partition: partitionLayout.optional(),
  casts: columnCasts.optional(),
};

/** A source's read options as the backfill carries them (absent = the default). */
export type RawSourceOptions = {
  format?: Exclude<RawFormat, 'auto'>;
  partition?: Exclude<PartitionLayout, 'day'>;
  casts?: Record<string, CastType>;
};

/** The options of a spec source, with defaults left out (so existing feature-set hashes stay the same). */
export function rawSourceOptions(s: {
  format?: RawFormat;
  partition?: PartitionLayout;
  casts?: Record<string, CastType>;
}): RawSourceOptions | undefined {
  const o: RawSourceOptions = {};
  if (s.format && s.format !== 'auto') o.format = s.format;
  if (s.partition && s.partition !== 'day') o.partition = s.partition;
  if (s.casts && Object.keys(s.casts).length > 0) o.casts = s.casts;
  return Object.keys(o).length > 0 ? o : undefined;
}
