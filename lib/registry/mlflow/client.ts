/**
 * `MlflowClient`: the transport (attempts bounded by a timeout and the caller's signal, retries
 * with backoff, error answers mapped to MlflowErrors) and the endpoints mlo calls.
 */
import type { Config } from '../../infra/config';
import {
  basicAuthorization,
  bearerAuthorization,
  defaultMlflowCaBundle,
  defaultMlflowCredentials,
  defaultMlflowToken,
  fetchTrusting,
  readCaBundle,
  useMlflowCredentials,
} from './credentials';
import {
  describe,
  errName,
  invalidInput,
  isAlreadyExists,
  isNotFound,
  isRetryable,
  kindOf,
  makeError,
  MlflowError,
  type MlflowErrorInit,
  type MlflowErrorKind,
  MlflowInvalidInputError,
  MlflowNotFoundError,
  MlflowUnavailableError,
} from './errors';
import type {
  ArtifactFile,
  CallOptions,
  Experiment,
  MetricInput,
  MlflowClientOptions,
  ModelVersion,
  Page,
  RegisteredModel,
  RetryEvent,
  RetryOptions,
  Run,
  RunInfo,
  RunStatus,
  RunViewType,
} from './types';
import {
  ARTIFACTS,
  artifactFilePath,
  artifactProxyPath,
  artifactSegments,
  chunkBatch,
  fromWireExperiment,
  fromWireFileInfo,
  fromWireModelVersion,
  fromWireRegisteredModel,
  fromWireRun,
  toWireMetric,
  toWireTags,
  type WireExperiment,
  type WireFileInfo,
  type WireModelVersion,
  type WireRegisteredModel,
  type WireRun,
  type WireRunInfo,
} from './wire';

