/**
 * The DuckDB side of the backfill benchmark: the raw events loaded into an in-memory table,
 * and ONE SQL statement computing every windowed aggregation of a feature set with window
 * functions over RANGE frames, with mlo's point-in-time semantics:
 *
 *   value at event t = aggregate over the entity's events with t − W ≤ t_j < t
 *   ⇔ integer epoch-ms `ts_ms`, RANGE BETWEEN W PRECEDING AND 1 PRECEDING
 *
 * DuckDB NULLs are mapped to mlo's conventions in the statement (count, sum, count_distinct
 * → 0; mean, min, max, std, time_since_prev → NaN), so every output column is a non-null
 * DOUBLE comparable with mlo's Float64 columns.
 */
import {
  BIGINT,
  DOUBLE,
  DuckDBDataChunk,
  INTEGER,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
} from '@duckdb/node-api';
import type { Table } from 'apache-arrow';
import { idColumn, numericColumn, requireColumn, timestampMs } from '../../../lib/features/arrow-io';
import type { FeatureSet } from '../../../lib/features/featureset';
import type { AggSpec } from '../../../lib/features/kernel';

/** How a column is compared with mlo's: exactly, or to a relative tolerance. */
type Tolerance = { kind: 'exact' } | { kind: 'relative'; tol: number };

export type FeatureColumn = { name: string; fn: AggSpec['fn']; tolerance: Tolerance };

const TS_MS = 'ts_ms';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The event columns the aggregations read, with their DuckDB types. */
function eventColumns(fs: FeatureSet): { name: string; kind: 'key' | 'value' }[] {
  const keys = new Set<string>();
  const values = new Set<string>();
  for (const g of fs.aggregations) {
    keys.add(g.entity);
    for (const a of g.aggs) {
      if (!a.of) continue;
      if (a.fn === 'count_distinct') keys.add(a.of);
      else values.add(a.of);
    }
  }
  for (const v of values)
    if (keys.has(v))
      throw new Error(`column ${v} is used both as an id and as a value; the benchmark does not handle that`);
  return [
    ...[...keys].map((name) => ({ name, kind: 'key' as const })),
    ...[...values].map((name) => ({ name, kind: 'value' as const })),
  ];
}

function tolerance(fn: AggSpec['fn']): Tolerance {
  switch (fn) {
    case 'sum':
    case 'mean':
      return { kind: 'relative', tol: 1e-9 };
    case 'std':
      return { kind: 'relative', tol: 1e-6 };
    default:
      return { kind: 'exact' }; // count, count_distinct, min, max, time_since_prev
  }
}

/** `CREATE TABLE <out> AS SELECT id, <one column per aggregation> FROM <events> WINDOW …`. */
export function featureSql(fs: FeatureSet, events: string, out: string): { sql: string; columns: FeatureColumn[] } {
  const windows = new Map<string, string>();
  const windowOf = (entity: string, ms: number) => {
    if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`window ${ms} ms: the benchmark needs a finite window`);
    const name = `w_${entity.replace(/\W/g, '_')}_${ms}`;
    windows.set(
      name,
      `${name} AS (PARTITION BY ${q(entity)} ORDER BY ${TS_MS} RANGE BETWEEN ${ms} PRECEDING AND 1 PRECEDING)`,
    );
    return name;
  };
  const columns: FeatureColumn[] = [];
  const exprs: string[] = [];
  for (const g of fs.aggregations) {
    for (const a of g.aggs) {
      const w = windowOf(g.entity, a.windowMs ?? NaN);
      const of = a.of ? q(a.of) : '';
      let e: string;
      switch (a.fn) {
        case 'count':
          e = `count(*) OVER ${w}`;
          break;
        case 'sum':
          e = `coalesce(sum(${of}) OVER ${w}, 0)`;
          break;
        case 'mean':
          e = `coalesce(avg(${of}) OVER ${w}, 'NaN'::DOUBLE)`;
          break;
        case 'min':
        case 'max':
          e = `coalesce(${a.fn}(${of}) OVER ${w}, 'NaN'::DOUBLE)`;
          break;
        case 'std':
          e = `coalesce(stddev_samp(${of}) OVER ${w}, 'NaN'::DOUBLE)`;
          break;
        case 'count_distinct':
          e = `count(DISTINCT ${of}) OVER ${w}`;
          break;
        case 'time_since_prev':
          e = `coalesce(${TS_MS} - max(${TS_MS}) OVER ${w}, 'NaN'::DOUBLE)`;
          break;
      }
      exprs.push(`CAST(${e} AS DOUBLE) AS ${q(a.name)}`);
      columns.push({ name: a.name, fn: a.fn, tolerance: tolerance(a.fn) });
    }
  }
  const sql =
    `CREATE TABLE ${out} AS\nSELECT ${q(fs.events.id)},\n  ${exprs.join(',\n  ')}\nFROM ${events}\n` +
    `WINDOW ${[...windows.values()].join(',\n  ')}`;
  return { sql, columns };
}

