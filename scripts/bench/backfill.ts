/**
 * Feature backfill: mlo's per-partition path against one DuckDB window-function query, same feature set, same data.
 *
 *   npm run bench -- backfill [--events 5000000] [--days 60] [--workers 1] [--threads 1] [--reps 2] [--profile]
 *                             [--format arrow|parquet] [--row-group 65536]
 *
 * 1. Data: the project's generator (`generateDataset` + `LocalDirSink`) writes the raw
 *    payments and chargebacks once into `.bench/data/<params>/`; later runs reuse it while
 *    its manifest matches.
 * 2. Feature set: models/fraud-detector.yaml's feature part (`findModelSpec` +
 *    `featureSetFromSpec`), every aggregation of it.
 * 3. mlo: for every day partition, in child processes (`--workers`, days split into
 *    contiguous ranges, one sequential loop each): the activity's steps — decode the day's
 *    Arrow IPC file and its lookback days through a per-worker TableCache, build the label
 *    index, `computeFeaturePartition` (derived columns, windowed aggregations, labels, IPC
 *    encode of the output). Reading the raw bytes from disk happens before the clock starts,
 *    writing the output bytes is taken out of it. Days are handed out one at a time in date
 *    order, as the backfill workflow's lanes queue them. Each worker runs with V8's
 *    --single-threaded (one worker = one core; `--one-core=false` lifts it). With
 *    `--workers N > 1`, one worker is measured too, for partitions/s at 1 and N workers.
 * 4. DuckDB (`SET threads = --threads`): the same events loaded into an in-memory table
 *    (untimed), then ONE timed `CREATE TABLE … AS SELECT` computing every aggregation with
 *    window functions over RANGE frames (lib/duckdb-features.ts).
 * 5. Check: both outputs joined on the event id, every aggregation compared (exact for
 *    counts, count_distinct, max and time_since_prev; relative 1e-9 for sum/mean, 1e-6 for
 *    std); any mismatch fails the benchmark (exit 1).
 *
 * With `--format parquet`, both sides read the same local Parquet files (a pyarrow copy of the
 * dataset, snappy, `--row-group` rows per row group, made once) and decoding them is timed on both
 * sides: mlo decodes each day with lib/data's reader (parquet-wasm, only the columns the feature
 * set reads; no DuckDB anywhere on its path) inside its timed loop; DuckDB's timed statement is
 * `CREATE TABLE events AS SELECT … FROM read_parquet([...])` followed by the feature query.
 *
 * Reported: rows/s of each side (rows = events = target rows computed), their ratio
 * mlo / DuckDB by wall time (> 1: mlo faster), the same ratio by CPU time (`cpu_ratio`, less
 * sensitive to other load on a shared machine), partitions/s; each side runs `--reps` times,
 * alternating, and the best time of each counts. The last line is one JSON object.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { numericColumn, readIpcTable, requireColumn, timestampMs } from '../../lib/features/arrow-io';
import { featureSetFromSpec, type FeatureSet } from '../../lib/features/featureset';
import { findModelSpec } from '../../lib/spec/model-spec';
import { flagsOrExitCode, UsageError, type ParsedFlags } from './lib/args';
import type { WorkerInit, WorkerResult } from './lib/backfill-worker';
import { summarizeProfiles } from './lib/cpuprofile';
import { BENCH_ROOT, ensureDataset, ensureParquetCopy, readBytes } from './lib/dataset';
import { featureSql, loadEvents, parquetLoadSql, type FeatureColumn } from './lib/duckdb-features';
import { runMain } from './lib/main';

const FLAGS = {
  events: { kind: 'int', default: 5_000_000, help: 'events to generate' },
  days: { kind: 'int', default: 60, help: 'days (= partitions) they span' },
  start: { kind: 'string', default: '2026-01-01', help: 'first day' },
  seed: { kind: 'int', default: 42, help: 'generator seed' },
  model: { kind: 'string', default: 'fraud-detector', help: 'model spec whose features are computed' },
  workers: { kind: 'int', default: 1, help: 'mlo partition workers (child processes)' },
  threads: { kind: 'int', default: 1, help: 'DuckDB threads' },
  reps: { kind: 'int', default: 2, help: 'timed repetitions of each side, alternating (the best time of each counts)' },
  'one-core': {
    kind: 'bool',
    default: true,
    help:
      "run each mlo worker with V8's --single-threaded (no GC / compiler helper threads), " +
      'so one worker uses one core as one DuckDB thread does; --one-core=false to allow them',
  },
  profile: {
    kind: 'bool',
    default: false,
    help: 'CPU-profile the mlo workers and print where the time goes (slows mlo down)',
  },
  'keep-output': { kind: 'bool', default: false, help: "keep mlo's output partitions under .bench/out/" },
  format: {
    kind: 'string',
    default: 'arrow' as string,
    help: 'raw file format both sides read: arrow (IPC; DuckDB loads it untimed) or parquet (decoding timed on both sides)',
  },
  'row-group': { kind: 'int', default: 65_536, help: 'rows per Parquet row group (--format parquet)' },
} as const;

const log = (s: string) => console.log(s);
const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

type MloRun = { workers: number; seconds: number; cpuSeconds: number; results: WorkerResult[] };
type DuckRun = { seconds: number; cpuSeconds: number };
type Runs = { mlo: MloRun[]; mlo1: MloRun[]; duck: DuckRun[] };
type Flags = ParsedFlags<typeof FLAGS>;
type WorkerBase = Omit<WorkerInit, 'days' | 'outDir' | 'profileFile'>;

/** What every step of the benchmark works on. */
type Bench = {
  flags: Flags;
  /** the 1-minute load average at the start */
  load0: number;
  dataDir: string;
  paymentKeys: string[];
  /** The Parquet copies of the payment files (--format parquet). */
  parquetKeys: string[];
  fs: FeatureSet;
  days: string[];
  events: number;
  init: WorkerBase;
  outDir: string;
  profileDir: string;
};

