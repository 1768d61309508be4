/**
 * One mlo partition worker for the backfill benchmark, run as a child process (fork) of
 * scripts/bench/backfill.ts: computes its share of the day partitions sequentially, exactly
 * as the `computeFeaturePartition` activity does for each (a per-worker TableCache of decoded
 * input days, the lookback days the longest window needs, a label index from the chargeback
 * days between the target day and the cut-off, then `computeFeaturePartition`).
 *
 * Untimed: reading the raw files' bytes from disk (done up front) and writing the output
 * bytes (the activity's S3 PUT). Timed: everything from the bytes to the output bytes,
 * IPC decode included.
 *
 * Days are handed out one at a time in date order by the parent, as Temporal workers take
 * partition tasks from the queue the backfill workflow fills in date order.
 *
 * Protocol (IPC messages): parent → {init}, child → {ready}, parent → {go}; then child →
 * {next}, parent → {day} until the day is null; child → {done}.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { eventColumns, labelColumns } from '../../../lib/data/columns';
import { readDayFiles, type FileAccess } from '../../../lib/data/read';
import { readIpcTable } from '../../../lib/features/arrow-io';
import { featureSetFromSpec } from '../../../lib/features/featureset';
import { buildLabelIndex, computeFeaturePartition, type LoadedDay } from '../../../lib/features/partition';
import { TableCache } from '../../../lib/features/table-cache';
import { findModelSpec } from '../../../lib/spec/model-spec';
import { addDays } from '../../../lib/core/windows';
import { readBytes } from './dataset';

const DAY_MS = 86_400_000;
/** The activity's default cache bound (activities/features.ts). */
const CACHE_BYTES = 1024 * 1024 * 1024;

export type WorkerInit = {
  type: 'init';
  model: string;
  dataDir: string;
  /** The days this worker may be asked to compute (their inputs are read up front). */
  days: string[];
  /** Every payments partition of the dataset: day → key and sha256 (used as the ETag). */
  payments: Record<string, { key: string; sha256: string }>;
  chargebacks: Record<string, { key: string; sha256: string }>;
  labelCutoff: string;
  /**
   * The files' format: arrow (decoded with tableFromIPC) or parquet (read as the activity reads a
   * day: lib/data's readDayFiles, parquet-wasm, only the columns the feature set needs).
   */
  format: 'arrow' | 'parquet';
  /** Where to write each partition's output bytes (untimed); null: do not write. */
  outDir: string | null;
  /** Write a V8 CPU profile of the timed loop to this file (.cpuprofile); null: no profiling. */
  profileFile: string | null;
};

export type WorkerResult = {
  type: 'done';
  format: 'arrow' | 'parquet';
  partitions: number;
  rows: number;
  labeledRows: number;
  /** Wall seconds of the timed loop, and the process CPU seconds (user + system) during it. */
  seconds: number;
  cpuSeconds: number;
  /** Timed seconds by step; they add up to `seconds` (up to the timer overhead). */
  steps: { decode: number; labels: number; compute: number; other: number };
  /** Untimed seconds spent writing output bytes. */
  writeSeconds: number;
  decodedDays: number;
  cacheHits: number;
  /** Output sha256 per day, to check that splitting the days across workers changes nothing. */
  hashes: Record<string, string>;
  heapMb: number;
  rssMb: number;
  /** Peak resident set size of the worker process (inputs read up front included). */
  peakRssMb: number;
};

type Send = (m: unknown) => void;
const send: Send = (m) => process.send?.(m);
const now = () => performance.now() / 1000;

type FeatureSet = ReturnType<typeof featureSetFromSpec>;
type Input = { key: string; etag: string; day: string; kind: 'events' | 'labels' };
/** A partition's inputs, resolved as the activity resolves them. */
type Plan = { day: string; target: Input; lookback: Input[]; labels: Input[] };

