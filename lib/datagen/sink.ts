/**
 * Where generated partitions go. Each file is written whole in one call (one S3 PUT, or a
 * temp file renamed into place), so a reader never sees half a partition.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type Config } from '../infra/config';
import { UnreachableError } from '../core/errors';
import { createS3Client, ensureBucket, getObjectBytes, headObject, isNotFound, putObject, s3Uri } from '../infra/s3';

export interface PartitionSink {
  /** Where the keys live, for messages: `s3://bucket` or a directory. */
  readonly location: string;
  /** Writes the complete object under `key` (replacing any previous one). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get?(key: string): Promise<Uint8Array | undefined>;
  exists?(key: string): Promise<boolean>;
  /** Removes the object; no error when it does not exist. */
  delete?(key: string): Promise<void>;
}

function contentType(key: string): string {
  if (key.endsWith('.arrow')) return 'application/vnd.apache.arrow.file';
  if (key.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

/** Rejects keys that could escape the sink's root or are not plain relative paths. */
function checkKey(key: string): void {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new Error(
      `invalid object key "${key}": expected a relative path like raw/payments/day=2026-01-01/part-00000.arrow`,
    );
  }
}

/** A local directory; keys become relative paths below it. For tests and offline use. */
export class LocalDirSink implements PartitionSink {
  readonly location: string;
  private seq = 0;

  constructor(readonly root: string) {
    this.location = path.resolve(root);
  }

  pathOf(key: string): string {
    checkKey(key);
    return path.join(this.location, ...key.split('/'));
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${this.seq++}-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** True when the error means the endpoint could not be reached at all. */
function isConnectionError(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(isConnectionError);
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError') return true;
  return e.cause !== undefined && e.cause !== err && isConnectionError(e.cause);
}

/** An S3 bucket (AWS, or the dev stack's S3 server). */
export class S3Sink implements PartitionSink {
  readonly location: string;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    private readonly endpoint = 'S3',
  ) {
    this.location = s3Uri(bucket, '').replace(/\/$/, '');
  }

  /** A sink on the configured bucket (created if missing); an unreachable S3 is an UnreachableError. */
  static async open(cfg: Config['s3'] = loadConfig().s3): Promise<S3Sink> {
    const sink = new S3Sink(createS3Client(cfg), cfg.bucket, cfg.endpoint);
    await sink.call(() => ensureBucket(sink.s3, sink.bucket));
    return sink;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err))
        throw new UnreachableError(
          'S3',
          this.endpoint,
          err instanceof Error ? err.message || String((err as { code?: unknown }).code) : String(err),
        );
      throw err;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    await this.call(() => putObject(this.s3, this.bucket, key, bytes, { contentType: contentType(key) }));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.call(async () => {
      try {
        return await getObjectBytes(this.s3, this.bucket, key);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    return this.call(async () => (await headObject(this.s3, this.bucket, key)) !== undefined);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call(() => this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }
}
