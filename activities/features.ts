/**
 * Feature backfill activities (CPU pool): plan a snapshot's day partitions, compute one
 * partition (content-addressed, reused when its inputs and definitions are unchanged), and
 * write the snapshot manifest last.
 */
import { Context } from '@temporalio/activity';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BadInputError } from '../lib/core/errors';
import { withActivityFailures } from '../lib/core/failures';
import { s3Access } from '../lib/data/access';
import { dayDir, groupByDay, layoutHint, type DayListing } from '../lib/data/layout';
import { readDayFiles } from '../lib/data/read';
import { writeSnapshotPartition } from '../lib/data/snapshot';
import { eventColumns, labelColumns } from '../lib/data/columns';
import { featureSetHash, type FeatureSet } from '../lib/features/featureset';
import {
  buildSnapshotManifest,
  type FeatureSnapshotManifest,
  type FeatureSnapshotPartition,
  type PartitionDataStats,
} from '../lib/features/manifest';
import { mapBounded } from '../lib/core/concurrency';
import { buildLabelIndex, computeFeaturePartition, LABEL_COLUMN, type LoadedDay } from '../lib/features/partition';
import { lookbackCoverage, lookbackRefusal, warmupDays, type PlannedPartition } from '../lib/features/plan';
import { TableCache } from '../lib/features/table-cache';
import { hashOf } from '../lib/infra/hash';
import { recordBytesRead } from '../lib/observability/activity-metrics';
import { getObjectBytes, headObject, isNotFound, listKeys, putObject, s3Uri } from '../lib/infra/s3';
import type { RawSourceOptions } from '../lib/spec/data-source';
import { addDays, daysBetween, type DayRange } from '../lib/core/windows';
import type { ActivityDeps } from './deps';
import type { FeatureSnapshotRef } from './types';

const DAY_MS = 86_400_000;

export type PlanBackfillInput = { featureSet: FeatureSet; range: DayRange; labelCutoff: string };
/** `warmupDays`: days whose lookback is incomplete, left out of every window (features.warmup: exclude). */
export type PlanBackfillResult = {
  featureSetHash: string;
  days: string[];
  outputPrefix: string;
  warmupDays?: string[];
};

export type PartitionInput = {
  featureSet: FeatureSet;
  featureSetHash: string;
  day: string;
  labelCutoff: string;
  outputPrefix: string;
};
/** Compact on purpose: a workflow carries one per partition (the URI is derived from prefix, day and hash). */
export type PartitionResult = {
  day: string;
  hash: string;
  rows: number;
  labeledRows: number;
  positives: number;
  reused: boolean;
};

export type ManifestInput = {
  model: string;
  featureSet: FeatureSet;
  featureSetHash: string;
  range: DayRange;
  labelCutoff: string;
  outputPrefix: string;
  partitions: PartitionResult[];
  /** The plan's warm-up days: marked in the manifest, so no trainer or evaluation reads them. */
  warmupDays?: string[];
};

function partitionKey(outputPrefix: string, day: string, hash: string, fs: Pick<FeatureSet, 'snapshotFormat'>): string {
  return `${outputPrefix}day=${day}/${hash}.${fs.snapshotFormat === 'parquet' ? 'parquet' : 'arrow'}`;
}

/** The partition's raw input statistics (PartitionDataStats, JSON), next to it; written before it. */
function statsKey(outputPrefix: string, day: string, hash: string): string {
  return `${outputPrefix}day=${day}/${hash}.stats.json`;
}

/**
 * Lists a day-partitioned prefix under its Hive layout (`day=YYYY-MM-DD/`, `dt=`, `date=` or
 * `year=/month=/day=`), every data file of each day; `hint` names the layout the data uses when
 * it is not the declared one.
 */
