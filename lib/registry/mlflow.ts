/**
 * mlo's typed client for the MLflow REST API 2.0 (`/api/2.0/mlflow/...`) and the tracking
 * server's artifact proxy (`/api/2.0/mlflow-artifacts/...`, `mlflow server --serve-artifacts`).
 * Written against MLflow 3.17; endpoints, field names and error codes follow
 * `mlflow/server/handlers.py` and the protos.
 *
 * Conventions
 * - The wire format is MLflow's snake_case JSON; every type this module exports is camelCase.
 *   The mapping happens in one place (the `from*` functions below). Absent repeated fields
 *   (MLflow omits empty lists) become `[]`, absent strings become `''`; timestamps are epoch ms.
 * - Tags, params and metrics are arrays, as on the wire; `toMap`, `paramsOf`, `tagsOf` and
 *   `metricsOf` read them as maps.
 * - Every call takes `{ signal?, timeoutMs? }`. Each HTTP attempt is bounded by the request
 *   timeout combined with the caller's signal. An aborted call rejects at once with the
 *   signal's reason (a DOMException `AbortError` by default) and never retries.
 * - Retries: connection errors (ECONNREFUSED, ECONNRESET, fetch's `TypeError: fetch failed`),
 *   per-request timeouts, HTTP 5xx and 429 retry with exponential backoff and jitter
 *   (`Retry-After` is honoured up to `maxDelayMs`). 4xx never retries. When retries run out
 *   the call throws `MlflowUnavailableError`. The defaults ride out about 40-75 s of downtime.
 * - Errors are `MlflowError`s with `kind` ('not_found' | 'already_exists' | 'invalid_input' |
 *   'unavailable' | 'other'), `status`, `errorCode` (MLflow's `error_code`), `method`,
 *   `endpoint` and MLflow's own message (`serverMessage`). Subclasses exist per kind, and
 *   `isRetryable(err)` says whether trying again later can help.
 *
 * MLflow 3.17 behaviour this client relies on (checked against the real server):
 * - RESOURCE_ALREADY_EXISTS is HTTP 400 (not 409); RESOURCE_DOES_NOT_EXIST is 404.
 * - `GET registered-models/alias` for an alias that is not set answers 400
 *   INVALID_PARAMETER_VALUE "Registered model alias <a> not found." (the model itself missing is
 *   404 RESOURCE_DOES_NOT_EXIST); `getModelVersionByAlias` maps the former to `undefined`.
 * - `DELETE registered-models/alias` and the `delete-tag` endpoints of the registry answer 200
 *   when the alias or tag is absent; `runs/delete-tag` answers 404 for a missing tag.
 * - `model-versions/search` filters on `name`, `version_number`, `run_id`, `source_path`
 *   (=, !=, LIKE, ILIKE, IN for name/run_id) and on `tags.<key>` (=, !=, LIKE, ILIKE), joined
 *   with `and`. Keys with dots or dashes need backticks (`tags.\`mlo.hash\``); string values
 *   take single or double quotes with no escaping (see `quoteFilterValue`). Search results do
 *   not carry `aliases`; `getModelVersion` and `getModelVersionByAlias` do.
 * - A run's `artifact_uri` is `mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`; the proxy
 *   serves it at `/api/2.0/mlflow-artifacts/artifacts/<experiment_id>/<run_id>/artifacts/<path>`
 *   (PUT uploads the raw body, GET downloads it, `GET ...artifacts?path=` lists basenames).
 *   A missing artifact in an S3 store answers 500 INTERNAL_ERROR "...(404)...Not Found"; the
 *   client maps it to a non-retried not-found error.
 * - log-batch limits: 1000 metrics, 100 params, 100 tags and 1000 entities per request.
 * - Metric values NaN/±Infinity travel as the strings "NaN"/"Infinity"/"-Infinity".
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Config } from '../infra/config';
import { EXIT_CODES, type ExitCode, MloError } from '../core/errors';

// ---------------------------------------------------------------------------------------------
// Public types (camelCase)
// ---------------------------------------------------------------------------------------------

export type Tag = { key: string; value: string };
export type Param = { key: string; value: string };
export type Metric = { key: string; value: number; timestamp: number; step: number };

export type LifecycleStage = 'active' | 'deleted';

export type Experiment = {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  creationTime: number | undefined;
  lastUpdateTime: number | undefined;
  tags: Tag[];
};

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export type RunInfo = {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  status: RunStatus;
  startTime: number | undefined;
  endTime: number | undefined;
  /** e.g. `mlflow-artifacts:/<experiment_id>/<run_id>/artifacts` */
  artifactUri: string;
  lifecycleStage: LifecycleStage;
};

export type RunData = { metrics: Metric[]; params: Param[]; tags: Tag[] };
export type Run = { info: RunInfo; data: RunData };

export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export type ModelVersion = {
  name: string;
  /** MLflow versions are decimal strings ("1", "2", ...). */
  version: string;
  creationTimestamp: number | undefined;
  lastUpdatedTimestamp: number | undefined;
  description: string;
  source: string;
  runId: string;
  runLink: string;
  status: ModelVersionStatus;
  statusMessage: string;
  tags: Tag[];
  /** Present on get / get-by-alias; MLflow's search results leave it empty. */
  aliases: string[];
};

export type RegisteredModelAlias = { alias: string; version: string };

export type RegisteredModel = {
  name: string;
  creationTimestamp: number | undefined;
  lastUpdatedTimestamp: number | undefined;
  description: string;
  tags: Tag[];
  aliases: RegisteredModelAlias[];
  latestVersions: ModelVersion[];
};

export type ArtifactFile = {
  /** Relative to the run's artifact root, e.g. `model/model.onnx`. */
  path: string;
  isDir: boolean;
  fileSize: number | undefined;
};

export type Page<T> = { items: T[]; nextPageToken: string | undefined };

export type RunViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export type MetricInput = { key: string; value: number; timestamp?: number; step?: number };

export type CallOptions = {
  /** Aborts the call (and any pending retry) at once. */
  signal?: AbortSignal;
  /** Per-attempt timeout, overriding the client's `requestTimeoutMs`. */
  timeoutMs?: number;
};

