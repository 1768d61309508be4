/**
 * Raw data as the data checks see it: a listing of day partitions (days → files with size and
 * S3 LastModified) and a reader that turns one file into an apache-arrow Table. The checks
 * (lib/data/check.ts) use only these two. Files are read as the feature backfill reads them:
 * Parquet or Arrow IPC by their first bytes (lib/data/read.ts), under any hive day layout
 * (`day=`, `dt=`, `date=`, `year=/month=/day=`, lib/data/layout.ts), `_SUCCESS`, `_`/`.`-prefixed
 * files and `.crc` checksums skipped.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Table } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { readIpcTable } from '../features/arrow-io';
import { getObjectBytes, listKeys, s3Uri } from '../infra/s3';
import { dayOfKey as layoutDayOfKey } from './layout';
import { readParquet } from './parquet';
import { detectFormat } from './read';

export type RawFile = {
  key: string;
  /** s3://bucket/key, for findings. */
  uri: string;
  size: number;
  etag: string;
  /** When the object landed in S3 (LastModified); undefined when the store does not say. */
  lastModified?: Date;
};

/** Day (YYYY-MM-DD) → its files, sorted by key. */
export type DayListing = Map<string, RawFile[]>;

export interface RawDataSource {
  /** Every file under a day-partitioned prefix, by day. */
  list(prefix: string, signal?: AbortSignal): Promise<DayListing>;
  /** One file's rows; a file that cannot be decoded is a BadInputError naming it. */
  read(file: RawFile, signal?: AbortSignal): Promise<Table>;
}

/** The day partition a data file (its key relative to the prefix) belongs to, under any hive day layout. */
export function dayOfKey(relativeKey: string): string | undefined {
  return layoutDayOfKey(relativeKey)?.day;
}

/** Decodes one raw file: Parquet or Arrow IPC, by its first bytes; anything else is bad input naming it. */
export async function readRawTable(bytes: Uint8Array, file: Pick<RawFile, 'uri' | 'key'>): Promise<Table> {
  const format = detectFormat(bytes.subarray(0, 8));
  if (format === 'parquet') return (await readParquet(new Blob([bytes]), file.uri)).table;
  if (format === 'arrow') return readIpcTable(bytes, file.uri);
  throw new BadInputError(
    `${file.uri} is neither Parquet (PAR1) nor Arrow IPC (ARROW1); remove it from the partition, convert it, ` +
      'or name it with a leading "_" or "." so readers skip it',
  );
}

/** Groups listed objects by day; keys outside a day partition are ignored. */
export function groupByDay(prefix: string, files: RawFile[]): DayListing {
  const out: DayListing = new Map();
  for (const f of files) {
    const day = dayOfKey(f.key.slice(prefix.length));
    if (!day) continue;
    const list = out.get(day) ?? [];
    list.push(f);
    out.set(day, list);
  }
  for (const l of out.values()) l.sort((a, b) => (a.key < b.key ? -1 : 1));
  return out;
}

/** Raw data in an S3 bucket (any S3 API). */
export function s3RawSource(s3: S3Client, bucket: string): RawDataSource {
  return {
    async list(prefix, signal) {
      const files: RawFile[] = (await listKeys(s3, bucket, prefix, signal)).map((o) => ({
        ...o,
        uri: s3Uri(bucket, o.key),
      }));
      return groupByDay(prefix, files);
    },
    async read(file, signal) {
      return readRawTable(await getObjectBytes(s3, bucket, file.key, signal), file);
    },
  };
}