async function listDays(
  deps: ActivityDeps,
  prefix: string,
  source: RawSourceOptions | undefined,
  field: string,
  signal?: AbortSignal,
): Promise<{ days: DayListing; hint: string }> {
  const objects = await listKeys(deps.s3, deps.config.s3.bucket, prefix, signal);
  const { days, otherLayouts } = groupByDay(prefix, objects, source?.partition ?? 'day');
  return { days, hint: layoutHint(otherLayouts, field) };
}

/** Decoded input partitions kept per worker: consecutive days share most of their lookback. */
const TABLE_CACHE_BYTES = 1024 * 1024 * 1024;

export function featureActivities(deps: ActivityDeps) {
  const cache = new TableCache(TABLE_CACHE_BYTES);
  return {
    async planFeatureBackfill(input: PlanBackfillInput): Promise<PlanBackfillResult> {
      return withActivityFailures(() => planFeatureBackfill(deps, input));
    },

    async computeFeaturePartition(input: PartitionInput): Promise<PartitionResult> {
      return withActivityFailures(() => computePartition(deps, cache, input));
    },

    async writeFeatureManifest(input: ManifestInput): Promise<FeatureSnapshotRef> {
      return writeFeatureManifest(deps, input);
    },
  };
}

async function planFeatureBackfill(deps: ActivityDeps, input: PlanBackfillInput): Promise<PlanBackfillResult> {
  const bucket = deps.config.s3.bucket;
  const fs = input.featureSet;
  const hash = featureSetHash(fs);
  const days = daysBetween(input.range);
  if (days.length === 0)
    throw new BadInputError(
      `the date range ${input.range.from}..${input.range.to} holds no day; "to" must be after "from"`,
    );
  const listed = await listDays(
    deps,
    fs.events.prefix,
    fs.events.source,
    'data.events',
    Context.current().cancellationSignal,
  );
  const events = listed.days;
  const layout = fs.events.source?.partition ?? 'day';
  // A day whose longest window reaches before the first raw day is refused, or a declared warm-up day.
  const coverage = lookbackCoverage(fs, input.range, events.keys());
  const refusal = lookbackRefusal(coverage, `s3://${bucket}/${fs.events.prefix}`);
  if (refusal) throw refusal;
  const warmup = warmupDays(coverage);
  const missing = days.filter((d) => !events.has(d));
  if (missing.length > 0 && !fs.events.allowGaps) {
    const shown =
      missing.length > 5 ? `${missing.slice(0, 5).join(', ')} and ${missing.length - 5} more` : missing.join(', ');
    throw new BadInputError(
      `raw event partition${missing.length > 1 ? 's' : ''} missing under s3://${bucket}/${fs.events.prefix}: ` +
        `${layout === 'year/month/day' ? 'year/month/day of ' : `${layout}=`}${shown}.` +
        (listed.hint ||
          ' Generate or load the data (e.g. `mlo gen-data`), choose another date range, ' +
            'or set data.events.allow_gaps: true in the model spec.'),
    );
  }
  return {
    featureSetHash: hash,
    days,
    outputPrefix: outputPrefixOf(fs.model, hash),
    ...(warmup.length > 0 ? { warmupDays: warmup } : {}),
  };
}

function outputPrefixOf(model: string, featureSetHash: string): string {
  return `features/${model}/${featureSetHash}/`;
}

/** The client, with each distinct ListObjectsV2 request sent once (its response shared); everything else as is. */
function listingOnce(s3: S3Client): S3Client {
  const responses = new Map<string, Promise<unknown>>();
  const send = (command: unknown, options?: unknown): Promise<unknown> => {
    const real = s3.send.bind(s3) as (c: unknown, o?: unknown) => Promise<unknown>;
    if (!(command instanceof ListObjectsV2Command)) return real(command, options);
    const key = JSON.stringify(command.input);
    let r = responses.get(key);
    if (!r) {
      r = real(command, options);
      responses.set(key, r);
    }
    return r;
  };
  return new Proxy(s3, {
    get: (target, prop, receiver): unknown => (prop === 'send' ? send : Reflect.get(target, prop, receiver)),
  });
}

