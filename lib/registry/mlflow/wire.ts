/**
 * MLflow's wire format (snake_case JSON, as `mlflow/server/handlers.py` sends it) and its mapping
 * to the client's public types, in one place: absent repeated fields (MLflow omits empty lists)
 * become `[]`, absent strings `''`; timestamps are epoch ms. Also the request side: tags, metrics
 * and log-batch chunks, filter-string quoting, and artifact paths under the server's proxy.
 */
import { invalidInput } from './errors';
import type {
  ArtifactFile,
  Experiment,
  MetricInput,
  ModelVersion,
  ModelVersionStatus,
  RegisteredModel,
  Run,
  RunStatus,
  Tag,
} from './types';

// ----- wire types ----------------------------------------------------------------------------

type WireTag = { key?: string; value?: string };
export type WireExperiment = {
  experiment_id?: string;
  name?: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  creation_time?: number | string;
  last_update_time?: number | string;
  tags?: WireTag[];
};
export type WireRunInfo = {
  run_id?: string;
  run_uuid?: string;
  experiment_id?: string;
  run_name?: string;
  user_id?: string;
  status?: string;
  start_time?: number | string;
  end_time?: number | string;
  artifact_uri?: string;
  lifecycle_stage?: string;
};
type WireMetric = { key?: string; value?: number | string; timestamp?: number | string; step?: number | string };
export type WireRun = { info?: WireRunInfo; data?: { metrics?: WireMetric[]; params?: WireTag[]; tags?: WireTag[] } };
export type WireModelVersion = {
  name?: string;
  version?: string | number;
  creation_timestamp?: number | string;
  last_updated_timestamp?: number | string;
  description?: string;
  source?: string;
  run_id?: string;
  run_link?: string;
  status?: string;
  status_message?: string;
  tags?: WireTag[];
  aliases?: string[];
};
export type WireRegisteredModel = {
  name?: string;
  creation_timestamp?: number | string;
  last_updated_timestamp?: number | string;
  description?: string;
  tags?: WireTag[];
  aliases?: { alias?: string; version?: string | number }[];
  latest_versions?: WireModelVersion[];
};
export type WireFileInfo = { path?: string; is_dir?: boolean; file_size?: number | string };

// ----- answers: wire → public types ----------------------------------------------------------

function optNum(v: number | string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isNaN(n) ? undefined : n;
}

/** Metric values: numbers, or "NaN" / "Infinity" / "-Infinity" strings. */
function metricValue(v: number | string | undefined): number {
  if (v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v);
}

function fromTags(tags: WireTag[] | undefined): Tag[] {
  return (tags ?? []).map((t) => ({ key: t.key ?? '', value: t.value ?? '' }));
}

export function fromWireExperiment(w: WireExperiment): Experiment {
  return {
    experimentId: w.experiment_id ?? '',
    name: w.name ?? '',
    artifactLocation: w.artifact_location ?? '',
    lifecycleStage: w.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    creationTime: optNum(w.creation_time),
    lastUpdateTime: optNum(w.last_update_time),
    tags: fromTags(w.tags),
  };
}

export function fromWireRun(w: WireRun): Run {
  const i = w.info ?? {};
  return {
    info: {
      runId: i.run_id ?? i.run_uuid ?? '',
      experimentId: i.experiment_id ?? '',
      runName: i.run_name ?? '',
      userId: i.user_id ?? '',
      status: (i.status ?? 'RUNNING') as RunStatus,
      startTime: optNum(i.start_time),
      endTime: optNum(i.end_time),
      artifactUri: i.artifact_uri ?? '',
      lifecycleStage: i.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    },
    data: {
      metrics: (w.data?.metrics ?? []).map((m) => ({
        key: m.key ?? '',
        value: metricValue(m.value),
        timestamp: optNum(m.timestamp) ?? 0,
        step: optNum(m.step) ?? 0,
      })),
      params: fromTags(w.data?.params),
      tags: fromTags(w.data?.tags),
    },
  };
}

