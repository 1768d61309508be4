/**
 * Where raw files are read from: S3 (whole objects for Arrow IPC, ranged GETs for Parquet's
 * footer and column chunks, every range pinned to the listed ETag) or a local directory.
 */
import { openAsBlob } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObjectBytes, s3Uri } from '../infra/s3';
import type { RawFile } from './layout';
import type { BlobLike } from './parquet';
import type { FileAccess } from './read';

/** Counters of what an access read, for benchmarks and tests. */
export type AccessStats = { requests: number; bytes: number };

async function getRange(
  s3: S3Client,
  bucket: string,
  f: RawFile,
  start: number,
  end: number,
  stats: AccessStats,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (end <= start) return new Uint8Array(0);
  const out = await s3.send(
    new GetObjectCommand({
      Bucket: bucket,
      Key: f.key,
      Range: `bytes=${start}-${end - 1}`,
      ...(f.etag ? { IfMatch: f.etag } : {}),
    }),
    { abortSignal: signal },
  );
  if (!out.Body) throw new Error(`${s3Uri(bucket, f.key)} returned no body for bytes ${start}-${end - 1}`);
  const b = await out.Body.transformToByteArray();
  stats.requests++;
  stats.bytes += b.byteLength;
  return b;
}

/** A Blob-like S3 object whose slices are fetched with ranged GETs when read. */
class S3RangeBlob implements BlobLike {
  constructor(
    private readonly read: (start: number, end: number) => Promise<Uint8Array>,
    readonly size: number,
    private readonly start = 0,
  ) {}

  slice(start = 0, end = this.size): S3RangeBlob {
    const s = Math.max(0, Math.min(this.size, start < 0 ? this.size + start : start));
    const e = Math.max(s, Math.min(this.size, end < 0 ? this.size + end : end));
    return new S3RangeBlob(this.read, e - s, this.start + s);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.read(this.start, this.start + this.size);
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : b.slice().buffer;
  }
}

/**
 * Objects up to this size are fetched whole in one GET (then read from memory, parquet-wasm still
 * decoding only the needed columns); larger Parquet objects are read with ranged GETs, so a
 * worker's memory holds the projected column chunks, not the object. Measured on the dev stack
 * (scripts/bench/lib/s3-read-probe.ts, a 2.2 MB day file, 9 of 11 columns needed): one GET and a
 * read from memory 46 ms, ranged GETs 144 ms (6 requests, 1.9 MB).
 */
export const WHOLE_OBJECT_MAX_BYTES = 32 * 1024 * 1024;

export function s3Access(
  s3: S3Client,
  bucket: string,
  signal?: AbortSignal,
  stats: AccessStats = { requests: 0, bytes: 0 },
  wholeMax = WHOLE_OBJECT_MAX_BYTES,
): FileAccess & { stats: AccessStats } {
  // A small object fetched whole for its head is kept until its bytes or blob are taken.
  const fetched = new Map<string, Uint8Array>();
  const whole = async (f: RawFile): Promise<Uint8Array> => {
    const kept = fetched.get(f.key);
    if (kept) {
      fetched.delete(f.key);
      return kept;
    }
    const b = await getObjectBytes(s3, bucket, f.key, signal);
    stats.requests++;
    stats.bytes += b.byteLength;
    return b;
  };
  return {
    stats,
    where: (f) => s3Uri(bucket, f.key),
    async head(f, n) {
      if (f.size > wholeMax) return getRange(s3, bucket, f, 0, Math.min(n, f.size), stats, signal);
      const b = await whole(f);
      fetched.set(f.key, b);
      return b.subarray(0, n);
    },
    bytes: whole,
    async blob(f) {
      if (f.size > wholeMax) return new S3RangeBlob((s, e) => getRange(s3, bucket, f, s, e, stats, signal), f.size);
      return new Blob([await whole(f)]);
    },
  };
}

/** Files under a local directory, keys relative to it. */
export function localAccess(dir: string): FileAccess {
  const pathOf = (f: RawFile) => path.join(dir, ...f.key.split('/'));
  return {
    where: pathOf,
    async head(f, n) {
      const h = await open(pathOf(f), 'r');
      try {
        const b = new Uint8Array(n);
        const { bytesRead } = await h.read(b, 0, n, 0);
        return b.subarray(0, bytesRead);
      } finally {
        await h.close();
      }
    },
    bytes: async (f) => new Uint8Array(await readFile(pathOf(f))),
    blob: async (f) => await openAsBlob(pathOf(f)),
  };
}