export type RetryOptions = {
  /** Total attempts including the first one (>= 1). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
};

export type RetryEvent = {
  method: string;
  endpoint: string;
  attempt: number;
  delayMs: number;
  error: unknown;
};

export type MlflowClientOptions = {
  /** e.g. http://127.0.0.1:5050 (no trailing /api). */
  trackingUri: string;
  /** Defaults to the global fetch; tests inject one to simulate outages at the boundary. */
  fetch?: typeof fetch;
  retry?: Partial<RetryOptions>;
  /** Per-attempt timeout of API calls. Default 30 s. */
  requestTimeoutMs?: number;
  /** Per-attempt timeout of artifact uploads and downloads. Default 10 min. */
  artifactTimeoutMs?: number;
  /** Extra headers on every request (e.g. Authorization for a secured server). */
  headers?: Record<string, string>;
  /** Called before each retry sleep (logging, heartbeats). */
  onRetry?: (event: RetryEvent) => void;
};

/** 12 attempts, 0.5 s doubling to 10 s, jittered to 50-100 %: about 38-75 s before giving up. */
export const DEFAULT_RETRY: Readonly<RetryOptions> = { attempts: 12, baseDelayMs: 500, maxDelayMs: 10_000 };
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_ARTIFACT_TIMEOUT_MS = 600_000;

/** The server's limits on one `runs/log-batch` request (mlflow/utils/validation.py). */
export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  total: 1000,
  /** Our own bound on the JSON body, under the server's 1 MB request limit. */
  bytes: 900_000,
} as const;

/** The tag MLflow uses to nest a run under a parent run. */
export const PARENT_RUN_ID_TAG = 'mlflow.parentRunId';

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export type MlflowErrorKind = 'not_found' | 'already_exists' | 'invalid_input' | 'unavailable' | 'other';

type MlflowErrorInit = {
  status?: number | undefined;
  errorCode?: string | undefined;
  method: string;
  endpoint: string;
  serverMessage?: string | undefined;
  cause?: unknown;
};

/** Any failure of an MLflow call. `kind` is the discriminator; subclasses exist per kind. */
export class MlflowError extends MloError {
  readonly code: string = 'MLFLOW_ERROR';
  readonly exitCode: ExitCode = EXIT_CODES.internal;
  readonly kind: MlflowErrorKind = 'other';
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** MLflow's `error_code`, e.g. RESOURCE_DOES_NOT_EXIST. */
  readonly errorCode: string | undefined;
  readonly method: string;
  /** Path of the endpoint, e.g. /api/2.0/mlflow/runs/get (no query string). */
  readonly endpoint: string;
  /** MLflow's own `message`, when it sent one. */
  readonly serverMessage: string | undefined;

  constructor(message: string, init: MlflowErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'MlflowError';
    this.status = init.status;
    this.errorCode = init.errorCode;
    this.method = init.method;
    this.endpoint = init.endpoint;
    this.serverMessage = init.serverMessage;
  }
}

export class MlflowNotFoundError extends MlflowError {
  override readonly code: string = 'MLFLOW_NOT_FOUND';
  override readonly exitCode: ExitCode = EXIT_CODES.badInput;
  override readonly kind: MlflowErrorKind = 'not_found';
  constructor(message: string, init: MlflowErrorInit) {
    super(message, init);
    this.name = 'MlflowNotFoundError';
  }
}

export class MlflowAlreadyExistsError extends MlflowError {
  override readonly code: string = 'MLFLOW_ALREADY_EXISTS';
  override readonly exitCode: ExitCode = EXIT_CODES.badInput;
  override readonly kind: MlflowErrorKind = 'already_exists';
  constructor(message: string, init: MlflowErrorInit) {
    super(message, init);
    this.name = 'MlflowAlreadyExistsError';
  }
}

export class MlflowInvalidInputError extends MlflowError {
  override readonly code: string = 'MLFLOW_INVALID_INPUT';
  override readonly exitCode: ExitCode = EXIT_CODES.badInput;
  override readonly kind: MlflowErrorKind = 'invalid_input';
  constructor(message: string, init: MlflowErrorInit) {
    super(message, init);
    this.name = 'MlflowInvalidInputError';
  }
}

/** Retries ran out on connection errors, timeouts, 5xx or 429. Retryable later. */
export class MlflowUnavailableError extends MlflowError {
  override readonly code: string = 'MLFLOW_UNAVAILABLE';
  override readonly exitCode: ExitCode = EXIT_CODES.unreachable;
  override readonly kind: MlflowErrorKind = 'unavailable';
  constructor(
    message: string,
    init: MlflowErrorInit,
    readonly attempts: number,
  ) {
    super(message, init);
    this.name = 'MlflowUnavailableError';
  }
}

const NOT_FOUND_CODES = new Set(['RESOURCE_DOES_NOT_EXIST', 'NOT_FOUND']);
const ALREADY_EXISTS_CODES = new Set(['RESOURCE_ALREADY_EXISTS', 'ALREADY_EXISTS']);
const INVALID_INPUT_CODES = new Set([
  'INVALID_PARAMETER_VALUE',
  'BAD_REQUEST',
  'MALFORMED_REQUEST',
  'MISSING_PARAMETER',
  'INVALID_STATE',
]);
const RETRYABLE_ERROR_CODES = new Set([
  'TEMPORARILY_UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'REQUEST_LIMIT_EXCEEDED',
  'RESOURCE_EXHAUSTED',
]);
const RETRYABLE_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function kindOf(status: number | undefined, errorCode: string | undefined): MlflowErrorKind {
  if (errorCode !== undefined) {
    if (NOT_FOUND_CODES.has(errorCode)) return 'not_found';
    if (ALREADY_EXISTS_CODES.has(errorCode)) return 'already_exists';
    if (INVALID_INPUT_CODES.has(errorCode)) return 'invalid_input';
  }
  // A 404 without an MLflow error body is an unknown endpoint (a wrong tracking URI), not a
  // missing resource.
  if (status === 400 || status === 422) return 'invalid_input';
  return 'other';
}

function makeError(kind: MlflowErrorKind, message: string, init: MlflowErrorInit): MlflowError {
  switch (kind) {
    case 'not_found':
      return new MlflowNotFoundError(message, init);
    case 'already_exists':
      return new MlflowAlreadyExistsError(message, init);
    case 'invalid_input':
      return new MlflowInvalidInputError(message, init);
    default:
      return new MlflowError(message, init);
  }
}

export function isMlflowError(err: unknown): err is MlflowError {
  return err instanceof MlflowError;
}
export function isNotFound(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.kind === 'not_found';
}
export function isAlreadyExists(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.kind === 'already_exists';
}
export function isInvalidInput(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.kind === 'invalid_input';
}
export function isUnavailable(err: unknown): err is MlflowUnavailableError {
  return err instanceof MlflowError && err.kind === 'unavailable';
}