export function fromWireModelVersion(w: WireModelVersion): ModelVersion {
  return {
    name: w.name ?? '',
    version: w.version === undefined ? '' : String(w.version),
    creationTimestamp: optNum(w.creation_timestamp),
    lastUpdatedTimestamp: optNum(w.last_updated_timestamp),
    description: w.description ?? '',
    source: w.source ?? '',
    runId: w.run_id ?? '',
    runLink: w.run_link ?? '',
    status: (w.status ?? 'READY') as ModelVersionStatus,
    statusMessage: w.status_message ?? '',
    tags: fromTags(w.tags),
    aliases: w.aliases ?? [],
  };
}

export function fromWireRegisteredModel(w: WireRegisteredModel): RegisteredModel {
  return {
    name: w.name ?? '',
    creationTimestamp: optNum(w.creation_timestamp),
    lastUpdatedTimestamp: optNum(w.last_updated_timestamp),
    description: w.description ?? '',
    tags: fromTags(w.tags),
    aliases: (w.aliases ?? []).map((a) => ({
      alias: a.alias ?? '',
      version: a.version === undefined ? '' : String(a.version),
    })),
    latestVersions: (w.latest_versions ?? []).map(fromWireModelVersion),
  };
}

/**
 * A listed artifact. The proxy answers basenames; `dir` is the listed directory relative to the
 * run's artifact root ('' for the root), so the path is relative to that root too.
 */
export function fromWireFileInfo(f: WireFileInfo, dir: string): ArtifactFile {
  const base = (f.path ?? '').split('/').pop() ?? '';
  return { path: dir ? `${dir}/${base}` : base, isDir: f.is_dir ?? false, fileSize: optNum(f.file_size) };
}

// ----- requests: public types → wire ---------------------------------------------------------

type WireKV = { key: string; value: string };
type WireMetricOut = { key: string; value: number | string; timestamp: number; step: number };

export function toWireTags(tags: Record<string, string> | undefined): WireKV[] | undefined {
  if (!tags) return undefined;
  return Object.entries(tags).map(([key, value]) => ({ key, value }));
}

/** Doubles as protobuf JSON: non-finite values are strings. */
function wireDouble(v: number): number | string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/** A metric to log; `now` stands in for a missing timestamp. */
export function toWireMetric(m: MetricInput, now: number): WireMetricOut {
  return {
    key: m.key,
    value: wireDouble(m.value),
    timestamp: Math.trunc(m.timestamp ?? now),
    step: Math.trunc(m.step ?? 0),
  };
}

/** The server's limits on one `runs/log-batch` request (mlflow/utils/validation.py). */
export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  total: 1000,
  /** Our own bound on the JSON body, under the server's 1 MB request limit. */
  bytes: 900_000,
} as const;

export type BatchChunk = { metrics: WireMetricOut[]; params: WireKV[]; tags: WireKV[] };

/** One log-batch request being filled, counting its entities and bytes against LOG_BATCH_LIMITS. */
class ChunkFill {
  readonly chunk: BatchChunk = { metrics: [], params: [], tags: [] };
  private count = 0;
  /** Room for the rest of the body (run_id, keys, brackets). */
  private bytes = 100;

  /**
   * Moves entities from `from[start]` on into `into` while `into` holds fewer than `max`, the
   * request fewer than LOG_BATCH_LIMITS.total and the body stays under the byte bound (the first
   * entity of a request always goes, however big). Returns the index of the first one left.
   */
  take<T>(from: readonly T[], start: number, into: T[], max: number): number {
    let i = start;
    while (i < from.length && into.length < max && this.count < LOG_BATCH_LIMITS.total) {
      const item = from[i] as T;
      const size = Buffer.byteLength(JSON.stringify(item)) + 1;
      if (this.count > 0 && this.bytes + size > LOG_BATCH_LIMITS.bytes) break;
      into.push(item);
      this.bytes += size;
      this.count++;
      i++;
    }
    return i;
  }
}