const plural = (n: number, word: string, pad = '') => `${word}${n > 1 ? 's' : pad}`;
const best = <T extends { seconds: number }>(xs: T[]) => xs.reduce((m, x) => (x.seconds < m.seconds ? x : m));

/** The dataset (generated or reused) and the feature set; logs what the benchmark runs on. */
async function setUp(flags: Flags): Promise<Bench> {
  const load0 = os.loadavg()[0]!;
  log(
    `backfill benchmark: ${fmt(flags.events)} events over ${flags.days} days, model ${flags.model}, ` +
      `mlo workers ${flags.workers}, DuckDB threads ${flags.threads}, ${os.cpus().length} CPUs ` +
      `(load ${load0.toFixed(1)}), node ${process.version}`,
  );
  const ds = await ensureDataset({ events: flags.events, days: flags.days, start: flags.start, seed: flags.seed }, log);
  const m = ds.manifest;
  log(
    `data: ${path.relative(process.cwd(), ds.dir)} (${ds.reused ? 'reused' : 'generated'}; ` +
      `${fmt(m.events.actual)} payments, ${fmt(m.chargebacks.total)} chargebacks)`,
  );

  const fs = featureSetFromSpec(findModelSpec(flags.model).spec);
  const labelCutoff = `${m.range.end}T00:00:00.000Z`;
  const aggNames = fs.aggregations.flatMap((g) => g.aggs.map((a) => a.name));
  log(
    `features: ${fs.featureOrder.length} columns, ${aggNames.length} windowed aggregations in ` +
      `${fs.aggregations.length} groups; lookback ${fs.lookbackMs / 86_400_000} days; label cut-off ${labelCutoff}`,
  );

  const runId = `${Date.now()}-${process.pid}`;
  const parquet = flags.format === 'parquet';
  const copies = parquet
    ? await ensureParquetCopy(
        ds.dir,
        [...m.partitions.payments, ...m.partitions.chargebacks].map((p) => p.key),
        flags['row-group'],
        log,
      )
    : new Map<string, string>();
  const keyOf = (k: string) => copies.get(k) ?? k;
  const partitionsOf = (ps: { day: string; key: string; sha256: string }[]) =>
    Object.fromEntries(
      ps.map((p) => [p.day, { key: keyOf(p.key), sha256: `${p.sha256}${parquet ? '.parquet' : ''}` }]),
    );
  return {
    flags,
    load0,
    dataDir: ds.dir,
    paymentKeys: m.partitions.payments.map((p) => p.key),
    parquetKeys: m.partitions.payments.map((p) => keyOf(p.key)),
    fs,
    days: m.partitions.payments.map((p) => p.day),
    events: m.events.actual,
    init: {
      type: 'init',
      model: flags.model,
      dataDir: ds.dir,
      payments: partitionsOf(m.partitions.payments),
      chargebacks: partitionsOf(m.partitions.chargebacks),
      labelCutoff,
      format: parquet ? 'parquet' : 'arrow',
    },
    outDir: path.join(BENCH_ROOT, 'out', runId),
    profileDir: path.join(BENCH_ROOT, 'profiles', runId),
  };
}