/** S3 access for planning outside a worker (the CLI): only the client and the config are read. */
export type PlanningDeps = Pick<ActivityDeps, 's3' | 'config'>;

/** The days of a day-partitioned raw prefix under its layout, ascending (the listing the backfill itself uses). */
export async function listRawDays(
  deps: PlanningDeps,
  data: { prefix: string; source?: RawSourceOptions },
  field: string,
  signal?: AbortSignal,
): Promise<string[]> {
  return [...(await listDays(deps as ActivityDeps, data.prefix, data.source, field, signal)).days.keys()].sort();
}

/**
 * The snapshot's day partitions as a backfill would find them now: each day's content address
 * (from the same sources and hash the computation uses) and whether its output exists (reused) or
 * not (computed); a day the computation would refuse is missing, with the reason. Reads only.
 */
export async function plannedPartitions(
  deps: PlanningDeps,
  input: { featureSet: FeatureSet; days: string[]; labelCutoff: string },
  signal?: AbortSignal,
): Promise<{ featureSetHash: string; outputPrefix: string; partitions: PlannedPartition[] }> {
  const bucket = deps.config.s3.bucket;
  // Every day's sources come from one listing per prefix: a consistent view, and 2 listings, not 2 per day.
  const listed = { ...deps, s3: listingOnce(deps.s3) };
  const fsHash = featureSetHash(input.featureSet);
  const outputPrefix = outputPrefixOf(input.featureSet.model, fsHash);
  const planOne = async (day: string): Promise<PlannedPartition> => {
    const pi: PartitionInput = {
      featureSet: input.featureSet,
      featureSetHash: fsHash,
      day,
      labelCutoff: input.labelCutoff,
      outputPrefix,
    };
    let src: PartitionSources;
    try {
      src = await partitionSources(listed as ActivityDeps, pi, signal ?? new AbortController().signal);
    } catch (err) {
      if (err instanceof BadInputError) return { day, action: 'missing', problem: err.message };
      throw err;
    }
    const key = partitionKey(outputPrefix, day, partitionHash(pi, src), input.featureSet);
    const uri = s3Uri(bucket, key);
    const head = await headObject(deps.s3, bucket, key, signal);
    if (!head) return { day, action: 'compute', uri };
    const r = reusedPartition(day, '', head.metadata);
    return { day, action: 'reuse', uri, rows: r.rows, labeledRows: r.labeledRows, positives: r.positives };
  };
  const partitions: PlannedPartition[] = [];
  for (let i = 0; i < input.days.length; i += 8)
    partitions.push(...(await Promise.all(input.days.slice(i, i + 8).map(planOne))));
  return { featureSetHash: fsHash, outputPrefix, partitions };
}

type S3File = { key: string; etag: string; size?: number };

/** The raw files a partition is computed from: its day's events, the lookback days', and the labels'. */
type PartitionSources = {
  target: S3File[] | undefined;
  lookback: { day: string; files: S3File[] }[];
  labels: [string, S3File[]][];
};