function errName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err && typeof err.name === 'string'
    ? err.name
    : undefined;
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** An abort by a caller's signal (not a timeout). */
export function isAbortError(err: unknown): boolean {
  return errName(err) === 'AbortError';
}

/**
 * A transient connection-level failure: refused, reset, DNS hiccup, undici socket errors, or
 * fetch's `TypeError: fetch failed` / `terminated` with no more specific cause. A cause that
 * names a permanent problem (an error code outside the list, such as ENOTFOUND or a TLS
 * certificate error, or fetch's "bad port" for ports browsers block, like 1) is not transient.
 */
function isNetworkError(err: unknown): boolean {
  let fetchTypeError = false;
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur !== undefined && cur !== null; depth++) {
    const code = errCode(cur);
    if (code !== undefined) return RETRYABLE_NET_CODES.has(code);
    // happy-eyeballs connects report every address's failure
    if (cur instanceof AggregateError && cur.errors.some((e) => RETRYABLE_NET_CODES.has(errCode(e) ?? ''))) return true;
    if (cur instanceof TypeError && /^(fetch failed|terminated)$/i.test(cur.message)) fetchTypeError = true;
    else if (fetchTypeError && cur instanceof Error && /bad port|invalid url|unsupported protocol/i.test(cur.message))
      return false;
    cur = typeof cur === 'object' && 'cause' in cur ? cur.cause : undefined;
  }
  return fetchTypeError;
}

/**
 * Whether trying the same call again later can succeed: outages (MlflowUnavailableError),
 * 5xx and 429 answers, connection errors and timeouts. 4xx answers and aborts are final.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof MlflowError) {
    if (err.kind === 'unavailable') return true;
    if (err.kind !== 'other') return false;
    if (err.status !== undefined && (err.status >= 500 || err.status === 429)) return true;
    return err.errorCode !== undefined && RETRYABLE_ERROR_CODES.has(err.errorCode);
  }
  if (isAbortError(err)) return false;
  if (errName(err) === 'TimeoutError') return true;
  return isNetworkError(err);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err) ?? errCode(err.cause);
    const causeMsg = err.cause instanceof Error && err.cause.message !== err.message ? `: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${causeMsg}${code && !causeMsg.includes(code) ? ` (${code})` : ''}`;
  }
  return String(err);
}

// ---------------------------------------------------------------------------------------------
// Helpers on the public types
// ---------------------------------------------------------------------------------------------

/** Reads key/value entries (tags, params) as a map; a later key wins. */
export function toMap(entries: readonly { key: string; value: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) out[e.key] = e.value;
  return out;
}
export function paramsOf(run: Run): Record<string, string> {
  return toMap(run.data.params);
}
export function tagsOf(entity: { tags: Tag[] } | Run): Record<string, string> {
  return toMap('data' in entity ? entity.data.tags : entity.tags);
}
/** The latest value of each metric of a run (what `runs/get` returns). */
export function metricsOf(run: Run): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of run.data.metrics) out[m.key] = m.value;
  return out;
}
/** alias → version of a registered model. */
export function aliasesOf(model: RegisteredModel): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of model.aliases) out[a.alias] = a.version;
  return out;
}

/**
 * Quotes a string value for an MLflow filter string. MLflow strips the quotes without
 * unescaping, so a value is wrapped in whichever quote it does not contain.
 */
export function quoteFilterValue(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new MlflowInvalidInputError(`MLflow filter strings cannot hold a value with both ' and ": ${value}`, {
    method: '',
    endpoint: '',
  });
}

/** `tags.<key>` for a filter string, backticked when the key has dots, dashes or spaces. */
export function tagFilterKey(key: string): string {
  if (key.includes('`'))
    throw new MlflowInvalidInputError(`MLflow filter strings cannot name a key with a backtick: ${key}`, {
      method: '',
      endpoint: '',
    });
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `tags.${key}` : `tags.\`${key}\``;
}

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
    const anchor = '/api/2.0/mlflow-artifacts/artifacts';
    const pathname = new URL(artifactUri).pathname;
    const i = pathname.indexOf(anchor);
    if (i >= 0) return trimSlashes(decodeURIComponent(pathname.slice(i + anchor.length)));
  }
  throw new MlflowInvalidInputError(
    `artifact URI "${artifactUri}" is not served by the MLflow artifact proxy (expected mlflow-artifacts:/...; start mlflow server with --serve-artifacts and no explicit artifact location)`,
    { method: '', endpoint: '' },
  );
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}

/** Validates a relative artifact path (no empty, '.' or '..' segments) and returns its segments. */
function artifactSegments(relPath: string, allowEmpty: boolean): string[] {
  const p = trimSlashes(relPath);
  if (p === '') {
    if (allowEmpty) return [];
    throw new MlflowInvalidInputError('an artifact path must not be empty', { method: '', endpoint: '' });
  }
  const segs = p.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
    throw new MlflowInvalidInputError(
      `invalid artifact path "${relPath}": use a relative path without '.', '..', '\\' or empty segments`,
      { method: '', endpoint: '' },
    );
  }
  return segs;
}

// ---------------------------------------------------------------------------------------------
// Wire types (snake_case, as MLflow sends them) and their mapping
// ---------------------------------------------------------------------------------------------

