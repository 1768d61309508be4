/**
 * A raw-data source of a model spec (data.events, data.labels) read by day partition: the one
 * entry point for anything that needs a day of raw data as an Arrow table (feature backfill, data
 * checks).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Table } from 'apache-arrow';
import { listKeys } from '../infra/s3';
import type { RawSourceOptions } from '../spec/data-source';
import { s3Access } from './access';
import { dayDir, groupByDay, type RawFile } from './layout';
import { readDayFiles, type ReadOptions } from './read';

export type RawSource = {
  /** S3 key prefix ending in "/". */
  prefix: string;
  /** The spec field, for messages: data.events or data.labels. */
  field: string;
  source?: RawSourceOptions;
};

/** The data files of one day of a source (every file of the partition, `_`/`.`-prefixed and .crc files skipped). */
export async function listSourceDay(
  s3: S3Client,
  bucket: string,
  src: RawSource,
  day: string,
  signal?: AbortSignal,
): Promise<RawFile[]> {
  const layout = src.source?.partition ?? 'day';
  const dir = `${src.prefix}${dayDir(layout, day)}`;
  const objects = await listKeys(s3, bucket, dir, signal);
  return groupByDay(src.prefix, objects, layout).days.get(day) ?? [];
}

/**
 * One day partition of a source as an Arrow table: every file of the day, the requested
 * `columns` only (Parquet reads only their column chunks), the spec's casts applied, one schema.
 * Undefined when the day has no data file. Bad input (a file of the wrong format, a failing cast,
 * files of the day that disagree) is a BadInputError naming the file.
 */
export async function readSourcePartition(
  s3: S3Client,
  bucket: string,
  src: RawSource,
  day: string,
  o: Pick<ReadOptions, 'columns' | 'timeRange'> & { signal?: AbortSignal } = {},
): Promise<Table | undefined> {
  const files = await listSourceDay(s3, bucket, src, day, o.signal);
  const r = await readDayFiles(s3Access(s3, bucket, o.signal), files, {
    source: src.source,
    field: src.field,
    columns: o.columns,
    timeRange: o.timeRange,
  });
  return r?.table;
}
