/**
 * Reading raw data files (events, labels) of either format: each file's format is the declared
 * one or detected from its magic bytes, Parquet is read column- and row-group-wise, casts are
 * applied per file, and a day's files become one table with one schema.
 */
import {
  DataType,
  Dictionary,
  Int32,
  makeData,
  makeVector,
  Table,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { BadInputError } from '../core/errors';
import { codedColumn, FILE_COLUMNS_KEY, readIpcTable } from '../features/arrow-io';
import type { RawSourceOptions } from '../spec/data-source';
import { applyCasts } from './casts';
import type { RawFile } from './layout';
import { readParquet, type BlobLike, type ParquetReadOptions } from './parquet';

export type FileFormat = 'parquet' | 'arrow';

/** How the files of a store are reached (S3, a local directory). */
export type FileAccess = {
  /** The file's readable address, e.g. s3://bucket/key. */
  where(f: RawFile): string;
  /** The first `n` bytes. */
  head(f: RawFile, n: number): Promise<Uint8Array>;
  /** The whole file. */
  bytes(f: RawFile): Promise<Uint8Array>;
  /** A Blob-like view reading byte ranges on demand. */
  blob(f: RawFile): Promise<BlobLike>;
};

export type ReadOptions = {
  /** The source's declared options (format, casts). */
  source?: RawSourceOptions;
  /** The spec field of the source, for messages: data.events or data.labels. */
  field: string;
  /** Columns to keep; absent = all. */
  columns?: string[];
  /** A timestamp column read as Timestamp(ms, UTC) whatever its unit and zone (other types are left alone). */
  normalizeTime?: string;
  /** Parquet row groups outside this time range are skipped (statistics permitting). */
  timeRange?: ParquetReadOptions['timeRange'];
};

const PAR1 = [0x50, 0x41, 0x52, 0x31];
const ARROW1 = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31];

/** A file's format from its first bytes: Parquet (PAR1), Arrow IPC file (ARROW1) or stream (0xFFFFFFFF). */
export function detectFormat(head: Uint8Array): FileFormat | undefined {
  const starts = (m: number[]) => m.every((b, i) => head[i] === b);
  if (starts(PAR1)) return 'parquet';
  if (starts(ARROW1) || starts([0xff, 0xff, 0xff, 0xff])) return 'arrow';
  return undefined;
}

const FORMAT_NAME: Record<FileFormat, string> = { parquet: 'a Parquet file', arrow: 'an Arrow IPC file' };

function describeHead(head: Uint8Array): string {
  const printable = [...head.subarray(0, 8)].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
  return `starts with "${printable}"`;
}

/** The file's format; a file of another format than the declared one, or of none, is bad input. */
export async function fileFormat(
  access: FileAccess,
  f: RawFile,
  o: Pick<ReadOptions, 'source' | 'field'>,
): Promise<FileFormat> {
  const head = await access.head(f, 8);
  const found = detectFormat(head);
  const declared = o.source?.format;
  if (!found)
    throw new BadInputError(
      `${access.where(f)} is neither Parquet (PAR1) nor Arrow IPC (ARROW1): it ${describeHead(head)}` +
        `${declared ? ` while ${o.field}.format declares ${declared}` : ''}. ` +
        'Remove it from the partition, convert it, or name it with a leading "_" or "." so readers skip it.',
    );
  if (declared && declared !== found)
    throw new BadInputError(
      `${access.where(f)} is ${FORMAT_NAME[found]}, but ${o.field}.format declares ${declared}; ` +
        `set ${o.field}.format: ${found} (or auto, to detect each file) in the model spec, or rewrite the file as ${declared}`,
    );
  return found;
}

/** One file as a table of the requested columns (those it has), casts applied. */
export async function readRawFile(
  access: FileAccess,
  f: RawFile,
  o: ReadOptions,
): Promise<{ table: Table; format: FileFormat; bytes: number }> {
  const where = access.where(f);
  const format = await fileFormat(access, f, o);
  let table: Table;
  let fileColumns: string[];
  let bytes: number;
  if (format === 'parquet') {
    const r = await readParquet(await access.blob(f), where, { columns: o.columns, timeRange: o.timeRange });
    table = r.table;
    fileColumns = r.fileColumns;
    bytes = arrowBytes(table);
  } else {
    const raw = await access.bytes(f);
    const full = readIpcTable(raw, where);
    fileColumns = full.schema.fields.map((x) => x.name);
    table = o.columns ? full.select(o.columns.filter((c) => fileColumns.includes(c))) : full;
    bytes = raw.byteLength;
  }
  table = applyCasts(table, o.source?.casts, where, `${o.field}.casts`);
  const time = o.normalizeTime ? table.getChild(o.normalizeTime) : null;
  if (time && DataType.isTimestamp(time.type))
    table = applyCasts(table, { [o.normalizeTime!]: 'timestamp' }, where, `${o.field}.casts`);
  table.schema.metadata.set(FILE_COLUMNS_KEY, fileColumns.join(', '));
  return { table, format, bytes };
}