/** 12 attempts, 0.5 s doubling to 10 s, jittered to 50-100 %: about 38-75 s before giving up. */
const DEFAULT_RETRY: Readonly<RetryOptions> = { attempts: 12, baseDelayMs: 500, maxDelayMs: 10_000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_ARTIFACT_TIMEOUT_MS = 600_000;

/** The tag MLflow uses to nest a run under a parent run. */
const PARENT_RUN_ID_TAG = 'mlflow.parentRunId';

const API = '/api/2.0/mlflow';

type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

type RequestSpec = {
  method: HttpMethod;
  /** Absolute path, e.g. /api/2.0/mlflow/runs/get */
  path: string;
  query?: Query;
  /** A JSON body (sent with content-type application/json). */
  json?: unknown;
  /** A raw body (sent as application/octet-stream). */
  bytes?: Uint8Array;
  /** Overrides the error kind of a failed answer; a returned kind is final (never retried). */
  classify?: (status: number, errorCode: string | undefined, message: string) => MlflowErrorKind | undefined;
  timeoutMs: number;
};

/** A failed attempt: the error to throw when it is the last one, and whether to try again. */
type Failure = { error: MlflowError; retryable: boolean; detail: string; retryAfterMs?: number | undefined };

type Attempt<T> = { ok: true; value: T } | { ok: false; failure: Failure };

type ModelVersionQuery = { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string };
type RunQuery = {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  runViewType?: RunViewType;
};

export class MlflowClient {
  readonly trackingUri: string;
  readonly retry: RetryOptions;
  readonly requestTimeoutMs: number;
  readonly artifactTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  /** The MLflow user this client signs in as (none: anonymous or a bearer token). */
  readonly username: string | undefined;
  /** How this client authenticates: a bearer token, Basic credentials, or not at all. */
  readonly authMode: 'bearer' | 'basic' | 'anonymous';
  private readonly headers: Record<string, string>;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly ambientSignal: (() => AbortSignal | undefined) | undefined;

  constructor(opts: MlflowClientOptions) {
    this.trackingUri = normalizeTrackingUri(opts.trackingUri);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    if (!(this.retry.attempts >= 1)) throw invalidInput(`retry.attempts must be >= 1, got ${this.retry.attempts}`);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.artifactTimeoutMs = opts.artifactTimeoutMs ?? DEFAULT_ARTIFACT_TIMEOUT_MS;
    const caBundle = opts.caBundlePath ?? defaultMlflowCaBundle();
    this.fetchImpl =
      opts.fetch ?? (caBundle ? fetchTrusting(readCaBundle(caBundle)) : (input, init) => fetch(input, init));
    // An explicit option decides; else a token (MLFLOW_TRACKING_TOKEN), else Basic credentials (credentials.ts).
    const explicit = opts.token !== undefined || opts.credentials !== undefined;
    const token = explicit ? (opts.token ?? undefined) : defaultMlflowToken();
    const credentials =
      token !== undefined
        ? undefined
        : explicit
          ? (opts.credentials ?? undefined)
          : defaultMlflowCredentials(this.trackingUri);
    this.username = credentials?.username;
    this.authMode = token !== undefined ? 'bearer' : credentials ? 'basic' : 'anonymous';
    this.headers = {
      'user-agent': 'mlo-mlflow-client',
      ...(token !== undefined
        ? { authorization: bearerAuthorization(token) }
        : credentials
          ? { authorization: basicAuthorization(credentials) }
          : {}),
      ...opts.headers,
    };
    this.onRetry = opts.onRetry;
    this.ambientSignal = opts.ambientSignal;
  }

  /**
   * A client of the configured server (trusting `cfg.mlflow.caBundlePath` when set), with the
   * bearer token `cfg.mlflow.token` when set, else signed in as `cfg.mlflow.credentials` when set
   * (which then also become this process's credentials for that server; see credentials.ts).
   */
  static fromConfig(cfg: Config, overrides: Omit<MlflowClientOptions, 'trackingUri'> = {}): MlflowClient {
    if (cfg.mlflow.credentials) useMlflowCredentials(cfg.mlflow.trackingUri, cfg.mlflow.credentials);
    const ca = overrides.caBundlePath ?? cfg.mlflow.caBundlePath;
    const common = { ...overrides, trackingUri: cfg.mlflow.trackingUri, ...(ca ? { caBundlePath: ca } : {}) };
    if (overrides.token !== undefined || overrides.credentials !== undefined) return new MlflowClient(common);
    if (cfg.mlflow.token) return new MlflowClient({ ...common, token: cfg.mlflow.token });
    if (cfg.mlflow.credentials) return new MlflowClient({ ...common, credentials: cfg.mlflow.credentials });
    return new MlflowClient(common);
  }

  // ----- experiments ---------------------------------------------------------------------------

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
      if (!exp) {
        const detail = `experiment "${name}" already exists but cannot be read`;
        throw this.protocolError('GET', '/experiments/get-by-name', detail);
      }
    }
    if (exp.lifecycleStage === 'deleted') {
      throw new MlflowInvalidInputError(
        `MLflow experiment "${name}" (id ${exp.experimentId}) is deleted; restore it in the MLflow UI ` +
          'or purge it with `mlflow gc`, or use another name',
        { method: 'GET', endpoint: `${API}/experiments/get-by-name` },
      );
    }
    return exp;
  }

  /** The experiment with this name (active or deleted), or undefined. */
  private async getExperimentByName(name: string, opts: CallOptions): Promise<Experiment | undefined> {
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

  private async getExperiment(experimentId: string, opts: CallOptions): Promise<Experiment> {
    const r = await this.get<{ experiment?: WireExperiment }>(
      '/experiments/get',
      { experiment_id: experimentId },
      opts,
    );
    return fromWireExperiment(r.experiment ?? {});
  }

  /** Creates an experiment and returns its id; an existing name is an MlflowAlreadyExistsError. */
  private async createExperiment(
    name: string,
    init: { artifactLocation?: string; tags?: Record<string, string> },
    opts: CallOptions,
  ): Promise<string> {
    const r = await this.post<{ experiment_id?: string }>(
      '/experiments/create',
      { name, artifact_location: init.artifactLocation, tags: toWireTags(init.tags) },
      opts,
    );
    if (!r.experiment_id) throw this.protocolError('POST', '/experiments/create', 'no experiment_id in the answer');
    return r.experiment_id;
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

  /** Ends a run: FINISHED by default, end time now; returns the updated info. */
  async endRun(
    runId: string,
    status: Exclude<RunStatus, 'RUNNING' | 'SCHEDULED'> = 'FINISHED',
    opts: CallOptions = {},
  ): Promise<RunInfo> {
    const r = await this.post<{ run_info?: WireRunInfo }>(
      '/runs/update',
      { run_id: runId, status, end_time: Math.trunc(Date.now()) },
      opts,
    );
    return fromWireRun({ info: r.run_info ?? {} }).info;
  }

  /** One page of runs. `filter` is MLflow's search syntax, e.g. `params.lr = '0.1' and tags.k = 'v'`. */
  async searchRuns(query: RunQuery, opts: CallOptions = {}): Promise<Page<Run>> {
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
    query: Omit<RunQuery, 'maxResults' | 'pageToken'> & { pageSize?: number },
    opts: CallOptions = {},
  ): Promise<Run[]> {
    return this.collect((pageToken) =>
      this.searchRuns({ ...query, maxResults: query.pageSize ?? 1000, pageToken }, opts),
    );
  }

  async setRunTag(runId: string, key: string, value: string, opts: CallOptions = {}): Promise<void> {
    await this.post('/runs/set-tag', { run_id: runId, key, value }, opts);
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
      (batch.metrics ?? []).map((m) => toWireMetric(m, now)),
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
    const path = artifactFilePath(artifactUri, relPath);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    await this.send(
      { method: 'PUT', path, bytes, timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs },
      opts.signal,
      async (res) => {
        await res.arrayBuffer();
      },
    );
  }

  /** Downloads `<artifactUri>/<relPath>`; a missing file is an MlflowNotFoundError. */
  async downloadArtifact(artifactUri: string, relPath: string, opts: CallOptions = {}): Promise<Uint8Array> {
    const path = artifactFilePath(artifactUri, relPath);
    return this.send(
      { method: 'GET', path, classify: classifyArtifactError, timeoutMs: opts.timeoutMs ?? this.artifactTimeoutMs },
      opts.signal,
      async (res) => new Uint8Array(await res.arrayBuffer()),
    );
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
    const dir = segs.join('/');
    return (r.files ?? []).map((f) => fromWireFileInfo(f, dir));
  }

  // ----- registered models ---------------------------------------------------------------------

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

  /**
   * A call about one of a registered model's versions or aliases. With authentication, MLflow
   * answers 403, not 404, when the registered model does not exist (it tells no one which names
   * exist); the model's own GET still answers 404, so a 403 is checked against it and becomes
   * an MlflowNotFoundError when the model is missing.
   */
  private async ofModel<T>(name: string, opts: CallOptions, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof MlflowError) || err.status !== 403) throw err;
      try {
        await this.getRegisteredModel(name, opts);
      } catch (check) {
        if (isNotFound(check))
          throw new MlflowNotFoundError(
            `MLflow ${err.method} ${err.endpoint}: the registered model ${name} does not exist ` +
              '(MLflow with authentication answers 403 for it)',
            { method: err.method, endpoint: err.endpoint, status: 404, serverMessage: err.serverMessage, cause: err },
          );
      }
      throw err;
    }
  }

  /** The registered model with its tags; one that does not exist is an MlflowNotFoundError. */
  async getRegisteredModel(name: string, opts: CallOptions = {}): Promise<RegisteredModel> {
    const r = await this.get<{ registered_model?: WireRegisteredModel }>('/registered-models/get', { name }, opts);
    return fromWireRegisteredModel(r.registered_model ?? {});
  }

  /**
   * One page of registered models (with their tags and aliases). MLflow filters: `name`
   * (`=`, `LIKE`, `ILIKE`) and `tags.<key>`; at most 1000 per page.
   */
  async searchRegisteredModels(
    query: { filter?: string; maxResults?: number; pageToken?: string } = {},
    opts: CallOptions = {},
  ): Promise<Page<RegisteredModel>> {
    const r = await this.get<{ registered_models?: WireRegisteredModel[]; next_page_token?: string }>(
      '/registered-models/search',
      { filter: query.filter, max_results: query.maxResults ?? 1000, page_token: query.pageToken },
      opts,
    );
    return {
      items: (r.registered_models ?? []).map(fromWireRegisteredModel),
      nextPageToken: r.next_page_token || undefined,
    };
  }

  /** Deletes a registered model with all its versions and aliases (MLflow deletes, not archives). */
  async deleteRegisteredModel(name: string, opts: CallOptions = {}): Promise<void> {
    await this.call('DELETE', '/registered-models/delete', { name }, opts);
  }

  async setRegisteredModelTag(name: string, key: string, value: string, opts: CallOptions = {}): Promise<void> {
    await this.ofModel(name, opts, () => this.post('/registered-models/set-tag', { name, key, value }, opts));
  }

  /** Points `alias` at `version` (moving it if it pointed elsewhere). */
  async setAlias(name: string, alias: string, version: string | number, opts: CallOptions = {}): Promise<void> {
    await this.ofModel(name, opts, () =>
      this.post('/registered-models/alias', { name, alias, version: String(version) }, opts),
    );
  }

  /** Idempotent: MLflow answers 200 when the alias is not set. */
  async deleteAlias(name: string, alias: string, opts: CallOptions = {}): Promise<void> {
    await this.ofModel(name, opts, () => this.call('DELETE', '/registered-models/alias', { name, alias }, opts));
  }

  /**
   * The version `alias` points at, or undefined when the alias is not set. A registered model
   * that does not exist is an MlflowNotFoundError.
   */
  async getModelVersionByAlias(name: string, alias: string, opts: CallOptions = {}): Promise<ModelVersion | undefined> {
    try {
      const r = await this.ofModel(name, opts, () =>
        this.get<{ model_version?: WireModelVersion }>('/registered-models/alias', { name, alias }, opts),
      );
      return fromWireModelVersion(r.model_version ?? {});
    } catch (err) {
      if (isAliasNotSet(err)) return undefined;
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
    const r = await this.ofModel(name, opts, () =>
      this.get<{ model_version?: WireModelVersion }>('/model-versions/get', { name, version: String(version) }, opts),
    );
    return fromWireModelVersion(r.model_version ?? {});
  }

  /** Deletes one model version; one already gone is no error. */
  async deleteModelVersion(name: string, version: string | number, opts: CallOptions = {}): Promise<void> {
    try {
      await this.call('DELETE', '/model-versions/delete', { name, version: String(version) }, opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * One page of model versions. MLflow 3 filters: `name`, `version_number`, `run_id`,
   * `source_path` and `tags.<key>`, joined with `and`, e.g.
   * `name = 'fraud' and tags.\`mlo.snapshot\` = 'abc'` (see `quoteFilterValue`, `tagFilterKey`).
   * Results carry no aliases.
   */
  async searchModelVersions(query: ModelVersionQuery = {}, opts: CallOptions = {}): Promise<Page<ModelVersion>> {
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

  async setModelVersionTag(
    name: string,
    version: string | number,
    key: string,
    value: string,
    opts: CallOptions = {},
  ): Promise<void> {
    await this.post('/model-versions/set-tag', { name, version: String(version), key, value }, opts);
  }

  /** Deletes a tag of a model version; a tag (or version) already gone is no error. */
  async deleteModelVersionTag(
    name: string,
    version: string | number,
    key: string,
    opts: CallOptions = {},
  ): Promise<void> {
    try {
      await this.call('DELETE', '/model-versions/delete-tag', { name, version: String(version), key }, opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
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
    const waitTimeoutMs = opts.waitTimeoutMs ?? 300_000;
    const deadline = Date.now() + waitTimeoutMs;
    const interval = opts.pollIntervalMs ?? 1000;
    const init = { method: 'GET', endpoint: `${API}/model-versions/get` };
    for (;;) {
      const mv = await this.getModelVersion(name, version, opts);
      if (mv.status === 'READY') return mv;
      const which = `MLflow model version ${name}/${mv.version}`;
      if (mv.status === 'FAILED_REGISTRATION') {
        throw new MlflowError(`${which} failed registration: ${mv.statusMessage || '(no status message)'}`, {
          ...init,
          errorCode: 'FAILED_REGISTRATION',
          serverMessage: mv.statusMessage,
        });
      }
      if (Date.now() + interval > deadline) {
        throw new MlflowError(`${which} is still ${mv.status} after ${waitTimeoutMs} ms`, {
          ...init,
          errorCode: 'DEADLINE_EXCEEDED',
        });
      }
      await sleep(interval, opts.signal);
    }
  }

  // ----- plumbing ------------------------------------------------------------------------------

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
    signal = anySignal(signal, this.ambientSignal?.());
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortReason(signal);
      const outcome = await this.attempt(url, spec, signal, read);
      if (outcome.ok) return outcome.value;
      const { failure } = outcome;
      if (attempt >= this.retry.attempts) throw this.unavailable(spec, attempt, failure);
      const delayMs = this.backoffMs(attempt, failure.retryAfterMs);
      this.onRetry?.({ method: spec.method, endpoint: spec.path, attempt, delayMs, error: failure.error });
      await sleep(delayMs, signal);
    }
  }

  /** One HTTP attempt: the answer as `read` reads it, or a retryable failure. Final failures throw. */
  private async attempt<T>(
    url: string,
    spec: RequestSpec,
    signal: AbortSignal | undefined,
    read: (res: Response, signal: AbortSignal) => Promise<T>,
  ): Promise<Attempt<T>> {
    const timeout = AbortSignal.timeout(spec.timeoutMs);
    const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response | undefined;
    try {
      res = await this.fetchImpl(url, this.requestInit(spec, attemptSignal));
      if (res.ok) return { ok: true, value: await read(res, attemptSignal) };
      const failure = await this.failureFrom(spec, res);
      if (!failure.retryable) throw failure.error;
      return { ok: false, failure };
    } catch (err) {
      return { ok: false, failure: thrownFailure(spec, err, { signal, timeout, res }) };
    }
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

  private requestInit(spec: RequestSpec, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers };
    const init: RequestInit = { method: spec.method, headers, signal };
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(spec.json);
    } else if (spec.bytes) {
      headers['content-type'] = 'application/octet-stream';
      init.body = spec.bytes;
    }
    return init;
  }

  /** Exponential backoff with jitter (50-100 %), at least a Retry-After, at most `maxDelayMs`. */
  private backoffMs(attempt: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.round(Math.min(this.retry.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0)));
  }

  /** The error of a call whose retries ran out, carrying the last failure's details. */
  private unavailable(spec: RequestSpec, attempts: number, last: Failure): MlflowUnavailableError {
    const e = last.error;
    return new MlflowUnavailableError(
      `MLflow is unavailable at ${this.trackingUri}: ${spec.method} ${spec.path} failed ${attempts} time(s), ` +
        `last with ${last.detail}. ` +
        'Start the dev stack with `npm run stack -- up`, or point MLO_MLFLOW_TRACKING_URI at a running MLflow.',
      {
        method: spec.method,
        endpoint: spec.path,
        status: e.status,
        errorCode: e.errorCode,
        serverMessage: e.serverMessage,
        cause: e.cause ?? e,
      },
      attempts,
    );
  }

  /** What to do about an answer, for the error message. */
  private hintFor(status: number, errorCode: string | undefined): string {
    if (status === 404 && errorCode === undefined)
      return ' (no such endpoint: is the tracking URI right, and is it an MLflow 2.x/3.x server?)';
    if (status === 401)
      return this.username
        ? ` (MLflow refused the password of ${this.username}; check MLFLOW_TRACKING_PASSWORD, or MLO_MLFLOW_REGISTRY_PASSWORD for the workers)`
        : ' (this MLflow server requires a user: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)';
    if (status === 403)
      return (
        ` (${this.username ?? 'this user'} may not do this: people have READ; only the registry's account, ` +
        "mlo-registry, changes mlo's experiments and registered models. MLflow with authentication also answers " +
        '403 for a run or model that does not exist)'
      );
    return '';
  }

  /** The failure an error answer (not 2xx) stands for: 5xx and 429 retry, the rest is final. */
  private async failureFrom(spec: RequestSpec, res: Response): Promise<Failure> {
    const text = await res.text();
    const { errorCode, serverMessage } = parseErrorBody(text);
    const init: MlflowErrorInit = {
      method: spec.method,
      endpoint: spec.path,
      status: res.status,
      errorCode,
      serverMessage,
    };
    const snippet = serverMessage ?? (htmlToText(text).slice(0, 200) || res.statusText);
    const hint = this.hintFor(res.status, errorCode);
    const status = `HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}`;
    const message = `MLflow ${spec.method} ${spec.path} failed (${status}): ${snippet}${hint}`;
    const detail = `${status}: ${snippet}`;
    const override = spec.classify?.(res.status, errorCode, serverMessage ?? text);
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

function normalizeTrackingUri(uri: string): string {
  let u: URL | undefined;
  try {
    u = new URL(uri);
  } catch {
    // reported below
  }
  if (u?.protocol !== 'http:' && u?.protocol !== 'https:') {
    throw invalidInput(`MLflow tracking URI must be an http(s) URL, got "${uri}"`);
  }
  return uri.replace(/\/+$/, '');
}

/**
 * The retryable failure a thrown error stands for (a connection error, a timeout, a connection
 * dropped mid-answer). Rethrows what is final: an abort by the caller (as the signal's reason),
 * an MlflowError, and errors that cannot heal.
 */
function thrownFailure(
  spec: RequestSpec,
  err: unknown,
  at: { signal: AbortSignal | undefined; timeout: AbortSignal; res: Response | undefined },
): Failure {
  if (at.signal?.aborted) throw abortReason(at.signal);
  if (err instanceof MlflowError) throw err;
  const timedOut = at.timeout.aborted || errName(err) === 'TimeoutError';
  if (!timedOut && !isRetryable(err)) {
    // fetch itself failed for good (a bad port, a TLS certificate, an unknown host)
    if (at.res === undefined) {
      throw new MlflowError(`MLflow ${spec.method} ${spec.path} failed: ${describe(err)}`, {
        method: spec.method,
        endpoint: spec.path,
        cause: err,
      });
    }
    throw err;
  }
  const detail = timedOut ? `no answer within ${spec.timeoutMs} ms` : describe(err);
  return {
    retryable: true,
    detail,
    error: new MlflowError(`MLflow ${spec.method} ${spec.path} failed: ${detail}`, {
      method: spec.method,
      endpoint: spec.path,
      status: at.res?.status,
      cause: err,
    }),
  };
}

/** MLflow's `error_code` and `message` from an error answer's body, when it is MLflow's JSON. */
function parseErrorBody(text: string): { errorCode: string | undefined; serverMessage: string | undefined } {
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
  return { errorCode, serverMessage };
}

function htmlToText(text: string): string {
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** MLflow 3.x answers an unset alias with 400 INVALID_PARAMETER_VALUE "Registered model alias <a> not found." */
function isAliasNotSet(err: unknown): boolean {
  return (
    err instanceof MlflowError &&
    (err.kind === 'invalid_input' || err.kind === 'not_found') &&
    /\balias\b.*\bnot found\b/i.test(err.serverMessage ?? '')
  );
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

/** Either signal, or none. */
function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  return a && b ? AbortSignal.any([a, b]) : (a ?? b);
}

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