/**
 * Splits a batch into as few log-batch requests as LOG_BATCH_LIMITS allow: each request takes
 * up to 100 params, then up to 100 tags, then metrics up to 1000 entities in all, and stays
 * under the byte bound (a single oversized entity still goes alone).
 */
export function chunkBatch(metrics: WireMetricOut[], params: WireKV[], tags: WireKV[]): BatchChunk[] {
  const chunks: BatchChunk[] = [];
  let mi = 0;
  let pi = 0;
  let ti = 0;
  while (mi < metrics.length || pi < params.length || ti < tags.length) {
    const fill = new ChunkFill();
    pi = fill.take(params, pi, fill.chunk.params, LOG_BATCH_LIMITS.params);
    ti = fill.take(tags, ti, fill.chunk.tags, LOG_BATCH_LIMITS.tags);
    mi = fill.take(metrics, mi, fill.chunk.metrics, LOG_BATCH_LIMITS.metrics);
    chunks.push(fill.chunk);
  }
  return chunks;
}

// ----- filter strings ------------------------------------------------------------------------

/**
 * Quotes a string value for an MLflow filter string. MLflow strips the quotes without
 * unescaping, so a value is wrapped in whichever quote it does not contain.
 */
export function quoteFilterValue(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw invalidInput(`MLflow filter strings cannot hold a value with both ' and ": ${value}`);
}

/** `tags.<key>` for a filter string, backticked when the key has dots, dashes or spaces. */
export function tagFilterKey(key: string): string {
  if (key.includes('`')) throw invalidInput(`MLflow filter strings cannot name a key with a backtick: ${key}`);
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `tags.${key}` : `tags.\`${key}\``;
}

// ----- artifact paths ------------------------------------------------------------------------

/** The tracking server's artifact proxy (`mlflow server --serve-artifacts`). */
export const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

/**
 * The path of a run's artifact root under the tracking server's artifact proxy,
 * e.g. `mlflow-artifacts:/1/abc/artifacts` → `1/abc/artifacts`. Accepts `mlflow-artifacts:`
 * URIs (with or without a host) and http(s) URLs of the proxy itself; any other scheme
 * (s3://, file:) is not served by the proxy and is an invalid-input error.
 */
export function artifactProxyPath(artifactUri: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?(\/.*)?$/.exec(artifactUri);
  if (m) return trimSlashes(m[1] ?? '');
  if (/^https?:\/\//.test(artifactUri)) {
    const pathname = new URL(artifactUri).pathname;
    const i = pathname.indexOf(ARTIFACTS);
    if (i >= 0) return trimSlashes(decodeURIComponent(pathname.slice(i + ARTIFACTS.length)));
  }
  throw invalidInput(
    `artifact URI "${artifactUri}" is not served by the MLflow artifact proxy (expected mlflow-artifacts:/...; ` +
      'start mlflow server with --serve-artifacts and no explicit artifact location)',
  );
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}

/** Validates a relative artifact path (no empty, '.' or '..' segments) and returns its segments. */
export function artifactSegments(relPath: string, allowEmpty: boolean): string[] {
  const p = trimSlashes(relPath);
  if (p === '') {
    if (allowEmpty) return [];
    throw invalidInput('an artifact path must not be empty');
  }
  const segs = p.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
    throw invalidInput(
      `invalid artifact path "${relPath}": use a relative path without '.', '..', '\\' or empty segments`,
    );
  }
  return segs;
}

/** The proxy path of the file `relPath` under `artifactUri`, each segment URL-encoded. */
export function artifactFilePath(artifactUri: string, relPath: string): string {
  const root = artifactProxyPath(artifactUri);
  const segs = [...(root === '' ? [] : root.split('/')), ...artifactSegments(relPath, false)];
  return `${ARTIFACTS}/${segs.map(encodeURIComponent).join('/')}`;
}