type WireTag = { key?: string; value?: string };
type WireExperiment = {
  experiment_id?: string;
  name?: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  creation_time?: number | string;
  last_update_time?: number | string;
  tags?: WireTag[];
};
type WireRunInfo = {
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
type WireRun = { info?: WireRunInfo; data?: { metrics?: WireMetric[]; params?: WireTag[]; tags?: WireTag[] } };
type WireModelVersion = {
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
type WireRegisteredModel = {
  name?: string;
  creation_timestamp?: number | string;
  last_updated_timestamp?: number | string;
  description?: string;
  tags?: WireTag[];
  aliases?: { alias?: string; version?: string | number }[];
  latest_versions?: WireModelVersion[];
};
type WireFileInfo = { path?: string; is_dir?: boolean; file_size?: number | string };

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

function toWireTags(tags: Record<string, string> | undefined): { key: string; value: string }[] | undefined {
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

function wireMetric(
  m: MetricInput,
  now: number,
): { key: string; value: number | string; timestamp: number; step: number } {
  return {
    key: m.key,
    value: wireDouble(m.value),
    timestamp: Math.trunc(m.timestamp ?? now),
    step: Math.trunc(m.step ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Small async utilities
// ---------------------------------------------------------------------------------------------

/** The signal's reason (typed as Error for reject(); it is whatever the aborter passed). */
function abortReason(signal: AbortSignal): Error {
  return (signal.reason ?? new DOMException('This operation was aborted', 'AbortError')) as Error;
}

/** Sleeps `ms`, rejecting with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const secs = Number(h);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

type RequestSpec = {
  method: HttpMethod;
  /** Absolute path, e.g. /api/2.0/mlflow/runs/get */
  path: string;
  query?: Query;
  /** A JSON body (sent with content-type application/json). */
  json?: unknown;
  /** A raw body, rebuilt for every attempt (streams cannot be replayed). */
  body?: () => { body: RequestInit['body']; headers?: Record<string, string>; stream?: boolean };
  /** Overrides the error kind of a failed answer; a returned kind is final (never retried). */
  classify?: (status: number, errorCode: string | undefined, message: string) => MlflowErrorKind | undefined;
  timeoutMs: number;
};

type Failure = { error: MlflowError; retryable: boolean; detail: string; retryAfterMs?: number | undefined };

const API = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

export class MlflowClient {
  readonly trackingUri: string;
  readonly retry: RetryOptions;
  readonly requestTimeoutMs: number;
  readonly artifactTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(opts: MlflowClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.trackingUri);
    } catch {
      throw new MlflowInvalidInputError(`MLflow tracking URI must be an http(s) URL, got "${opts.trackingUri}"`, {
        method: '',
        endpoint: '',
      });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new MlflowInvalidInputError(`MLflow tracking URI must be an http(s) URL, got "${opts.trackingUri}"`, {
        method: '',
        endpoint: '',
      });
    }
    this.trackingUri = opts.trackingUri.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    if (!(this.retry.attempts >= 1))
      throw new MlflowInvalidInputError(`retry.attempts must be >= 1, got ${this.retry.attempts}`, {
        method: '',
        endpoint: '',
      });
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.artifactTimeoutMs = opts.artifactTimeoutMs ?? DEFAULT_ARTIFACT_TIMEOUT_MS;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.headers = { 'user-agent': 'mlo-mlflow-client', ...opts.headers };
    this.onRetry = opts.onRetry;
  }

  static fromConfig(cfg: Config, overrides: Omit<MlflowClientOptions, 'trackingUri'> = {}): MlflowClient {
    return new MlflowClient({ ...overrides, trackingUri: cfg.mlflow.trackingUri });
  }

  // ----- experiments ---------------------------------------------------------------------------

  /** The experiment with this name (active or deleted), or undefined. */
  async getExperimentByName(name: string, opts: CallOptions = {}): Promise<Experiment | undefined> {
    try {
      const r = await this.get<{ experiment?: WireExperiment }>(
        '/experiments/get-by-name',
        { experiment_name: name },
        opts,
      );
      return fromWireExperiment(r.experiment ?? {});
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getExperiment(experimentId: string, opts: CallOptions = {}): Promise<Experiment> {
    const r = await this.get<{ experiment?: WireExperiment }>(
      '/experiments/get',
      { experiment_id: experimentId },
      opts,
    );
    return fromWireExperiment(r.experiment ?? {});
  }

  /** Creates an experiment and returns its id; an existing name is an MlflowAlreadyExistsError. */
  async createExperiment(
    name: string,
    init: { artifactLocation?: string; tags?: Record<string, string> } = {},
    opts: CallOptions = {},
  ): Promise<string> {
    const r = await this.post<{ experiment_id?: string }>(
      '/experiments/create',
      { name, artifact_location: init.artifactLocation, tags: toWireTags(init.tags) },
      opts,
    );
    if (!r.experiment_id) throw this.protocolError('POST', '/experiments/create', 'no experiment_id in the answer');
    return r.experiment_id;
  }

  /**
   * The experiment with this name, created when missing. Race-safe: a concurrent creator's
   * RESOURCE_ALREADY_EXISTS is answered by reading the winner's experiment. A deleted
   * experiment of that name is an invalid-input error (restore it or purge it with `mlflow gc`).
   */
  async getOrCreateExperiment(
    name: string,
    init: { artifactLocation?: string; tags?: Record<string, string> } = {},
    opts: CallOptions = {},
  ): Promise<Experiment> {
    let exp = await this.getExperimentByName(name, opts);
    if (!exp) {
      try {
        const id = await this.createExperiment(name, init, opts);
        return await this.getExperiment(id, opts);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      exp = await this.getExperimentByName(name, opts);
      if (!exp)
        throw this.protocolError(
          'GET',
          '/experiments/get-by-name',
          `experiment "${name}" already exists but cannot be read`,
        );
    }
    if (exp.lifecycleStage === 'deleted') {
      throw new MlflowInvalidInputError(
        `MLflow experiment "${name}" (id ${exp.experimentId}) is deleted; restore it in the MLflow UI or purge it with \`mlflow gc\`, or use another name`,
        { method: 'GET', endpoint: `${API}/experiments/get-by-name` },
      );
    }
    return exp;
  }

  // ----- runs ----------------------------------------------------------------------------------

  async createRun(
    init: {
      experimentId: string;
      runName?: string;
      startTime?: number;
      tags?: Record<string, string>;
      parentRunId?: string;
      userId?: string;
    },
    opts: CallOptions = {},
  ): Promise<Run> {
    const tags: Record<string, string> = { ...init.tags };
    if (init.parentRunId) tags[PARENT_RUN_ID_TAG] = init.parentRunId;
    const r = await this.post<{ run?: WireRun }>(
      '/runs/create',
      {
        experiment_id: init.experimentId,
        run_name: init.runName,
        start_time: Math.trunc(init.startTime ?? Date.now()),
        user_id: init.userId,
        tags: toWireTags(tags),
      },
      opts,
    );
    return fromWireRun(r.run ?? {});
  }

  async getRun(runId: string, opts: CallOptions = {}): Promise<Run> {
    const r = await this.get<{ run?: WireRun }>('/runs/get', { run_id: runId }, opts);
    return fromWireRun(r.run ?? {});
  }

  /** Sets status and/or end time (and optionally the name); returns the updated info. */
  async updateRun(
    runId: string,
    update: { status?: RunStatus; endTime?: number; runName?: string },
    opts: CallOptions = {},
  ): Promise<RunInfo> {
    const endTime =
      update.endTime ??
      (update.status && update.status !== 'RUNNING' && update.status !== 'SCHEDULED' ? Date.now() : undefined);
    const r = await this.post<{ run_info?: WireRunInfo }>(
      '/runs/update',
      {
        run_id: runId,
        status: update.status,
        end_time: endTime === undefined ? undefined : Math.trunc(endTime),
        run_name: update.runName,
      },
      opts,
    );
    return fromWireRun({ info: r.run_info ?? {} }).info;
  }

  /** Ends a run: FINISHED by default, end time now. */
  async endRun(
    runId: string,
    status: Exclude<RunStatus, 'RUNNING' | 'SCHEDULED'> = 'FINISHED',
    opts: CallOptions = {},
  ): Promise<RunInfo> {
    return this.updateRun(runId, { status, endTime: Date.now() }, opts);
  }

  /** Marks a run deleted (restorable until `mlflow gc`). */
  async deleteRun(runId: string, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/delete', { run_id: runId }, opts);
  }

  /** One page of runs. `filter` is MLflow's search syntax, e.g. `params.lr = '0.1' and tags.k = 'v'`. */
  async searchRuns(
    query: {
      experimentIds: string[];
      filter?: string;
      orderBy?: string[];
      maxResults?: number;
      pageToken?: string;
      runViewType?: RunViewType;
    },
    opts: CallOptions = {},
  ): Promise<Page<Run>> {
    const r = await this.post<{ runs?: WireRun[]; next_page_token?: string }>(
      '/runs/search',
      {
        experiment_ids: query.experimentIds,
        filter: query.filter,
        order_by: query.orderBy,
        max_results: query.maxResults ?? 1000,
        page_token: query.pageToken,
        run_view_type: query.runViewType,
      },
      opts,
    );
    return { items: (r.runs ?? []).map(fromWireRun), nextPageToken: r.next_page_token || undefined };
  }

  /** Every run matching the query, following page tokens. */
  async searchAllRuns(
    query: {
      experimentIds: string[];
      filter?: string;
      orderBy?: string[];
      runViewType?: RunViewType;
      pageSize?: number;
    },
    opts: CallOptions = {},
  ): Promise<Run[]> {
    return this.collect((pageToken) =>
      this.searchRuns({ ...query, maxResults: query.pageSize ?? 1000, pageToken }, opts),
    );
  }

  async setRunTag(runId: string, key: string, value: string, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/set-tag', { run_id: runId, key, value }, opts);
  }

  /** Deletes a run tag; a tag that is not set is an MlflowNotFoundError (MLflow answers 404). */
  async deleteRunTag(runId: string, key: string, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/delete-tag', { run_id: runId, key }, opts);
  }

  /** Logs a param; params are immutable (a different value for a logged key is invalid input). */
  async logParam(runId: string, key: string, value: string | number | boolean, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/log-parameter', { run_id: runId, key, value: String(value) }, opts);
  }

  async logMetric(runId: string, metric: MetricInput, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/log-metric', { run_id: runId, ...wireMetric(metric, Date.now()) }, opts);
  }

  /**
   * Logs metrics, params and tags, split into as few requests as the server's limits allow
   * (see LOG_BATCH_LIMITS); requests go one after another, in order. Not atomic across
   * requests. Returns the number of requests sent (0 when there is nothing to log).
   */
  async logBatch(
    runId: string,
    batch: {
      metrics?: MetricInput[];
      params?: Record<string, string | number | boolean>;
      tags?: Record<string, string>;
    },
    opts: CallOptions = {},
  ): Promise<number> {
    const now = Date.now();
    const chunks = chunkBatch(
      (batch.metrics ?? []).map((m) => wireMetric(m, now)),
      Object.entries(batch.params ?? {}).map(([key, value]) => ({ key, value: String(value) })),
      Object.entries(batch.tags ?? {}).map(([key, value]) => ({ key, value })),
    );
    for (const c of chunks) {
      await this.post('/runs/log-batch', { run_id: runId, metrics: c.metrics, params: c.params, tags: c.tags }, opts);
    }
    return chunks.length;
  }

  // ----- artifacts (through the server's proxy) ------------------------------------------------

  /**
   * Uploads bytes to `<artifactUri>/<relPath>`; `artifactUri` is a run's `info.artifactUri`
   * (or any `mlflow-artifacts:` URI under it). Overwrites an existing file.
   */
  async uploadArtifact(
    artifactUri: string,
    relPath: string,
    data: Uint8Array | string,
    opts: CallOptions = {},
  ): Promise<void> {
    const path = this.artifactPath(artifactUri, relPath, false);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    await this.send(
      {
        method: 'PUT',
        path,
        body: () => ({ body: bytes, headers: { 'content-type': 'application/octet-stream' } }),
        timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs,
      },
      opts.signal,
      async (res) => {
        await res.arrayBuffer();
      },
    );
  }

  /** Streams a local file to `<artifactUri>/<relPath>` (re-opened for every attempt). */
  async uploadArtifactFile(
    artifactUri: string,
    relPath: string,
    localFile: string,
    opts: CallOptions = {},
  ): Promise<void> {
    const path = this.artifactPath(artifactUri, relPath, false);
    const { size } = await stat(localFile);
    await this.send(
      {
        method: 'PUT',
        path,
        body: () => ({
          body: Readable.toWeb(createReadStream(localFile)),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          stream: true,
        }),
        timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs,
      },
      opts.signal,
      async (res) => {
        await res.arrayBuffer();
      },
    );
  }

  /** Downloads `<artifactUri>/<relPath>`; a missing file is an MlflowNotFoundError. */
  async downloadArtifact(artifactUri: string, relPath: string, opts: CallOptions = {}): Promise<Uint8Array> {
    const path = this.artifactPath(artifactUri, relPath, false);
    return this.send(
      { method: 'GET', path, classify: classifyArtifactError, timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs },
      opts.signal,
      async (res) => new Uint8Array(await res.arrayBuffer()),
    );
  }

  /** Streams `<artifactUri>/<relPath>` into `destFile` (written to a temp file, then renamed). */
  async downloadArtifactToFile(
    artifactUri: string,
    relPath: string,
    destFile: string,
    opts: CallOptions = {},
  ): Promise<void> {
    const path = this.artifactPath(artifactUri, relPath, false);
    const tmp = `${destFile}.part-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      await this.send(
        { method: 'GET', path, classify: classifyArtifactError, timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs },
        opts.signal,
        async (res, signal) => {
          if (!res.body) throw new Error('empty response body');
          await pipeline(
            Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>),
            createWriteStream(tmp),
            { signal },
          );
        },
      );
      await rename(tmp, destFile);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * The direct children of `<artifactUri>/<relPath>` (relPath '' for the root), with paths
   * relative to `artifactUri`. A missing directory lists as [].
   */
  async listArtifacts(artifactUri: string, relPath = '', opts: CallOptions = {}): Promise<ArtifactFile[]> {
    const root = artifactProxyPath(artifactUri);
    const segs = artifactSegments(relPath, true);
    const full = [root, ...segs].filter((s) => s !== '').join('/');
    const r = await this.request<{ files?: WireFileInfo[] }>(
      {
        method: 'GET',
        path: ARTIFACTS,
        query: full === '' ? {} : { path: full },
        timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs,
      },
      opts.signal,
    );
    const prefix = segs.join('/');
    return (r.files ?? []).map((f) => {
      const base = (f.path ?? '').split('/').pop() ?? '';
      return { path: prefix ? `${prefix}/${base}` : base, isDir: f.is_dir ?? false, fileSize: optNum(f.file_size) };
    });
  }

  // ----- registered models ---------------------------------------------------------------------

  async getRegisteredModel(name: string, opts: CallOptions = {}): Promise<RegisteredModel> {
    const r = await this.get<{ registered_model?: WireRegisteredModel }>('/registered-models/get', { name }, opts);
    return fromWireRegisteredModel(r.registered_model ?? {});
  }

  /**
   * The registered model of this name, created when missing (idempotent and race-safe).
   * `description` and `tags` apply only when this call creates it.
   */
  async createRegisteredModel(
    name: string,
    init: { description?: string; tags?: Record<string, string> } = {},
    opts: CallOptions = {},
  ): Promise<RegisteredModel> {
    try {
      return await this.getRegisteredModel(name, opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      const r = await this.post<{ registered_model?: WireRegisteredModel }>(
        '/registered-models/create',
        { name, description: init.description, tags: toWireTags(init.tags) },
        opts,
      );
      return fromWireRegisteredModel(r.registered_model ?? {});
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      return this.getRegisteredModel(name, opts);
    }
  }

  /** Deletes a registered model with all its versions and aliases (MLflow deletes, not archives). */
  async deleteRegisteredModel(name: string, opts: CallOptions = {}): Promise<void> {
    await this.call('DELETE', '/registered-models/delete', { name }, opts);
  }

  /** One page of registered models; `filter` e.g. `name LIKE 'fraud-%'` or `tags.owner = 'x'`. */
  async searchRegisteredModels(
    query: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string } = {},
    opts: CallOptions = {},
  ): Promise<Page<RegisteredModel>> {
    const r = await this.get<{ registered_models?: WireRegisteredModel[]; next_page_token?: string }>(
      '/registered-models/search',
      {
        filter: query.filter,
        order_by: query.orderBy,
        max_results: query.maxResults ?? 100,
        page_token: query.pageToken,
      },
      opts,
    );
    return {
      items: (r.registered_models ?? []).map(fromWireRegisteredModel),
      nextPageToken: r.next_page_token || undefined,
    };
  }

  async setRegisteredModelTag(name: string, key: string, value: string, opts: CallOptions = {}): Promise<void> {
    await this.post('/registered-models/set-tag', { name, key, value }, opts);
  }

  /** Idempotent: MLflow answers 200 when the tag is not set. */
  async deleteRegisteredModelTag(name: string, key: string, opts: CallOptions = {}): Promise<void> {
    await this.call('DELETE', '/registered-models/delete-tag', { name, key }, opts);
  }

  /** Points `alias` at `version` (moving it if it pointed elsewhere). */
  async setAlias(name: string, alias: string, version: string | number, opts: CallOptions = {}): Promise<void> {
    await this.post('/registered-models/alias', { name, alias, version: String(version) }, opts);
  }

  /** Idempotent: MLflow answers 200 when the alias is not set. */
  async deleteAlias(name: string, alias: string, opts: CallOptions = {}): Promise<void> {
    await this.call('DELETE', '/registered-models/alias', { name, alias }, opts);
  }

  /**
   * The version `alias` points at, or undefined when the alias is not set. A registered model
   * that does not exist is an MlflowNotFoundError.
   */
  async getModelVersionByAlias(name: string, alias: string, opts: CallOptions = {}): Promise<ModelVersion | undefined> {
    try {
      const r = await this.get<{ model_version?: WireModelVersion }>('/registered-models/alias', { name, alias }, opts);
      return fromWireModelVersion(r.model_version ?? {});
    } catch (err) {
      // MLflow 3.x: 400 INVALID_PARAMETER_VALUE "Registered model alias <alias> not found."
      if (
        err instanceof MlflowError &&
        (err.kind === 'invalid_input' || err.kind === 'not_found') &&
        /\balias\b.*\bnot found\b/i.test(err.serverMessage ?? '')
      ) {
        return undefined;
      }
      throw err;
    }
  }

  // ----- model versions ------------------------------------------------------------------------

  /**
   * Registers a new version. `source` is the model's artifact URI (e.g. `<run artifactUri>/model`);
   * with `runId`, MLflow checks that the source lies under that run's artifacts. Not
   * idempotent: each call makes a new version (search by a lineage tag first to dedupe).
   */
  async createModelVersion(
    init: {
      name: string;
      source: string;
      runId?: string;
      tags?: Record<string, string>;
      description?: string;
      runLink?: string;
    },
    opts: CallOptions = {},
  ): Promise<ModelVersion> {
    const r = await this.post<{ model_version?: WireModelVersion }>(
      '/model-versions/create',
      {
        name: init.name,
        source: init.source,
        run_id: init.runId,
        tags: toWireTags(init.tags),
        description: init.description,
        run_link: init.runLink,
      },
      opts,
    );
    return fromWireModelVersion(r.model_version ?? {});
  }

  async getModelVersion(name: string, version: string | number, opts: CallOptions = {}): Promise<ModelVersion> {
    const r = await this.get<{ model_version?: WireModelVersion }>(
      '/model-versions/get',
      { name, version: String(version) },
      opts,
    );
    return fromWireModelVersion(r.model_version ?? {});
  }

  /**
   * One page of model versions. MLflow 3 filters: `name`, `version_number`, `run_id`,
   * `source_path` and `tags.<key>`, joined with `and`, e.g.
   * `name = 'fraud' and tags.\`mlo.snapshot\` = 'abc'` (see `quoteFilterValue`, `tagFilterKey`).
   * Results carry no aliases.
   */
  async searchModelVersions(
    query: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string } = {},
    opts: CallOptions = {},
  ): Promise<Page<ModelVersion>> {
    const r = await this.get<{ model_versions?: WireModelVersion[]; next_page_token?: string }>(
      '/model-versions/search',
      {
        filter: query.filter,
        order_by: query.orderBy,
        max_results: query.maxResults ?? 1000,
        page_token: query.pageToken,
      },
      opts,
    );
    return { items: (r.model_versions ?? []).map(fromWireModelVersion), nextPageToken: r.next_page_token || undefined };
  }

  async searchAllModelVersions(
    query: { filter?: string; orderBy?: string[]; pageSize?: number } = {},
    opts: CallOptions = {},
  ): Promise<ModelVersion[]> {
    return this.collect((pageToken) =>
      this.searchModelVersions({ ...query, maxResults: query.pageSize ?? 1000, pageToken }, opts),
    );
  }

  async setModelVersionTag(
    name: string,
    version: string | number,
    key: string,
    value: string,
    opts: CallOptions = {},
  ): Promise<void> {
    await this.post('/model-versions/set-tag', { name, version: String(version), key, value }, opts);
  }

  /** Idempotent: MLflow answers 200 when the tag is not set. */
  async deleteModelVersionTag(
    name: string,
    version: string | number,
    key: string,
    opts: CallOptions = {},
  ): Promise<void> {
    await this.call('DELETE', '/model-versions/delete-tag', { name, version: String(version), key }, opts);
  }

  async updateModelVersionDescription(
    name: string,
    version: string | number,
    description: string,
    opts: CallOptions = {},
  ): Promise<ModelVersion> {
    const r = await this.call<{ model_version?: WireModelVersion }>(
      'PATCH',
      '/model-versions/update',
      { name, version: String(version), description },
      opts,
    );
    return fromWireModelVersion(r.model_version ?? {});
  }

  /**
   * Polls a version until its status is READY and returns it. FAILED_REGISTRATION is an
   * MlflowError (errorCode FAILED_REGISTRATION); still pending after `timeoutMs` (default
   * 5 min) is a retryable MlflowError (errorCode DEADLINE_EXCEEDED).
   */
  async waitForModelVersionReady(
    name: string,
    version: string | number,
    opts: CallOptions & { waitTimeoutMs?: number; pollIntervalMs?: number } = {},
  ): Promise<ModelVersion> {
    const deadline = Date.now() + (opts.waitTimeoutMs ?? 300_000);
    const interval = opts.pollIntervalMs ?? 1000;
    const endpoint = `${API}/model-versions/get`;
    for (;;) {
      const mv = await this.getModelVersion(name, version, opts);
      if (mv.status === 'READY') return mv;
      if (mv.status === 'FAILED_REGISTRATION') {
        throw new MlflowError(
          `MLflow model version ${name}/${mv.version} failed registration: ${mv.statusMessage || '(no status message)'}`,
          {
            method: 'GET',
            endpoint,
            errorCode: 'FAILED_REGISTRATION',
            serverMessage: mv.statusMessage,
          },
        );
      }
      if (Date.now() + interval > deadline) {
        throw new MlflowError(
          `MLflow model version ${name}/${mv.version} is still ${mv.status} after ${opts.waitTimeoutMs ?? 300_000} ms`,
          {
            method: 'GET',
            endpoint,
            errorCode: 'DEADLINE_EXCEEDED',
          },
        );
      }
      await sleep(interval, opts.signal);
    }
  }

  // ----- plumbing ------------------------------------------------------------------------------

  private artifactPath(artifactUri: string, relPath: string, allowEmpty: boolean): string {
    const root = artifactProxyPath(artifactUri);
    const segs = [...(root === '' ? [] : root.split('/')), ...artifactSegments(relPath, allowEmpty)];
    return `${ARTIFACTS}/${segs.map(encodeURIComponent).join('/')}`;
  }

  private async collect<T>(page: (token: string | undefined) => Promise<Page<T>>): Promise<T[]> {
    const out: T[] = [];
    let token: string | undefined;
    do {
      const p = await page(token);
      out.push(...p.items);
      token = p.nextPageToken;
    } while (token);
    return out;
  }

  private protocolError(method: string, endpoint: string, detail: string): MlflowError {
    return new MlflowError(`MLflow ${method} ${API}${endpoint}: unexpected answer: ${detail}`, {
      method,
      endpoint: `${API}${endpoint}`,
    });
  }

  private get<T>(endpoint: string, query: Query, opts: CallOptions): Promise<T> {
    return this.request<T>(
      { method: 'GET', path: `${API}${endpoint}`, query, timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs },
      opts.signal,
    );
  }

  private post<T = unknown>(endpoint: string, json: unknown, opts: CallOptions): Promise<T> {
    return this.call<T>('POST', endpoint, json, opts);
  }

  private call<T = unknown>(method: HttpMethod, endpoint: string, json: unknown, opts: CallOptions): Promise<T> {
    return this.request<T>(
      { method, path: `${API}${endpoint}`, json, timeoutMs: opts.timeoutMs ?? this.requestTimeoutMs },
      opts.signal,
    );
  }

  /** A JSON call: parses the answer (an empty body is {}). */
  private request<T>(spec: RequestSpec, signal: AbortSignal | undefined): Promise<T> {
    return this.send(spec, signal, async (res) => {
      const text = await res.text();
      if (text.trim() === '') return {} as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new MlflowError(`MLflow ${spec.method} ${spec.path}: answer is not JSON: ${text.slice(0, 200)}`, {
          method: spec.method,
          endpoint: spec.path,
          status: res.status,
        });
      }
    });
  }

  private buildUrl(spec: RequestSpec): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v as readonly string[]) qs.append(k, item);
      else qs.append(k, String(v));
    }
    const q = qs.toString();
    return `${this.trackingUri}${spec.path}${q ? `?${q}` : ''}`;
  }

  /**
   * One logical call: attempts, backoff, error mapping. `read` consumes a 2xx answer inside
   * the attempt, so a connection dropped mid-body is retried like any other.
   */
  private async send<T>(
    spec: RequestSpec,
    signal: AbortSignal | undefined,
    read: (res: Response, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const url = this.buildUrl(spec);
    const { attempts } = this.retry;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortReason(signal);
      const timeout = AbortSignal.timeout(spec.timeoutMs);
      const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const headers: Record<string, string> = { accept: 'application/json', ...this.headers };
      const init: RequestInit = { method: spec.method, headers, signal: attemptSignal };
      if (spec.json !== undefined) {
        headers['content-type'] = 'application/json';
        init.body = JSON.stringify(spec.json);
      } else if (spec.body) {
        const b = spec.body();
        Object.assign(headers, b.headers);
        init.body = b.body;
        if (b.stream) init.duplex = 'half';
      }

      let res: Response | undefined;
      let last: Failure;
      try {
        res = await this.fetchImpl(url, init);
        if (res.ok) return await read(res, attemptSignal);
        last = await this.failureFrom(spec, res);
        if (!last.retryable) throw last.error;
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        if (err instanceof MlflowError) throw err;
        const timedOut = timeout.aborted || errName(err) === 'TimeoutError';
        if (!timedOut && !isRetryable(err)) {
          // fetch itself failed for good (a bad port, a TLS certificate, an unknown host)
          if (res === undefined)
            throw new MlflowError(`MLflow ${spec.method} ${spec.path} failed: ${describe(err)}`, {
              method: spec.method,
              endpoint: spec.path,
              cause: err,
            });
          throw err;
        }
        const detail = timedOut ? `no answer within ${spec.timeoutMs} ms` : describe(err);
        last = {
          retryable: true,
          detail,
          error: new MlflowError(`MLflow ${spec.method} ${spec.path} failed: ${detail}`, {
            method: spec.method,
            endpoint: spec.path,
            status: res?.status,
            cause: err,
          }),
        };
      }

      if (attempt >= attempts) {
        const e = last.error;
        throw new MlflowUnavailableError(
          `MLflow is unavailable at ${this.trackingUri}: ${spec.method} ${spec.path} failed ${attempt} time(s), last with ${last.detail}. ` +
            'Start the dev stack with `npm run stack -- up`, or point MLO_MLFLOW_TRACKING_URI at a running MLflow.',
          {
            method: spec.method,
            endpoint: spec.path,
            status: e.status,
            errorCode: e.errorCode,
            serverMessage: e.serverMessage,
            cause: e.cause ?? e,
          },
          attempt,
        );
      }
      const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
      const jittered = exp / 2 + Math.random() * (exp / 2);
      const delayMs = Math.round(Math.min(this.retry.maxDelayMs, Math.max(jittered, last.retryAfterMs ?? 0)));
      this.onRetry?.({ method: spec.method, endpoint: spec.path, attempt, delayMs, error: last.error });
      await sleep(delayMs, signal);
    }
  }

  private async failureFrom(spec: RequestSpec, res: Response): Promise<Failure> {
    const text = await res.text();
    let errorCode: string | undefined;
    let serverMessage: string | undefined;
    try {
      const body: unknown = JSON.parse(text);
      if (typeof body === 'object' && body !== null) {
        if ('error_code' in body && typeof body.error_code === 'string') errorCode = body.error_code;
        if ('message' in body && typeof body.message === 'string') serverMessage = body.message;
      }
    } catch {
      // not JSON (an HTML error page from the server or a proxy)
    }
    const init: MlflowErrorInit = {
      method: spec.method,
      endpoint: spec.path,
      status: res.status,
      errorCode,
      serverMessage,
    };
    const snippet =
      serverMessage ??
      (text
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 200) ||
        res.statusText);
    const hint =
      res.status === 404 && errorCode === undefined
        ? ' (no such endpoint: is the tracking URI right, and is it an MLflow 2.x/3.x server?)'
        : '';
    const message = `MLflow ${spec.method} ${spec.path} failed (HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}): ${snippet}${hint}`;
    const override = spec.classify?.(res.status, errorCode, serverMessage ?? text);
    const detail = `HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}: ${snippet}`;
    if (override !== undefined) return { retryable: false, detail, error: makeError(override, message, init) };
    const retryable = res.status >= 500 || res.status === 429;
    return {
      retryable,
      detail,
      retryAfterMs: retryable ? retryAfterMs(res) : undefined,
      error: makeError(retryable ? 'other' : kindOf(res.status, errorCode), message, init),
    };
  }
}

/**
 * The artifact proxy answers a missing file with 500 INTERNAL_ERROR wrapping the store's
 * 404 (S3: "An error occurred (404) when calling the HeadObject operation: Not Found"), or a
 * 404 for a local store. Either is a final not-found, never retried.
 */
function classifyArtifactError(
  status: number,
  _errorCode: string | undefined,
  message: string,
): MlflowErrorKind | undefined {
  if (status === 404) return 'not_found';
  if (status === 500 && /\(404\)|\bNot Found\b|NoSuchKey|No such file|does not exist/i.test(message))
    return 'not_found';
  return undefined;
}

type WireKV = { key: string; value: string };
type WireMetricOut = ReturnType<typeof wireMetric>;
export type BatchChunk = { metrics: WireMetricOut[]; params: WireKV[]; tags: WireKV[] };

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
  const size = (x: unknown) => Buffer.byteLength(JSON.stringify(x)) + 1;
  while (mi < metrics.length || pi < params.length || ti < tags.length) {
    const c: BatchChunk = { metrics: [], params: [], tags: [] };
    let count = 0;
    let bytes = 100;
    const fits = (x: unknown) => count === 0 || bytes + size(x) <= LOG_BATCH_LIMITS.bytes;
    while (
      pi < params.length &&
      c.params.length < LOG_BATCH_LIMITS.params &&
      count < LOG_BATCH_LIMITS.total &&
      fits(params[pi])
    ) {
      const p = params[pi++] as WireKV;
      bytes += size(p);
      count++;
      c.params.push(p);
    }
    while (
      ti < tags.length &&
      c.tags.length < LOG_BATCH_LIMITS.tags &&
      count < LOG_BATCH_LIMITS.total &&
      fits(tags[ti])
    ) {
      const t = tags[ti++] as WireKV;
      bytes += size(t);
      count++;
      c.tags.push(t);
    }
    while (
      mi < metrics.length &&
      c.metrics.length < LOG_BATCH_LIMITS.metrics &&
      count < LOG_BATCH_LIMITS.total &&
      fits(metrics[mi])
    ) {
      const m = metrics[mi++] as WireMetricOut;
      bytes += size(m);
      count++;
      c.metrics.push(m);
    }
    chunks.push(c);
  }
  return chunks;
}
