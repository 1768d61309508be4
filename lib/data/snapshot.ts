/**
 * Feature snapshot partition files: Arrow IPC (the default) or Parquet (zstd), so pyarrow,
 * pandas, Spark or DuckDB read a snapshot directly; and reading either back by its magic bytes.
 */
import { tableToIPC, tableFromIPC, type Table } from 'apache-arrow';
import { Compression, readParquet, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm/node';
import { BadInputError } from '../core/errors';
import { readIpcTable } from '../features/arrow-io';
import { detectFormat } from './read';

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';
export const ARROW_CONTENT_TYPE = 'application/vnd.apache.arrow.file';

/** A computed partition's file bytes in the snapshot format (`arrowFile`: the table as an IPC file, already encoded). */
export function writeSnapshotPartition(
  table: Table,
  arrowFile: Uint8Array,
  format: 'parquet' | 'arrow' | undefined,
): { bytes: Uint8Array; contentType: string } {
  if (format !== 'parquet') return { bytes: arrowFile, contentType: ARROW_CONTENT_TYPE };
  const wasm = WasmTable.fromIPCStream(tableToIPC(table, 'stream'));
  const props = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build();
  return { bytes: writeParquet(wasm, props), contentType: PARQUET_CONTENT_TYPE };
}

/** A snapshot partition file (Parquet or Arrow IPC, told apart by its magic bytes) as a table. */
export function readSnapshotPartition(bytes: Uint8Array, where: string): Table {
  const format = detectFormat(bytes.subarray(0, 8));
  if (format !== 'parquet') return readIpcTable(bytes, where);
  try {
    return tableFromIPC(readParquet(bytes).intoIPCStream());
  } catch (err) {
    throw new BadInputError(
      `${where} is not a readable Parquet file (${String((err as Error)?.message ?? err)}); the snapshot is corrupt, rebuild it`,
    );
  }
}
