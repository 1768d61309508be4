/**
 * Parquet through parquet-wasm: the footer first, then only the requested columns of the
 * requested row groups, from any Blob-like source (a local file's Blob, or S3 ranged GETs), into
 * an apache-arrow Table through one IPC stream. Never the whole file in memory unless every
 * column and row group is asked for.
 */
import { Table, tableFromIPC, type RecordBatch, type Schema } from 'apache-arrow';
import { ParquetFile } from 'parquet-wasm/node';
import { BadInputError } from '../core/errors';
import { rowGroupRanges, type RowGroupRange } from './parquet-footer';

/** What parquet-wasm reads from: a size, and byte ranges read asynchronously. */
export type BlobLike = {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
};

export type ParquetReadOptions = {
  /** Top-level columns to read; absent = all. Names the file lacks are skipped (callers name missing ones). */
  columns?: string[];
  /**
   * Keep only row groups whose `column` statistics (epoch ms) may hold a value in [fromMs, toMs);
   * a row group without statistics is kept.
   */
  timeRange?: { column: string; fromMs: number; toMs: number };
};

export type ParquetReadResult = {
  table: Table;
  /** Every top-level column of the file, for errors about missing ones. */
  fileColumns: string[];
  rowGroups: { total: number; read: number };
};

async function open(blob: BlobLike, where: string): Promise<ParquetFile> {
  try {
    return await ParquetFile.fromFile(blob as unknown as Blob);
  } catch (err) {
    throw new BadInputError(
      `${where} is not a readable Parquet file (${String((err as Error)?.message ?? err)}); ` +
        'rewrite it, or remove it from the partition',
    );
  }
}

function fileSchema(f: ParquetFile): Schema {
  return tableFromIPC(f.schema().intoIPCStream()).schema;
}

/** Reads the projected columns and the row groups that may hold rows in the time range. */
export async function readParquet(
  blob: BlobLike,
  where: string,
  o: ParquetReadOptions = {},
): Promise<ParquetReadResult> {
  const f = await open(blob, where);
  try {
    const schema = fileSchema(f);
    const fileColumns = schema.fields.map((x) => x.name);
    const have = new Set(fileColumns);
    const columns = o.columns ? [...new Set(o.columns)].filter((c) => have.has(c)) : undefined;
    const md = f.metadata();
    const total = md.numRowGroups();
    let rowGroups: number[] | undefined;
    if (o.timeRange && total > 0) {
      const ranges = await footerRanges(blob, o.timeRange.column);
      if (ranges) {
        const { fromMs, toMs } = o.timeRange;
        rowGroups = ranges.flatMap((r, i) => (!r || (r.maxMs >= fromMs && r.minMs < toMs) ? [i] : []));
      }
    }
    if (columns && columns.length === 0) {
      // Nothing the caller needs is in the file: an empty table with the file's row count is useless,
      // so return the schema alone; the caller names the missing columns.
      return { table: tableFromIPC(f.schema().intoIPCStream()), fileColumns, rowGroups: { total, read: 0 } };
    }
    // One row group at a time: the WebAssembly heap (which never shrinks) holds one row group's
    // decoded columns and their IPC bytes, not the whole file's.
    const groups = rowGroups ?? Array.from({ length: total }, (_, i) => i);
    const batches: RecordBatch[] = [];
    let schemaOnly: Table | undefined;
    for (const g of groups) {
      let ipc: Uint8Array;
      try {
        const read = await f.read({ columns, rowGroups: [g], batchSize: 1 << 16 });
        ipc = read.intoIPCStream();
      } catch (err) {
        throw new BadInputError(
          `${where}: reading columns ${(columns ?? fileColumns).join(', ')} of row group ${g} failed ` +
            `(${String((err as Error)?.message ?? err)}); the file is corrupt or uses an encoding mlo cannot read, rewrite it`,
        );
      }
      const t = tableFromIPC(ipc);
      schemaOnly ??= t;
      batches.push(...t.batches);
    }
    const table =
      batches.length > 0
        ? new Table(batches)
        : (schemaOnly ?? tableFromIPC(f.schema().intoIPCStream())).select(columns ?? fileColumns);
    return { table, fileColumns, rowGroups: { total, read: groups.length } };
  } finally {
    f.free();
  }
}

/** Per row group, the time column's [min, max] in epoch ms from the footer statistics (null: unknown). */
async function footerRanges(blob: BlobLike, column: string): Promise<(RowGroupRange | null)[] | undefined> {
  const size = blob.size;
  if (size < 12) return undefined;
  const tail = new Uint8Array(await blob.slice(size - 8, size).arrayBuffer());
  const len = new DataView(tail.buffer, tail.byteOffset, 8).getUint32(0, true);
  if (len <= 0 || len > size - 12) return undefined;
  const footer = new Uint8Array(await blob.slice(size - 8 - len, size - 8).arrayBuffer());
  try {
    return rowGroupRanges(footer, column);
  } catch {
    return undefined; // unreadable statistics: read every row group
  }
}