/** Finds the partition's raw files; a missing event day (unless gaps are allowed) is bad input. */
async function partitionSources(
  deps: ActivityDeps,
  input: PartitionInput,
  signal: AbortSignal,
): Promise<PartitionSources> {
  const where = `s3://${deps.config.s3.bucket}/${input.featureSet.events.prefix}`;
  const { events: ev, labels: lab, lookbackMs } = input.featureSet;
  const lookbackDays = Math.ceil(lookbackMs / DAY_MS);
  const [listed, labelListing] = await Promise.all([
    listDays(deps, ev.prefix, ev.source, 'data.events', signal),
    listDays(deps, lab.prefix, lab.source, 'data.labels', signal),
  ]);
  const events = listed.days;
  const labels = labelListing.days;
  const dir = (d: string) => dayDir(ev.source?.partition ?? 'day', d);
  const target = events.get(input.day);
  if (!target && !ev.allowGaps) {
    throw new BadInputError(
      `raw event partition ${where}${dir(input.day)} does not exist;` +
        (listed.hint || ' load it or set data.events.allow_gaps: true'),
    );
  }
  const firstDay = [...events.keys()].sort()[0] ?? input.day;
  const lookback: PartitionSources['lookback'] = [];
  for (let k = lookbackDays; k >= 1; k--) {
    const d = addDays(input.day, -k);
    const files = events.get(d);
    if (files) lookback.push({ day: d, files });
    else if (d >= firstDay && !ev.allowGaps) {
      throw new BadInputError(
        `raw event partition ${where}${dir(d)} is missing inside the ${lookbackDays}-day lookback of ${input.day}; ` +
          'load it or set data.events.allow_gaps: true',
      );
    }
  }
  // Labels of this day's events can be reported any day from the event day up to the cut-off.
  const cutoffDay = new Date(Date.parse(input.labelCutoff)).toISOString().slice(0, 10);
  const labelFiles = [...labels.entries()]
    .filter(([d]) => d >= input.day && d <= cutoffDay)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return { target, lookback, labels: labelFiles };
}

const MiB = 1024 ** 2;

/**
 * The bound on a partition's memory: the raw bytes it would read (its day, lookback and label days)
 * may not exceed `maxBytes`. Over it, the partition fails at once as bad input naming the sizes and
 * the fix, instead of a worker running out of memory (with `MLO_SLOTS_FEATURES` partitions at once,
 * a worker holds at most that many times the bound, plus its table cache).
 */
export function checkPartitionReadSize(
  day: string,
  src: Pick<PartitionSources, 'target' | 'lookback' | 'labels'>,
  maxBytes: number,
): void {
  const sum = (files: S3File[] | undefined) => (files ?? []).reduce((n, f) => n + (f.size ?? 0), 0);
  const target = sum(src.target);
  const lookback = src.lookback.reduce((n, l) => n + sum(l.files), 0);
  const labels = src.labels.reduce((n, [, files]) => n + sum(files), 0);
  const total = target + lookback + labels;
  if (total <= maxBytes) return;
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  throw new BadInputError(
    `the feature partition of ${day} would read ${mib(total)} of raw data (the day ${mib(target)}, ` +
      `${src.lookback.length} lookback day(s) ${mib(lookback)}, ${src.labels.length} label day(s) ${mib(labels)}), ` +
      `over the bound of ${mib(maxBytes)} (MLO_PARTITION_MAX_BYTES). Raise MLO_PARTITION_MAX_BYTES on feature ` +
      "workers with the memory for it, or shorten the spec's longest window or label maturity.",
  );
}

/** The partition's content address: the feature definitions, the day, the cut-off and every input file's ETag. */
function partitionHash(input: PartitionInput, src: PartitionSources): string {
  return hashOf(
    {
      fs: input.featureSetHash,
      day: input.day,
      cutoff: input.labelCutoff,
      events: (src.target ?? []).map((f) => [f.key, f.etag]),
      lookback: src.lookback.flatMap((l) => l.files.map((f) => [f.key, f.etag])),
      labels: src.labels.flatMap(([, fl]) => fl.map((f) => [f.key, f.etag])),
    },
    24,
  );
}

type DaySource = { field: string; source?: RawSourceOptions; columns: string[]; normalizeTime?: string };

/**
 * A day's files decoded into one table (every file of the partition, only the columns the
 * feature set reads, casts applied), through the worker's cache; undefined for no file.
 */