/** The inputs of every partition this worker may compute: the day, its lookback days and the label days. */
function planPartitions(init: WorkerInit, lookbackDays: number, cutoffDay: string): Map<string, Plan> {
  const allDays = Object.keys(init.payments).sort();
  const firstDay = allDays[0]!;
  const labelDays = Object.keys(init.chargebacks).sort();
  const planOf = (day: string): Plan => {
    const p = init.payments[day];
    if (!p) throw new Error(`no payments partition for ${day}`);
    const lookback: Input[] = [];
    for (let k = lookbackDays; k >= 1; k--) {
      const d = addDays(day, -k);
      const f = init.payments[d];
      if (f) lookback.push({ key: f.key, etag: f.sha256, day: d, kind: 'events' });
      else if (d >= firstDay) throw new Error(`payments partition ${d} is missing inside the lookback of ${day}`);
    }
    const labels = labelDays
      .filter((d) => d >= day && d <= cutoffDay)
      .map((d) => ({
        key: init.chargebacks[d]!.key,
        etag: init.chargebacks[d]!.sha256,
        day: d,
        kind: 'labels' as const,
      }));
    return { day, target: { key: p.key, etag: p.sha256, day, kind: 'events' }, lookback, labels };
  };
  return new Map(init.days.map((d) => [d, planOf(d)]));
}

/** Untimed: the bytes of every file the plans read, from disk. */
async function readInputs(dataDir: string, plans: Map<string, Plan>): Promise<Map<string, Uint8Array>> {
  const bytes = new Map<string, Uint8Array>();
  for (const p of plans.values())
    for (const f of [p.target, ...p.lookback, ...p.labels])
      if (!bytes.has(f.key)) bytes.set(f.key, await readBytes(dataDir, f.key));
  return bytes;
}

/**
 * The timed loop's work: partitions computed one by one from the bytes read up front, through
 * one TableCache, with the time of each step and the untimed output writes counted apart.
 */
class PartitionComputer {
  readonly cache = new TableCache(CACHE_BYTES);
  readonly steps = { decode: 0, labels: 0, compute: 0, other: 0 };
  readonly hashes: Record<string, string> = {};
  decodedDays = 0;
  writeSeconds = 0;
  writeCpu = 0;
  rows = 0;
  labeledRows = 0;
  partitions = 0;

  /** The bytes read up front, as the reader's file access (Parquet through a Blob over them). */
  private readonly access: FileAccess;

  constructor(
    private readonly init: WorkerInit,
    private readonly fs: FeatureSet,
    private readonly bytes: Map<string, Uint8Array>,
    private readonly cutoffMs: number,
  ) {
    const of = (key: string) => this.bytes.get(key)!;
    this.access = {
      where: (f) => `${init.dataDir}/${f.key}`,
      head: (f, n) => Promise.resolve(of(f.key).subarray(0, n)),
      bytes: (f) => Promise.resolve(of(f.key)),
      blob: (f) => Promise.resolve(new Blob([of(f.key) as Uint8Array<ArrayBuffer>])),
    };
  }

  /** A day's table through the cache; a miss decodes the bytes (counted as decode time). */
  private async load(f: Input): Promise<LoadedDay> {
    const where = `${this.init.dataDir}/${f.key}`;
    const table = await this.cache.get(f.key, f.etag, async () => {
      const t0 = now();
      const b = this.bytes.get(f.key)!;
      let loaded: { table: LoadedDay['table']; bytes: number };
      if (this.init.format === 'parquet') {
        const columns = f.kind === 'events' ? eventColumns(this.fs) : labelColumns(this.fs);
        const r = await readDayFiles(this.access, [{ key: f.key, etag: f.etag, size: b.byteLength }], {
          field: `data.${f.kind}`,
          columns,
          normalizeTime: f.kind === 'events' ? this.fs.events.timestamp : undefined,
        });
        loaded = { table: r!.table, bytes: r!.bytes };
      } else loaded = { table: readIpcTable(b, where), bytes: b.byteLength };
      this.steps.decode += now() - t0;
      this.decodedDays++;
      return loaded;
    });
    return { day: f.day, where, table };
  }

  /** One partition; `t0` is when the worker asked for the day (waiting and look-ups count as "other"). */
  async compute(p: Plan, t0: number): Promise<void> {
    const { fs, cutoffMs, steps } = this;
    this.partitions++;
    const target = await this.load(p.target);
    const lookback: LoadedDay[] = [];
    for (const f of p.lookback) lookback.push(await this.load(f));
    const labelTables: LoadedDay[] = [];
    for (const f of p.labels) labelTables.push(await this.load(f));
    const t1 = now();
    const labelIndex = buildLabelIndex(labelTables, fs.labels.key, fs.labels.timestamp, cutoffMs, fs.labels.value);
    const t2 = now();
    const out = computeFeaturePartition(fs, target, lookback, labelIndex, cutoffMs);
    const t3 = now();
    steps.labels += t2 - t1;
    steps.compute += t3 - t2;
    steps.other += t1 - t0; // cache look-ups; decode time is moved out in result()
    this.rows += out.stats.rows;
    this.labeledRows += out.stats.labeledRows;
    this.write(p.day, out.bytes, t3);
  }