/** Creates `<name>` (id BIGINT, ts_ms BIGINT, keys INTEGER, values DOUBLE) and appends every table's rows. */
export async function loadEvents(
  conn: DuckDBConnection,
  name: string,
  fs: FeatureSet,
  tables: { table: Table; where: string }[],
): Promise<number> {
  const cols = eventColumns(fs);
  const types: DuckDBType[] = [BIGINT, BIGINT, ...cols.map((c) => (c.kind === 'key' ? INTEGER : DOUBLE))];
  const colDefs = cols.map((c) => `${q(c.name)} ${c.kind === 'key' ? 'INTEGER' : 'DOUBLE'}`).join(', ');
  await conn.run(`CREATE TABLE ${name} (${q(fs.events.id)} BIGINT, ${TS_MS} BIGINT, ${colDefs})`);
  const appender: DuckDBAppender = await conn.createAppender(name);
  let total = 0;
  for (const { table, where } of tables) {
    const id = timestampMs(requireColumn(table, fs.events.id, where, 'the event id'), where, fs.events.id);
    const ts = timestampMs(
      requireColumn(table, fs.events.timestamp, where, 'the event time'),
      where,
      fs.events.timestamp,
    );
    const data = cols.map((c) =>
      c.kind === 'key'
        ? idColumn(requireColumn(table, c.name, where, 'a key'), where, c.name)
        : numericColumn(requireColumn(table, c.name, where, 'a value'), where, c.name),
    );
    const n = table.numRows;
    for (let at = 0; at < n; at += 2048) {
      const m = Math.min(2048, n - at);
      const chunk = DuckDBDataChunk.create(types, m);
      const vId = chunk.getColumnVector(0);
      const vTs = chunk.getColumnVector(1);
      for (let i = 0; i < m; i++) {
        vId.setItem(i, BigInt(id[at + i]!));
        vTs.setItem(i, BigInt(ts[at + i]!));
      }
      vId.flush();
      vTs.flush();
      cols.forEach((c, k) => {
        const v = chunk.getColumnVector(k + 2);
        const src = data[k]!;
        if (c.kind === 'key') for (let i = 0; i < m; i++) v.setItem(i, src[at + i]! < 0 ? null : src[at + i]!);
        else for (let i = 0; i < m; i++) v.setItem(i, Number.isNaN(src[at + i]!) ? null : src[at + i]!);
        v.flush();
      });
      appender.appendDataChunk(chunk);
    }
    total += n;
  }
  appender.flushSync();
  appender.closeSync();
  return total;
}

/**
 * `CREATE TABLE <name> AS SELECT … FROM read_parquet([...])`: the same columns and types as
 * `loadEvents` (id BIGINT, ts_ms BIGINT, keys INTEGER, values DOUBLE), read by DuckDB from the files.
 */
export function parquetLoadSql(fs: FeatureSet, name: string, files: string[]): string {
  const cols = eventColumns(fs).map(
    (c) => `CAST(${q(c.name)} AS ${c.kind === 'key' ? 'INTEGER' : 'DOUBLE'}) AS ${q(c.name)}`,
  );
  const list = files.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ');
  return (
    `CREATE TABLE ${name} AS SELECT CAST(${q(fs.events.id)} AS BIGINT) AS ${q(fs.events.id)}, ` +
    `epoch_ms(${q(fs.events.timestamp)}) AS ${TS_MS}, ${cols.join(', ')} FROM read_parquet([${list}])`
  );
}