function mloRunLine(b: Bench, r: MloRun, label: string): string {
  return (
    `mlo    ${label}: ${fmt(r.seconds, 2)} s, ${fmt(b.events / r.seconds)} rows/s, ` +
    `${fmt(b.days.length / r.seconds, 2)} partitions/s (cpu ${fmt(r.cpuSeconds, 1)} s)`
  );
}

/** Each side `--reps` times, alternating; with several workers, one worker is measured too. */
async function timedRuns(b: Bench, conn: DuckDBConnection, sql: string): Promise<Runs> {
  const { flags, init, days } = b;
  const runs: Runs = { mlo: [], mlo1: [], duck: [] };
  for (let rep = 0; rep < flags.reps; rep++) {
    const last = rep === flags.reps - 1;
    if (flags.workers > 1) {
      const r1 = await runMlo(init, days, 1, null, false, b.profileDir, flags['one-core']);
      runs.mlo1.push(r1);
      log(mloRunLine(b, r1, '1 worker '));
    }
    // The last repetition writes mlo's output for the comparison (untimed).
    const outDir = last ? b.outDir : null;
    const r = await runMlo(init, days, flags.workers, outDir, flags.profile && last, b.profileDir, flags['one-core']);
    runs.mlo.push(r);
    log(mloRunLine(b, r, `${flags.workers} ${plural(flags.workers, 'worker', ' ')}`));
    const d = await runDuck(conn, sql, flags.threads, !last);
    runs.duck.push(d);
    log(
      `DuckDB ${flags.threads} ${plural(flags.threads, 'thread', ' ')}: ${fmt(d.seconds, 2)} s, ` +
        `${fmt(b.events / d.seconds)} rows/s (cpu ${fmt(d.cpuSeconds, 1)} s)`,
    );
  }
  return runs;
}

/** The same output bytes in every run, whatever the split across workers; else the benchmark fails. */
function checkSameBytes(b: Bench, runs: Runs): void {
  const hashesOf = (r: MloRun) => Object.assign({}, ...r.results.map((x) => x.hashes)) as Record<string, string>;
  const reference = hashesOf(runs.mlo[runs.mlo.length - 1]!);
  for (const r of [...runs.mlo, ...runs.mlo1]) {
    const h = hashesOf(r);
    const differ = b.days.filter((d) => h[d] !== reference[d]);
    if (differ.length > 0)
      throw new Error(
        `mlo output differs between runs (${r.workers} vs ${b.flags.workers} workers) on ${differ.join(', ')}`,
      );
  }
  const n = runs.mlo.length + runs.mlo1.length;
  const split = runs.mlo1.length > 0 ? ` (1 and ${b.flags.workers} workers)` : '';
  log(`mlo output bytes identical in all ${n} runs${split}, ${b.days.length} partitions each`);
}