async function loadDay(
  deps: ActivityDeps,
  cache: TableCache,
  files: S3File[],
  day: string,
  src: DaySource,
  signal: AbortSignal,
): Promise<LoadedDay | undefined> {
  const bucket = deps.config.s3.bucket;
  if (files.length === 0) return undefined;
  const where =
    files.length === 1
      ? s3Uri(bucket, files[0]!.key)
      : `${s3Uri(bucket, files[0]!.key.replace(/[^/]*$/, ''))} (${files.length} files)`;
  const cacheKey = `${files.map((f) => f.key).join('\u0001')}\u0002${src.columns.join(',')}\u0002${JSON.stringify(src.source ?? {})}\u0002${src.normalizeTime ?? ''}`;
  const etag = files.map((f) => f.etag).join(',');
  const table = await cache.get(cacheKey, etag, async () => {
    const access = s3Access(deps.s3, bucket, signal);
    const raw = files.map((f) => ({ key: f.key, etag: f.etag, size: f.size ?? 0 }));
    const r = await readDayFiles(access, raw, {
      source: src.source,
      field: src.field,
      columns: src.columns,
      normalizeTime: src.normalizeTime,
    });
    recordBytesRead(Context.current(), r!.bytes);
    return { table: r!.table, bytes: r!.bytes };
  });
  return { day, where, table };
}

async function computePartition(
  deps: ActivityDeps,
  cache: TableCache,
  input: PartitionInput,
): Promise<PartitionResult> {
  const ctx = Context.current();
  const signal = ctx.cancellationSignal;
  const bucket = deps.config.s3.bucket;
  const src = await partitionSources(deps, input, signal);
  const hash = partitionHash(input, src);
  const key = partitionKey(input.outputPrefix, input.day, hash, input.featureSet);
  const existing = await headObject(deps.s3, bucket, key, signal);
  // A partition written before its statistics were recorded is recomputed (the same bytes) to get them.
  if (existing && (await headObject(deps.s3, bucket, statsKey(input.outputPrefix, input.day, hash), signal))) {
    ctx.heartbeat({ day: input.day, reused: true });
    return reusedPartition(input.day, hash, existing.metadata);
  }
  checkPartitionReadSize(input.day, src, deps.config.partitionMaxBytes);
  ctx.heartbeat({ day: input.day, step: 'load' });
  const fs = input.featureSet;
  // The event time is read as Timestamp(ms, UTC) whatever its unit or zone in the files (the snapshot's type).
  const evSrc: DaySource = {
    field: 'data.events',
    source: fs.events.source,
    columns: eventColumns(fs),
    normalizeTime: fs.events.timestamp,
  };
  const labSrc: DaySource = { field: 'data.labels', source: fs.labels.source, columns: labelColumns(fs) };
  const present = (xs: (LoadedDay | undefined)[]) => xs.filter((x): x is LoadedDay => x !== undefined);
  const loaded = await loadDay(deps, cache, src.target ?? [], input.day, evSrc, signal);
  const lookbackTables = present(
    await Promise.all(src.lookback.map((l) => loadDay(deps, cache, l.files, l.day, evSrc, signal))),
  );
  const labelTables = present(
    await Promise.all(src.labels.map(([d, fl]) => loadDay(deps, cache, fl, d, labSrc, signal))),
  );
  ctx.heartbeat({ day: input.day, step: 'compute' });
  const cutoffMs = Date.parse(input.labelCutoff);
  const labelIndex = buildLabelIndex(labelTables, fs.labels.key, fs.labels.timestamp, cutoffMs, fs.labels.value);
  const dayPrefix = `s3://${bucket}/${fs.events.prefix}${dayDir(fs.events.source?.partition ?? 'day', input.day)}`;
  const target: LoadedDay = loaded ?? {
    day: input.day,
    where: `${dayPrefix} (absent)`,
    table: emptyLike(lookbackTables),
  };
  const out = computeFeaturePartition(fs, target, lookbackTables, labelIndex, cutoffMs);
  ctx.heartbeat({ day: input.day, step: 'write' });
  await putObject(deps.s3, bucket, statsKey(input.outputPrefix, input.day, hash), JSON.stringify(out.stats.data), {
    contentType: 'application/json',
    signal,
  });
  const written = writeSnapshotPartition(out.table, out.bytes, fs.snapshotFormat);
  await putObject(deps.s3, bucket, key, written.bytes, {
    contentType: written.contentType,
    metadata: {
      rows: String(out.stats.rows),
      'labeled-rows': String(out.stats.labeledRows),
      positives: String(out.stats.positives),
      'feature-set': input.featureSetHash,
    },
    signal,
  });
  const { rows, labeledRows, positives } = out.stats;
  return { day: input.day, hash, rows, labeledRows, positives, reused: false };
}

