/**
 * Reading a feature snapshot for scoring: its manifest, the partitions of a day window, and the
 * columns evaluation needs besides the features (label, slices, id, time), as typed arrays.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Table, Vector } from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { readSnapshotPartition } from '../data/snapshot';
import { codedColumn } from '../features/arrow-io';
import {
  FEATURE_SNAPSHOT_KIND,
  type FeatureSnapshotManifest,
  type FeatureSnapshotPartition,
} from '../features/manifest';
import { getObjectBytes, isNotFound, parseS3Uri } from '../infra/s3';
import type { DayRange } from '../core/windows';

export async function readManifest(s3: S3Client, uri: string, signal?: AbortSignal): Promise<FeatureSnapshotManifest> {
  let loc;
  try {
    loc = parseS3Uri(uri);
  } catch (err) {
    throw new BadInputError((err as Error).message);
  }
  let bytes: Uint8Array;
  try {
    bytes = await getObjectBytes(s3, loc.bucket, loc.key, signal);
  } catch (err) {
    if (isNotFound(err))
      throw new BadInputError(
        `the feature snapshot manifest ${uri} does not exist; rebuild the snapshot (feature backfill)`,
      );
    throw err;
  }
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new BadInputError(`${uri} is not JSON, so not a feature snapshot manifest`);
  }
  const man = m as Partial<FeatureSnapshotManifest>;
  if (
    man.kind !== FEATURE_SNAPSHOT_KIND ||
    !man.columns ||
    !Array.isArray(man.partitions) ||
    !Array.isArray(man.columns.features)
  ) {
    throw new BadInputError(
      `${uri} is not a feature snapshot manifest ` +
        `(kind ${JSON.stringify(man.kind)}, expected "${FEATURE_SNAPSHOT_KIND}")`,
    );
  }
  return man as FeatureSnapshotManifest;
}

/** The partitions whose day lies in [from, to), sorted by day; warm-up days (incomplete lookback) left out. */
export function partitionsIn(m: FeatureSnapshotManifest, range: DayRange): FeatureSnapshotPartition[] {
  return m.partitions
    .filter((p) => p.day >= range.from && p.day < range.to && p.warmup !== true)
    .sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
}

export async function readPartition(s3: S3Client, p: FeatureSnapshotPartition, signal?: AbortSignal): Promise<Table> {
  const loc = parseS3Uri(p.uri);
  let bytes: Uint8Array;
  try {
    bytes = await getObjectBytes(s3, loc.bucket, loc.key, signal);
  } catch (err) {
    if (isNotFound(err))
      throw new BadInputError(`partition ${p.day} of the snapshot (${p.uri}) does not exist; rebuild the snapshot`);
    throw err;
  }
  return readSnapshotPartition(bytes, p.uri);
}

export function column(t: Table, name: string, where: string, kind: string): Vector {
  const v = t.getChild(name);
  if (!v)
    throw new BadInputError(
      `${where} has no column "${name}" (${kind}); its columns are: ${t.schema.fields.map((f) => f.name).join(', ')}`,
    );
  return v;
}

/**
 * The rows whose label is known (not null), and their labels (1/0). A label other than 0 or 1
 * is bad input.
 */
export function labelledRows(v: Vector, where: string, name: string): { rows: Int32Array; labels: Uint8Array } {
  const n = v.length;
  const rows = new Int32Array(n);
  const labels = new Uint8Array(n);
  let k = 0;
  let at = 0;
  for (const d of v.data) {
    const values = d.values as ArrayLike<number>;
    const bm = d.nullCount > 0 ? d.nullBitmap : null;
    for (let i = 0; i < d.length; i++) {
      if (bm) {
        const j = d.offset + i;
        if (((bm[j >> 3] ?? 0) & (1 << (j & 7))) === 0) continue;
      }
      const y = Number(values[i]);
      if (y !== 0 && y !== 1)
        throw new BadInputError(
          `${where}: label column "${name}" holds ${y} at row ${at + i}; labels are 1, 0 or null (not mature)`,
        );
      rows[k] = at + i;
      labels[k] = y;
      k++;
    }
    at += d.length;
  }
  return { rows: rows.slice(0, k), labels: labels.slice(0, k) };
}

/** Codes of one slice column, in a dictionary shared across partitions (null → "(null)"). */
export class SliceDictionary {
  readonly values: string[] = [];
  private index = new Map<string, number>();

  code(s: string): number {
    let c = this.index.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(s);
      this.index.set(s, c);
    }
    return c;
  }

  /** The partition's codes translated into this dictionary, for `rows` only. */
  encode(v: Vector, where: string, name: string, rows: Int32Array | null): Int32Array {
    const local = codedColumn(v, where, name);
    const tr = local.dict.map((s) => this.code(s));
    const nullCode = () => this.code('(null)');
    const n = rows ? rows.length : v.length;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = local.codes[rows ? rows[i]! : i]!;
      out[i] = c < 0 ? nullCode() : tr[c]!;
    }
    return out;
  }
}

/** A Float64Array / Int32Array / Uint8Array that grows by appending. */
export class Growable<T extends Float64Array | Int32Array | Uint8Array> {
  private buf: T;
  length = 0;
  constructor(
    private readonly make: (n: number) => T,
    capacity: number,
  ) {
    this.buf = make(Math.max(16, capacity));
  }

  /** Room for `n` more values; returns the offset to write at. */
  reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = this.make(Math.max(this.length + n, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  append(a: ArrayLike<number>): void {
    const at = this.reserve(a.length);
    this.buf.set(a, at);
  }

  get raw(): T {
    return this.buf;
  }

  view(): T {
    return this.buf.subarray(0, this.length) as T;
  }
}

/** A readable name of row `row` of a partition: its event id and time. */
export function rowNamer(t: Table, idName: string, tsName: string): (row: number) => string {
  const id = t.getChild(idName);
  const ts = t.getChild(tsName);
  return (row) => {
    const parts = [`row ${row}`];
    const i = idValue(id, row);
    if (i !== null) parts.push(`${idName} ${i}`);
    const when = ts?.get(row) as unknown;
    if (typeof when === 'number' || typeof when === 'bigint') parts.push(new Date(Number(when)).toISOString());
    return parts.join(', ');
  };
}

/** An event's id as a JSON-safe value (Int64 ids beyond 2^53 as strings). */
export function idValue(v: Vector | null, row: number): string | number | null {
  const x = v?.get(row) as unknown;
  if (x === null || x === undefined) return null;
  if (typeof x === 'bigint')
    return x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
  if (typeof x === 'number' || typeof x === 'string') return x;
  return JSON.stringify(x) ?? null;
}

/** An event time as ISO-8601, or null. */
export function tsValue(v: Vector | null, row: number): string | null {
  const x = v?.get(row) as unknown;
  if (typeof x === 'number' || typeof x === 'bigint') return new Date(Number(x)).toISOString();
  if (x instanceof Date) return x.toISOString();
  return null;
}