/** The memory a table's buffers take (for cache accounting). */
export function arrowBytes(t: Table): number {
  let n = 0;
  const visit = (d: { buffers?: unknown[]; children?: unknown[]; dictionary?: { data: unknown[] } }) => {
    for (const b of d.buffers ?? []) if (b && ArrayBuffer.isView(b)) n += b.byteLength;
    for (const c of d.children ?? []) visit(c as never);
    for (const c of d.dictionary?.data ?? []) visit(c as never);
  };
  for (const b of t.batches) visit(b.data as never);
  return n;
}

/**
 * A day's files as one table: every file read, their columns the same and of the same types (a
 * difference names both files and the fix), rows in file order.
 */
export async function readDayFiles(
  access: FileAccess,
  files: RawFile[],
  o: ReadOptions,
): Promise<{ table: Table; bytes: number; files: number } | undefined> {
  if (files.length === 0) return undefined;
  const parts = [];
  for (const f of files) parts.push({ f, ...(await readRawFile(access, f, o)) });
  const first = parts[0]!;
  const names = first.table.schema.fields.map((x) => x.name);
  const typeOf = (t: Table, c: string) => String(t.getChild(c)?.type);
  for (const p of parts.slice(1)) {
    const have = p.table.schema.fields.map((x) => x.name);
    const missing = names.filter((c) => !have.includes(c));
    const extra = have.filter((c) => !names.includes(c));
    if (missing.length > 0 || extra.length > 0) {
      const [lacks, c, other] = missing.length > 0 ? [p.f, missing[0]!, first.f] : [first.f, extra[0]!, p.f];
      throw new BadInputError(
        `${access.where(lacks)} has no column "${c}" that ${access.where(other)} of the same day partition has; ` +
          'every file of a partition needs the columns the model spec reads: rewrite the file',
      );
    }
    for (const c of names) {
      const a = typeOf(first.table, c);
      const b = typeOf(p.table, c);
      if (a !== b)
        throw new BadInputError(
          `column "${c}" is ${a} in ${access.where(first.f)} but ${b} in ${access.where(p.f)} (same day partition); ` +
            `declare ${o.field}.casts: { ${c}: <type> } in the model spec so both read as one type, or rewrite the files`,
        );
    }
  }
  const fileColumns = first.table.schema.metadata.get(FILE_COLUMNS_KEY) ?? '';
  let table = first.table;
  if (parts.length > 1) {
    const ordered = parts.map((p) => p.table.select(names));
    table = new Table(ordered.flatMap((t) => t.batches));
  }
  if (table.schema.fields.length === 0) table = first.table;
  table = unifyDictionaries(table, access.where(first.f));
  table.schema.metadata.set(FILE_COLUMNS_KEY, fileColumns);
  return { table, bytes: parts.reduce((s, p) => s + p.bytes, 0), files: parts.length };
}

/**
 * Dictionary columns whose chunks (files, row groups) carry different dictionaries, re-encoded
 * over one shared dictionary: an Arrow IPC file (the snapshot) cannot hold replacement
 * dictionaries. Columns with one dictionary are kept as they are.
 */
export function unifyDictionaries(table: Table, where: string): Table {
  const replaced: Record<string, Vector> = {};
  for (const f of table.schema.fields) {
    if (!(f.type instanceof Dictionary)) continue;
    const v = table.getChild(f.name)!;
    const dicts = new Set(v.data.map((d) => d.dictionary));
    if (dicts.size <= 1) continue;
    const { codes, dict } = codedColumn(v, where, f.name);
    const type = new Dictionary(new Utf8(), new Int32(), f.type.id, f.type.isOrdered);
    let nulls = 0;
    const bitmap = new Uint8Array(Math.ceil(codes.length / 8));
    for (let i = 0; i < codes.length; i++) {
      if (codes[i]! < 0) {
        nulls++;
        codes[i] = 0;
      } else bitmap[i >> 3]! |= 1 << (i & 7);
    }
    const dictionary = vectorFromArray(dict, new Utf8());
    replaced[f.name] = makeVector(
      makeData({
        type,
        length: codes.length,
        nullCount: nulls,
        nullBitmap: nulls ? bitmap : undefined,
        data: codes,
        dictionary,
      }),
    );
  }
  if (Object.keys(replaced).length === 0) return table;
  const columns: Record<string, Vector> = {};
  for (const f of table.schema.fields) columns[f.name] = replaced[f.name] ?? table.getChild(f.name)!;
  const out = new Table(columns);
  for (const [k, val] of table.schema.metadata) out.schema.metadata.set(k, val);
  return out;
}
