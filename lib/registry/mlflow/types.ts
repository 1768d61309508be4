/**
 * The public types of the MLflow client (camelCase; the wire format's snake_case stays in
 * wire.ts), and the helpers that read tags and metrics as maps.
 */
import type { MlflowCredentials } from '../../infra/config';

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
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * The MLflow user to sign in as (HTTP Basic, `mlflow server --app-name basic-auth`); `null` for
   * none. Default: see credentials.ts (this process's credentials for the server, else
   * MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD).
   */
  credentials?: MlflowCredentials | null;
  /** A bearer token instead of Basic credentials; `null` for none. Default: MLFLOW_TRACKING_TOKEN (credentials.ts). */
  token?: string | null;
  /** A PEM bundle of the CAs the server's certificate chains to. Default: MLO_MLFLOW_CA_BUNDLE / MLFLOW_TRACKING_SERVER_CERT_PATH. */
  caBundlePath?: string;
  /** Called before each retry sleep (logging, heartbeats). */
  onRetry?: (event: RetryEvent) => void;
  /**
   * The signal of whatever the call runs in (e.g. the current Temporal activity's cancellation),
   * read at each call and honoured with the call's own `signal`: a cancelled activity stops its
   * MLflow calls and their retry sleeps at once.
   */
  ambientSignal?: () => AbortSignal | undefined;
};

/** The tags of a run, experiment, registered model or model version as a map; a later key wins. */
export function tagsOf(entity: { tags: Tag[] } | Run): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of 'data' in entity ? entity.data.tags : entity.tags) out[t.key] = t.value;
  return out;
}

/** The latest value of each metric of a run (what `runs/get` returns). */
export function metricsOf(run: Run): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of run.data.metrics) out[m.key] = m.value;
  return out;
}