/** The result of a partition computed before, from its object's metadata. */
function reusedPartition(day: string, hash: string, m: Record<string, string | undefined>): PartitionResult {
  return {
    day,
    hash,
    rows: Number(m.rows ?? 0),
    labeledRows: Number(m['labeled-rows'] ?? 0),
    positives: Number(m.positives ?? 0),
    reused: true,
  };
}

/** The snapshot's manifest: every partition, the columns, the totals; addressed by the partitions' hashes. */
function snapshotManifest(
  bucket: string,
  input: ManifestInput,
  stats: (PartitionDataStats | undefined)[],
): FeatureSnapshotManifest {
  const fs = input.featureSet;
  const warmup = new Set(input.warmupDays ?? []);
  const partitions: FeatureSnapshotPartition[] = input.partitions.map((p, i) => ({
    day: p.day,
    uri: s3Uri(bucket, partitionKey(input.outputPrefix, p.day, p.hash, fs)),
    rows: p.rows,
    labeledRows: p.labeledRows,
    positives: p.positives,
    hash: p.hash,
    ...(stats[i] ? { stats: stats[i] } : {}),
    ...(warmup.has(p.day) ? { warmup: true as const } : {}),
  }));
  const hash = hashOf(
    {
      fs: input.featureSetHash,
      range: input.range,
      cutoff: input.labelCutoff,
      partitions: partitions.map((p) => [p.day, p.hash]),
      // Only when there are some: a snapshot without warm-up days keeps the address it always had.
      ...(warmup.size > 0 ? { warmup: [...warmup].sort() } : {}),
    },
    24,
  );
  return buildSnapshotManifest({
    model: input.model,
    featureSetHash: input.featureSetHash,
    hash,
    window: input.range,
    labelCutoff: input.labelCutoff,
    featureSet: fs,
    labelColumn: LABEL_COLUMN,
    partitions,
    format: fs.snapshotFormat,
  });
}

async function writeFeatureManifest(deps: ActivityDeps, input: ManifestInput): Promise<FeatureSnapshotRef> {
  const bucket = deps.config.s3.bucket;
  const signal = Context.current().cancellationSignal;
  const stats: (PartitionDataStats | undefined)[] = [];
  await mapBounded([...input.partitions.keys()], 16, async (i) => {
    const p = input.partitions[i]!;
    const k = statsKey(input.outputPrefix, p.day, p.hash);
    try {
      stats[i] = JSON.parse(
        new TextDecoder().decode(await getObjectBytes(deps.s3, bucket, k, signal)),
      ) as PartitionDataStats;
    } catch (err) {
      if (!isNotFound(err)) throw err; // not found: a partition of an older release, no statistics
    }
  });
  const manifest = snapshotManifest(bucket, input, stats);
  const key = `${input.outputPrefix}snapshots/${manifest.hash}.json`;
  // Written after every partition it lists; the same snapshot always has the same bytes.
  await putObject(deps.s3, bucket, key, `${JSON.stringify(manifest, null, 2)}\n`, {
    contentType: 'application/json',
    signal,
  });
  return {
    manifestUri: s3Uri(bucket, key),
    hash: manifest.hash,
    rows: manifest.rows,
    partitions: manifest.partitions.length,
    labeledRows: manifest.labeledRows,
    positives: manifest.positives,
  };
}

function emptyLike(tables: LoadedDay[]): LoadedDay['table'] {
  const t = tables[0]?.table;
  if (!t) throw new BadInputError('a day with no events and no lookback has nothing to compute; check the date range');
  return t.slice(0, 0);
}