  /** Untimed: the activity's PUT, and the hash the parent compares across runs. */
  private write(day: string, bytes: Uint8Array, t3: number): void {
    const c3 = process.cpuUsage();
    this.hashes[day] = createHash('sha256').update(bytes).digest('hex');
    if (this.init.outDir) writeFileSync(path.join(this.init.outDir, `day=${day}.arrow`), bytes);
    this.writeSeconds += now() - t3;
    const cw = process.cpuUsage(c3);
    this.writeCpu += (cw.user + cw.system) / 1e6;
  }

  /** The result of the loop that ran from `start` to `end` using `cpu` (writes taken out). */
  result(start: number, end: number, cpu: NodeJS.CpuUsage): WorkerResult {
    this.steps.other -= this.steps.decode;
    const mem = process.memoryUsage();
    return {
      type: 'done',
      format: this.init.format,
      partitions: this.partitions,
      rows: this.rows,
      labeledRows: this.labeledRows,
      seconds: end - start - this.writeSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6 - this.writeCpu,
      steps: this.steps,
      writeSeconds: this.writeSeconds,
      decodedDays: this.decodedDays,
      cacheHits: this.cache.hits,
      hashes: this.hashes,
      heapMb: Math.round(mem.heapUsed / 2 ** 20),
      rssMb: Math.round(mem.rss / 2 ** 20),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  }
}

/** The timed loop: asks the parent for the next day until there is none. */
async function computeDays(init: WorkerInit, plans: Map<string, Plan>, computer: PartitionComputer): Promise<void> {
  for (;;) {
    const t0 = now();
    send({ type: 'next' });
    const { day } = await nextMessage<{ day: string | null }>('day');
    if (day === null) break;
    const p = plans.get(day);
    if (!p) throw new Error(`asked for ${day}, not among the days read`);
    await computer.compute(p, t0);
  }
}

async function main(): Promise<void> {
  const init = await nextMessage<WorkerInit>('init');
  const fs = featureSetFromSpec(findModelSpec(init.model).spec);
  const cutoffMs = Date.parse(init.labelCutoff);
  const cutoffDay = new Date(cutoffMs).toISOString().slice(0, 10);
  const plans = planPartitions(init, Math.ceil(fs.lookbackMs / DAY_MS), cutoffDay);
  const bytes = await readInputs(init.dataDir, plans);
  if (init.outDir) mkdirSync(init.outDir, { recursive: true });
  send({ type: 'ready', files: bytes.size });
  await nextMessage('go');

  const computer = new PartitionComputer(init, fs, bytes, cutoffMs);
  const profiler = init.profileFile ? await startProfiler() : undefined;
  const cpu0 = process.cpuUsage();
  const start = now();
  await computeDays(init, plans, computer);
  const end = now();
  const cpu = process.cpuUsage(cpu0);
  if (profiler && init.profileFile) {
    mkdirSync(path.dirname(init.profileFile), { recursive: true });
    writeFileSync(init.profileFile, JSON.stringify(await profiler.stop()));
  }
  send(computer.result(start, end, cpu));
}

async function startProfiler(): Promise<{ stop(): Promise<unknown> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      return profile;
    },
  };
}

const inbox: { type?: unknown }[] = [];
let wake: (() => void) | undefined;
let parentGone = false;
process.on('message', (m: { type?: unknown }) => {
  inbox.push(m);
  wake?.();
});
process.once('disconnect', () => {
  parentGone = true;
  wake?.();
});

async function nextMessage<T>(type: string): Promise<T> {
  for (;;) {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return inbox.splice(i, 1)[0] as T;
    if (parentGone) throw new Error('parent went away');
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}

main().then(
  () => process.disconnect?.(),
  (err: unknown) => {
    process.send?.({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
    process.disconnect?.();
  },
);