/** Compares mlo's output with DuckDB's, column by column; returns the number of mismatches. */
async function checkOutputs(b: Bench, conn: DuckDBConnection, columns: FeatureColumn[]): Promise<number> {
  const check = await compare(conn, b.fs, columns, b.outDir, b.events);
  log('');
  log('mismatches per column (mlo vs DuckDB):');
  for (const c of columns) {
    const tolerance = c.tolerance.kind === 'exact' ? 'exact' : `relative ${c.tolerance.tol}`;
    log(`  ${c.name.padEnd(40)} ${String(check.mismatches[c.name]).padStart(9)}   (${tolerance})`);
  }
  for (const e of check.examples) log(`  e.g. ${e}`);
  if (check.rowProblems.length > 0) for (const p of check.rowProblems) log(`  rows: ${p}`);
  return Object.values(check.mismatches).reduce((s, x) => s + x, 0) + check.rowProblems.length;
}

/** Where the mlo workers' time went, from their CPU profiles. */
async function printProfiles(profileDir: string): Promise<void> {
  const files = existsSync(profileDir)
    ? (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profileDir, f))
    : [];
  log(summarizeProfiles(files));
  log(`(profiles: ${path.relative(process.cwd(), profileDir)}/ — times above are with the profiler on)`);
}

/** The rates of the best run of each side, their ratios, and the summary object of the last line. */
function report(b: Bench, runs: Runs, aggregations: number, mismatches: number): Record<string, unknown> {
  const { flags, days, events } = b;
  const m = best(runs.mlo);
  const d = best(runs.duck);
  const mloRowsPerS = events / m.seconds;
  const duckRowsPerS = events / d.seconds;
  const ratio = mloRowsPerS / duckRowsPerS;
  const cpuRatio = d.cpuSeconds / m.cpuSeconds;
  const m1 = runs.mlo1.length > 0 ? best(runs.mlo1) : undefined;
  log('');
  log(
    `rows/s  mlo ${fmt(mloRowsPerS)} (${flags.workers} ${plural(flags.workers, 'worker')})   ` +
      `DuckDB ${fmt(duckRowsPerS)} (${flags.threads} ${plural(flags.threads, 'thread')})   ` +
      `ratio mlo/DuckDB ${fmt(ratio, 3)} (by CPU time ${fmt(cpuRatio, 3)})`,
  );
  if (m1)
    log(
      `partitions/s  1 worker ${fmt(days.length / m1.seconds, 3)}   ` +
        `${flags.workers} workers ${fmt(days.length / m.seconds, 3)}   (speed-up ${fmt(m1.seconds / m.seconds, 2)}x)`,
    );
  log(
    mismatches === 0 ? 'outputs equal: every aggregation of every event matches' : `FAILED: ${mismatches} mismatches`,
  );
  return {
    bench: 'backfill',
    mlo_rows_per_s: Math.round(mloRowsPerS),
    duckdb_rows_per_s: Math.round(duckRowsPerS),
    ratio: Number(ratio.toFixed(4)),
    cpu_ratio: Number(cpuRatio.toFixed(4)),
    events,
    days: days.length,
    partitions: days.length,
    aggregations,
    workers: flags.workers,
    threads: flags.threads,
    partitions_per_s: Number((days.length / m.seconds).toFixed(3)),
    ...(m1 && flags.workers > 1
      ? {
          partitions_per_s_1_worker: Number((days.length / m1.seconds).toFixed(3)),
          [`partitions_per_s_${flags.workers}_workers`]: Number((days.length / m.seconds).toFixed(3)),
          worker_speedup: Number((m1.seconds / m.seconds).toFixed(3)),
        }
      : {}),
    mlo_seconds: Number(m.seconds.toFixed(3)),
    duckdb_seconds: Number(d.seconds.toFixed(3)),
    mlo_cpu_seconds: Number(m.cpuSeconds.toFixed(3)),
    duckdb_cpu_seconds: Number(d.cpuSeconds.toFixed(3)),
    reps: flags.reps,
    v8_single_threaded: flags['one-core'],
    loadavg_1m: [Number(b.load0.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
    profiled: flags.profile,
    mismatches,
    format: flags.format,
    ...(flags.format === 'parquet' ? { row_group: flags['row-group'] } : {}),
    mlo_peak_rss_mb: Math.max(...m.results.map((r) => r.peakRssMb)),
  };
}

async function main(): Promise<number> {
  const flags = flagsOrExitCode('backfill', FLAGS, process.argv.slice(2), {
    help: ['--help', '-h'],
    check: (f) => {
      if (f.workers < 1 || f.threads < 1 || f.reps < 1)
        throw new UsageError('--workers, --threads and --reps must be >= 1');
      if (f.format !== 'arrow' && f.format !== 'parquet') throw new UsageError('--format must be arrow or parquet');
      if (f['row-group'] < 1) throw new UsageError('--row-group must be >= 1');
    },
  });
  if (typeof flags === 'number') return flags;
  const b = await setUp(flags);

  const parquet = flags.format === 'parquet';
  const duck = await openDuckDb(b.fs, b.dataDir, parquet ? [] : b.paymentKeys);
  const feature = featureSql(b.fs, 'events', 'duck_features');
  const { columns } = feature;
  // With Parquet, DuckDB's timed statement reads the files too.
  const sql = parquet
    ? `${parquetLoadSql(
        b.fs,
        'events',
        b.parquetKeys.map((k) => path.join(b.dataDir, ...k.split('/'))),
      )};\n${feature.sql}`
    : feature.sql;
  try {
    const runs = await timedRuns(b, duck.conn, sql);
    checkSameBytes(b, runs);
    const mismatches = await checkOutputs(b, duck.conn, columns);
    log('');
    printBreakdown(best(runs.mlo), b.events);
    if (flags.profile) await printProfiles(b.profileDir);
    console.log(JSON.stringify(report(b, runs, columns.length, mismatches)));
    return mismatches === 0 ? 0 : 1;
  } finally {
    duck.conn.closeSync();
    duck.instance.closeSync();
    if (!flags['keep-output']) await rm(b.outDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ mlo

type WorkerHandle = { child: ChildProcess; next: (type: string) => Promise<Record<string, unknown>> };

/**
 * One forked mlo worker: it asks for days (handed out from `queue`, shared by every worker) and
 * answers with typed messages that `next` waits for; an error message or an early exit fails it.
 */
function forkWorker(init: WorkerInit, queue: string[], execArgv: string[]): WorkerHandle {
  const child = fork(path.join(__dirname, 'lib', 'backfill-worker.ts'), [], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: { type: string; [k: string]: unknown }[] = [];
  const waiters: (() => void)[] = [];
  let exited: string | undefined;
  child.on('message', (m: { type: string }) => {
    if (m.type === 'next') {
      child.send({ type: 'day', day: queue.shift() ?? null });
      return;
    }
    messages.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  child.on('exit', (code, sig) => {
    exited = `worker exited (${code ?? sig})`;
    waiters.splice(0).forEach((w) => w());
  });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const err = messages.find((m) => m.type === 'error');
      if (err) throw new Error(`mlo worker failed: ${String(err.message)}`);
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0]!;
      if (exited) throw new Error(`${exited} before sending "${type}"`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  child.send(init);
  return { child, next };
}

async function runMlo(
  base: WorkerBase,
  days: string[],
  workers: number,
  outDir: string | null,
  profile: boolean,
  profileDir: string,
  oneCore: boolean,
): Promise<MloRun> {
  const n = Math.min(workers, days.length);
  // Days go out one at a time in date order, as the workflow's lanes fill the task queue.
  const queue = [...days];
  const execArgv = [...process.execArgv, ...(oneCore ? ['--single-threaded'] : [])];
  const children = Array.from({ length: n }, (_, k) => {
    const profileFile = profile ? path.join(profileDir, `worker-${k}.cpuprofile`) : null;
    return forkWorker({ ...base, days, outDir, profileFile }, queue, execArgv);
  });
  await Promise.all(children.map((c) => c.next('ready')));
  for (const c of children) c.child.send({ type: 'go' });
  const results = (await Promise.all(children.map((c) => c.next('done')))) as unknown as WorkerResult[];
  await Promise.all(
    children.map((c) => new Promise<void>((r) => (c.child.exitCode !== null ? r() : c.child.once('exit', () => r())))),
  );
  // The workers start together on "go"; the run lasts as long as the slowest one's timed loop.
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { workers: n, seconds, cpuSeconds: results.reduce((s, r) => s + r.cpuSeconds, 0), results };
}

function printBreakdown(run: MloRun, events: number): void {
  const sum = (f: (r: WorkerResult) => number) => run.results.reduce((s, r) => s + f(r), 0);
  const total = sum((r) => r.seconds);
  const parts = [
    [
      run.results[0]?.format === 'parquet'
        ? 'Parquet decode (parquet-wasm, TableCache misses)'
        : 'IPC decode (tableFromIPC, TableCache misses)',
      sum((r) => r.steps.decode),
    ],
    ['label index (buildLabelIndex)', sum((r) => r.steps.labels)],
    ['computeFeaturePartition', sum((r) => r.steps.compute)],
    ['cache look-ups, loop', sum((r) => r.steps.other)],
  ] as const;
  const rss = run.results.map((r) => `${r.rssMb} MB (peak ${r.peakRssMb} MB)`).join(', ');
  log(
    `mlo time by step (${run.workers} worker${run.workers > 1 ? 's, summed' : ''}; ${fmt(total, 2)} s ` +
      `for ${fmt(events)} rows; decoded ${sum((r) => r.decodedDays)} day files, ` +
      `${sum((r) => r.cacheHits)} cache hits; worker rss ${rss}):`,
  );
  for (const [name, s] of parts)
    log(`  ${name.padEnd(48)} ${fmt(s, 2).padStart(8)} s  ${fmt((100 * s) / total, 1).padStart(5)} %`);
}

// ------------------------------------------------------------------ DuckDB

async function openDuckDb(
  fs: FeatureSet,
  dataDir: string,
  keys: string[],
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const t0 = performance.now();
  const tables = [];
  for (const key of keys) tables.push({ table: readIpcTable(await readBytes(dataDir, key), key), where: key });
  const n = await loadEvents(conn, 'events', fs, tables);
  const version = String((await conn.runAndReadAll('SELECT version()')).getRows()[0]![0]);
  log(`DuckDB ${version}: loaded ${fmt(n)} events in ${fmt((performance.now() - t0) / 1000, 1)} s (untimed)`);
  return { instance, conn };
}

async function runDuck(
  conn: DuckDBConnection,
  sql: string,
  threads: number,
  drop: boolean,
): Promise<{ seconds: number; cpuSeconds: number }> {
  await conn.run('DROP TABLE IF EXISTS duck_features');
  if (/read_parquet/.test(sql)) await conn.run('DROP TABLE IF EXISTS events');
  await conn.run(`SET threads = ${threads}`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const statement of sql.split(';\n')) await conn.run(statement);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (drop) await conn.run('DROP TABLE duck_features');
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

// ------------------------------------------------------------------ check

type Check = { mismatches: Record<string, number>; examples: string[]; rowProblems: string[] };

function equal(a: number, b: number, c: FeatureColumn): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (c.tolerance.kind === 'exact') return a === b;
  return Math.abs(a - b) <= c.tolerance.tol * Math.max(Math.abs(a), Math.abs(b));
}

/** DuckDB's result, one array per column indexed by event id (the generator numbers payments 1..N). */
async function readDuckResult(
  conn: DuckDBConnection,
  columns: FeatureColumn[],
  events: number,
  rowProblems: string[],
): Promise<{ values: Float64Array[]; seen: Uint8Array }> {
  const values = columns.map(() => new Float64Array(events + 1).fill(NaN));
  const seen = new Uint8Array(events + 1);
  const result = await conn.stream(`SELECT * FROM duck_features`);
  let duckRows = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const ids = chunk.getColumnVector(0);
    const vecs = columns.map((_, k) => chunk.getColumnVector(k + 1));
    for (let i = 0; i < chunk.rowCount; i++) {
      const id = Number(ids.getItem(i));
      duckRows++;
      if (!(id >= 1 && id <= events) || seen[id]) {
        if (rowProblems.length < 5) rowProblems.push(`DuckDB: event id ${id} out of range or repeated`);
        continue;
      }
      seen[id] = 1;
      for (let k = 0; k < vecs.length; k++) {
        const v = vecs[k]!.getItem(i) as number | null;
        values[k]![id] = v === null ? NaN : v;
        if (v === null && rowProblems.length < 5)
          rowProblems.push(`DuckDB: NULL in ${columns[k]!.name} for event ${id}`);
      }
    }
  }
  if (duckRows !== events) rowProblems.push(`DuckDB returned ${duckRows} rows, expected ${events}`);
  return { values, seen };
}

async function compare(
  conn: DuckDBConnection,
  fs: FeatureSet,
  columns: FeatureColumn[],
  outDir: string,
  events: number,
): Promise<Check> {
  const mismatches: Record<string, number> = Object.fromEntries(columns.map((c) => [c.name, 0]));
  const examples: string[] = [];
  const rowProblems: string[] = [];
  const duck = await readDuckResult(conn, columns, events, rowProblems);

  const seenMlo = new Uint8Array(events + 1);
  let mloRows = 0;
  const files = (await readdir(outDir)).filter((f) => f.endsWith('.arrow')).sort();
  for (const f of files) {
    const where = path.join(outDir, f);
    const t = readIpcTable(new Uint8Array(await readFile(where)), where);
    const ids = timestampMs(requireColumn(t, fs.events.id, where, 'the event id'), where, fs.events.id);
    const cols = columns.map((c) => numericColumn(requireColumn(t, c.name, where, 'a feature'), where, c.name));
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      mloRows++;
      if (!(id >= 1 && id <= events) || seenMlo[id]) {
        if (rowProblems.length < 5) rowProblems.push(`mlo: event id ${id} out of range or repeated (${f})`);
        continue;
      }
      seenMlo[id] = 1;
      for (let k = 0; k < columns.length; k++) {
        const a = cols[k]![i]!;
        const b = duck.values[k]![id]!;
        if (!equal(a, b, columns[k]!)) {
          mismatches[columns[k]!.name]!++;
          if (examples.length < 8)
            examples.push(`event ${id} (${f.replace(/\.arrow$/, '')}) ${columns[k]!.name}: mlo ${a}, DuckDB ${b}`);
        }
      }
    }
  }
  if (mloRows !== events)
    rowProblems.push(`mlo produced ${mloRows} rows in ${files.length} partitions, expected ${events}`);
  let missing = 0;
  for (let id = 1; id <= events; id++) if (!seenMlo[id] || !duck.seen[id]) missing++;
  if (missing > 0) rowProblems.push(`${missing} event ids missing from one side`);
  return { mismatches, examples, rowProblems };
}

void runMain(main);
