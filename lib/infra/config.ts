/**
 * The one place mlo reads its environment. Every part of the system is addressed by
 * configuration whose defaults point at the local dev stack (`npm run stack -- up`),
 * so the same code runs against a Temporal cluster or Cloud, AWS S3 and a shared MLflow.
 *
 * Validation happens once, at the edge, and reports every bad value at once.
 */
import path from 'node:path';
import { z } from 'zod';
import { DURATION_HELP, parseDuration } from '../core/duration';
import { ConfigError } from '../core/errors';
import { resolveTemporalConfig, type TemporalConnectionConfig, type TemporalFlags } from './temporal-config';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** The workflow bundle's entry point (Temporal bundles it for the deterministic sandbox). */
export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');
/** Workflow interceptor modules every workflow worker and bundle registers (the verified identity of decisions). */
export const WORKFLOW_INTERCEPTOR_MODULES = [path.join(PROJECT_ROOT, 'workflows', 'interceptors.ts')];

const port = (name: string, dflt: number) =>
  z.coerce
    .number({ error: `${name} must be a TCP port number` })
    .int(`${name} must be an integer`)
    .min(1, `${name} must be between 1 and 65535`)
    .max(65535, `${name} must be between 1 and 65535`)
    .default(dflt);

const url = (name: string) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${name} must be an http(s) URL, e.g. http://127.0.0.1:5050`);

const queueName = (name: string) =>
  z
    .string()
    .min(1, `${name} must not be empty`)
    .regex(/^[A-Za-z0-9._-]+$/, `${name} may hold only letters, digits, '.', '_' and '-'`);

const slotCount = (name: string, dflt: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number of slots` })
    .int(`${name} must be a whole number of slots`)
    .min(1, `${name} must be at least 1`)
    .max(256, `${name} must be at most 256`)
    .default(dflt);

/** Default bound on the raw bytes one feature partition reads (its day, lookback and label days). */
export const DEFAULT_PARTITION_MAX_BYTES = 2 * 1024 ** 3;

const duration = (name: string, dflt: string) =>
  z
    .string()
    .default(dflt)
    .refine((v) => v === '0s' || parseDuration(v) !== undefined, `${name} must be ${DURATION_HELP}, or 0s`);

/**
 * Slots of the CPU pool by kind of work, each on its own task queue (so each kind's limit is its
 * worker's slot count): defaults for a 2-core host.
 */
export const SLOT_DEFAULTS = { cpu: 4, features: 2, evaluation: 1, cpuTraining: 1 } as const;

/** Settings of the local dev stack (ports, data directory). */
const stackSchema = z.object({
  MLO_STACK_DIR: z.string().min(1).default(path.join(PROJECT_ROOT, '.stack')),
  MLO_TOOLS_CACHE: z.string().min(1).optional(),
  MLO_TEMPORAL_PORT: port('MLO_TEMPORAL_PORT', 7233),
  MLO_TEMPORAL_UI_PORT: port('MLO_TEMPORAL_UI_PORT', 8233),
  MLO_TEMPORAL_HTTP_PORT: port('MLO_TEMPORAL_HTTP_PORT', 7243),
  MLO_TEMPORAL_METRICS_PORT: port('MLO_TEMPORAL_METRICS_PORT', 7244),
  MLO_S3_PORT: port('MLO_S3_PORT', 7070),
  MLO_MLFLOW_PORT: port('MLO_MLFLOW_PORT', 5050),
  MLO_OIDC_PORT: port('MLO_OIDC_PORT', 7380),
});

export type StackConfig = {
  dir: string;
  toolsCache: string;
  temporalPort: number;
  temporalUiPort: number;
  temporalHttpPort: number;
  temporalMetricsPort: number;
  s3Port: number;
  mlflowPort: number;
  /** the dev OIDC provider (`MLO_OIDC_PORT`) */
  oidcPort: number;
};

/**
 * S3: a custom endpoint (versitygw, MinIO, a VPC endpoint…) or AWS's own (`MLO_S3_ENDPOINT=aws`);
 * static keys when MLO_S3_ACCESS_KEY_ID/MLO_S3_SECRET_ACCESS_KEY are set (or the dev stack's when
 * the endpoint is the dev stack's), else the AWS SDK's default credential chain (environment,
 * profiles and SSO, web identity/IRSA, container and instance roles).
 */
export type S3Config = {
  /** undefined: AWS S3, the SDK resolving the regional endpoint */
  endpoint: string | undefined;
  /** undefined: the SDK's region chain (AWS_REGION, the profile's region) */
  region: string | undefined;
  bucket: string;
  /** Static keys; both undefined: the AWS SDK's default credential chain */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  forcePathStyle: boolean;
  /** Where the keys come from, for messages (default: static when keys are set, else the default chain). */
  credentialSource?: 'static' | 'dev stack' | 'default chain';
};

/** The dev stack's S3 keys (versitygw's root account), used only against the dev stack's endpoint. */
export const DEV_S3_CREDENTIALS = { accessKeyId: 'mlo-dev', secretAccessKey: 'mlo-dev-secret' } as const;

/** Where S3 is, for messages: the endpoint or AWS S3 (and its region). */
export function s3Where(s3: Pick<S3Config, 'endpoint' | 'region'>): string {
  return s3.endpoint ?? `AWS S3${s3.region ? ` (${s3.region})` : ''}`;
}

/** Basic-auth credentials of an MLflow server run with `--app-name basic-auth`. */
export type MlflowCredentials = { username: string; password: string };

export type Config = {
  /**
   * The Temporal connection (lib/infra/temporal-config.ts): flags, then MLO_TEMPORAL_* and TEMPORAL_*
   * variables, then the Temporal profile, then the dev stack. TLS is on unless the address is loopback
   * (tokens travel with every call) or a setting turns it off.
   */
  temporal: TemporalConnectionConfig;
  s3: S3Config;
  mlflow: {
    trackingUri: string;
    uiUrl: string;
    /** MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (MLflow's own variables); none: anonymous */
    credentials?: MlflowCredentials;
    /** MLFLOW_TRACKING_TOKEN (MLflow's own variable): a bearer token sent instead of Basic credentials */
    token?: string;
    /** MLFLOW_TRACKING_SERVER_CERT_PATH (MLflow's) or MLO_MLFLOW_CA_BUNDLE: a PEM bundle of CAs the server's certificate chains to */
    caBundlePath?: string;
  };
  /**
   * `cpu` serves registry calls, audit records, specs and whatever older runs queued there;
   * `features`, `evaluation` (and shadow scoring) and `cpuTraining` are the CPU pool's kinds of
   * heavy work, each on its own queue (default `<cpu>-features`, `<cpu>-evaluation`, `<cpu>-training`).
   */
  taskQueues: {
    orchestrator: string;
    cpu: string;
    gpu: string;
    features: string;
    evaluation: string;
    cpuTraining: string;
  };
  /** Activity slots of the CPU pool's workers, one per queue above (MLO_SLOTS_*). */
  slots: { cpu: number; features: number; evaluation: number; cpuTraining: number };
  /** Raw bytes one feature partition may read (MLO_PARTITION_MAX_BYTES); a larger one fails as bad input. */
  partitionMaxBytes: number;
  /** What a worker does on SIGTERM/SIGINT: in-flight activities get `graceMs` to finish, then are cancelled; it exits by `forceMs`. */
  shutdown: { graceMs: number; forceMs: number };
  gpu: { count: number | undefined };
  stack: StackConfig;
};

type Env = Record<string, string | undefined>;

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const key = i.path.join('.') || '(environment)';
    return `${key}: ${i.message}`;
  });
}

export function loadStackConfig(env: Env = process.env): StackConfig {
  const parsed = stackSchema.safeParse(blankToUndefined(env));
  if (!parsed.success)
    throw new ConfigError('Invalid dev stack settings in the environment', formatIssues(parsed.error));
  const s = parsed.data;
  return {
    dir: path.resolve(s.MLO_STACK_DIR),
    toolsCache:
      s.MLO_TOOLS_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(env.HOME ?? '/tmp', '.cache'), 'mlo', 'tools'),
    temporalPort: s.MLO_TEMPORAL_PORT,
    temporalUiPort: s.MLO_TEMPORAL_UI_PORT,
    temporalHttpPort: s.MLO_TEMPORAL_HTTP_PORT,
    temporalMetricsPort: s.MLO_TEMPORAL_METRICS_PORT,
    s3Port: s.MLO_S3_PORT,
    mlflowPort: s.MLO_MLFLOW_PORT,
    oidcPort: s.MLO_OIDC_PORT,
  };
}

function blankToUndefined(env: Env): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === '' ? undefined : v;
  return out;
}

/** The schema of everything but the stack settings; defaults follow the stack's ports. */
function configSchema(sp: StackConfig) {
  return z
    .object({
      MLO_TEMPORAL_UI_URL: url('MLO_TEMPORAL_UI_URL').optional(),
      MLO_S3_ENDPOINT: z
        .union([z.literal('aws'), url('MLO_S3_ENDPOINT')], {
          error: 'MLO_S3_ENDPOINT must be an http(s) URL, e.g. http://127.0.0.1:7070, or "aws" for AWS S3',
        })
        .optional(),
      MLO_S3_REGION: z.string().min(1).optional(),
      MLO_S3_BUCKET: z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
          'MLO_S3_BUCKET must be a valid S3 bucket name (3-63 lowercase letters, digits, "." or "-")',
        )
        .default('mlo'),
      MLO_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
      MLO_S3_SECRET_ACCESS_KEY: z.string().min(8, 'MLO_S3_SECRET_ACCESS_KEY must be at least 8 characters').optional(),
      MLO_S3_SESSION_TOKEN: z.string().min(1).optional(),
      MLO_S3_FORCE_PATH_STYLE: z
        .enum(['true', 'false'], { error: 'MLO_S3_FORCE_PATH_STYLE must be "true" or "false"' })
        .optional(),
      MLO_MLFLOW_TRACKING_URI: url('MLO_MLFLOW_TRACKING_URI').default(`http://127.0.0.1:${sp.mlflowPort}`),
      MLO_MLFLOW_UI_URL: url('MLO_MLFLOW_UI_URL').optional(),
      MLFLOW_TRACKING_USERNAME: z.string().min(1).optional(),
      MLFLOW_TRACKING_PASSWORD: z.string().min(1).optional(),
      MLFLOW_TRACKING_TOKEN: z.string().min(1).optional(),
      MLFLOW_TRACKING_SERVER_CERT_PATH: z.string().min(1).optional(),
      MLO_MLFLOW_CA_BUNDLE: z.string().min(1).optional(),
      AWS_REGION: z.string().min(1).optional(),
      AWS_DEFAULT_REGION: z.string().min(1).optional(),
      MLO_QUEUE_ORCHESTRATOR: queueName('MLO_QUEUE_ORCHESTRATOR').default('mlo-orchestrator'),
      MLO_QUEUE_CPU: queueName('MLO_QUEUE_CPU').default('mlo-cpu'),
      MLO_QUEUE_GPU: queueName('MLO_QUEUE_GPU').default('mlo-gpu'),
      MLO_QUEUE_FEATURES: queueName('MLO_QUEUE_FEATURES').optional(),
      MLO_QUEUE_EVALUATION: queueName('MLO_QUEUE_EVALUATION').optional(),
      MLO_QUEUE_CPU_TRAINING: queueName('MLO_QUEUE_CPU_TRAINING').optional(),
      MLO_SLOTS_CPU: slotCount('MLO_SLOTS_CPU', SLOT_DEFAULTS.cpu),
      MLO_SLOTS_FEATURES: slotCount('MLO_SLOTS_FEATURES', SLOT_DEFAULTS.features),
      MLO_SLOTS_EVALUATION: slotCount('MLO_SLOTS_EVALUATION', SLOT_DEFAULTS.evaluation),
      MLO_SLOTS_CPU_TRAINING: slotCount('MLO_SLOTS_CPU_TRAINING', SLOT_DEFAULTS.cpuTraining),
      MLO_PARTITION_MAX_BYTES: z.coerce
        .number({ error: 'MLO_PARTITION_MAX_BYTES must be a number of bytes' })
        .int('MLO_PARTITION_MAX_BYTES must be a whole number of bytes')
        .min(1024 ** 2, 'MLO_PARTITION_MAX_BYTES must be at least 1048576 (1 MiB)')
        .default(DEFAULT_PARTITION_MAX_BYTES),
      MLO_WORKER_SHUTDOWN_GRACE: duration('MLO_WORKER_SHUTDOWN_GRACE', '20s'),
      MLO_WORKER_SHUTDOWN_FORCE: duration('MLO_WORKER_SHUTDOWN_FORCE', '30s'),
      MLO_GPU_COUNT: z.coerce
        .number({ error: 'MLO_GPU_COUNT must be a whole number of GPUs' })
        .int('MLO_GPU_COUNT must be a whole number')
        .min(0, 'MLO_GPU_COUNT must be 0 or more')
        .optional(),
    })
    .refine((c) => (c.MLFLOW_TRACKING_USERNAME === undefined) === (c.MLFLOW_TRACKING_PASSWORD === undefined), {
      path: ['MLFLOW_TRACKING_USERNAME'],
      message:
        'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD go together: set both (an MLflow user and its password) or neither',
    })
    .refine((c) => (c.MLO_S3_ACCESS_KEY_ID === undefined) === (c.MLO_S3_SECRET_ACCESS_KEY === undefined), {
      path: ['MLO_S3_ACCESS_KEY_ID'],
      message:
        'MLO_S3_ACCESS_KEY_ID and MLO_S3_SECRET_ACCESS_KEY go together: set both (static keys) or neither ' +
        "(the AWS SDK's default credential chain: AWS_PROFILE, SSO, web identity, instance roles)",
    })
    .refine(
      (c) =>
        !(c.MLFLOW_TRACKING_SERVER_CERT_PATH && c.MLO_MLFLOW_CA_BUNDLE) ||
        c.MLFLOW_TRACKING_SERVER_CERT_PATH === c.MLO_MLFLOW_CA_BUNDLE,
      {
        path: ['MLO_MLFLOW_CA_BUNDLE'],
        message: 'MLO_MLFLOW_CA_BUNDLE and MLFLOW_TRACKING_SERVER_CERT_PATH name different files: set one of them',
      },
    )
    .refine((c) => durationMs(c.MLO_WORKER_SHUTDOWN_FORCE) > durationMs(c.MLO_WORKER_SHUTDOWN_GRACE), {
      path: ['MLO_WORKER_SHUTDOWN_FORCE'],
      message: 'MLO_WORKER_SHUTDOWN_FORCE must be longer than MLO_WORKER_SHUTDOWN_GRACE (the grace comes first)',
    });
}

function durationMs(text: string): number {
  return text === '0s' ? 0 : (parseDuration(text) ?? 0);
}

/** The validated variables as the typed configuration (URLs without a trailing "/"). */
function configOf(
  c: z.infer<ReturnType<typeof configSchema>>,
  stack: StackConfig,
  temporal: TemporalConnectionConfig,
): Config {
  const caBundle = c.MLO_MLFLOW_CA_BUNDLE ?? c.MLFLOW_TRACKING_SERVER_CERT_PATH;
  return {
    temporal,
    s3: s3ConfigOf(c, stack),
    mlflow: {
      trackingUri: c.MLO_MLFLOW_TRACKING_URI.replace(/\/$/, ''),
      uiUrl: (c.MLO_MLFLOW_UI_URL ?? c.MLO_MLFLOW_TRACKING_URI).replace(/\/$/, ''),
      ...(c.MLFLOW_TRACKING_USERNAME && c.MLFLOW_TRACKING_PASSWORD
        ? { credentials: { username: c.MLFLOW_TRACKING_USERNAME, password: c.MLFLOW_TRACKING_PASSWORD } }
        : {}),
      ...(c.MLFLOW_TRACKING_TOKEN ? { token: c.MLFLOW_TRACKING_TOKEN } : {}),
      ...(caBundle ? { caBundlePath: path.resolve(caBundle) } : {}),
    },
    taskQueues: {
      orchestrator: c.MLO_QUEUE_ORCHESTRATOR,
      cpu: c.MLO_QUEUE_CPU,
      gpu: c.MLO_QUEUE_GPU,
      features: c.MLO_QUEUE_FEATURES ?? `${c.MLO_QUEUE_CPU}-features`,
      evaluation: c.MLO_QUEUE_EVALUATION ?? `${c.MLO_QUEUE_CPU}-evaluation`,
      cpuTraining: c.MLO_QUEUE_CPU_TRAINING ?? `${c.MLO_QUEUE_CPU}-training`,
    },
    slots: {
      cpu: c.MLO_SLOTS_CPU,
      features: c.MLO_SLOTS_FEATURES,
      evaluation: c.MLO_SLOTS_EVALUATION,
      cpuTraining: c.MLO_SLOTS_CPU_TRAINING,
    },
    partitionMaxBytes: c.MLO_PARTITION_MAX_BYTES,
    shutdown: { graceMs: durationMs(c.MLO_WORKER_SHUTDOWN_GRACE), forceMs: durationMs(c.MLO_WORKER_SHUTDOWN_FORCE) },
    gpu: { count: c.MLO_GPU_COUNT },
    stack,
  };
}

/**
 * S3 by layer: MLO_S3_* variables, then the AWS SDK's own chains (region, credentials), then the
 * dev stack (its endpoint and, only against that endpoint, its keys).
 */
function s3ConfigOf(c: z.infer<ReturnType<typeof configSchema>>, stack: StackConfig): S3Config {
  const devEndpoint = `http://127.0.0.1:${stack.s3Port}`;
  const endpoint = c.MLO_S3_ENDPOINT === 'aws' ? undefined : (c.MLO_S3_ENDPOINT ?? devEndpoint).replace(/\/$/, '');
  const isDevStack = c.MLO_S3_ENDPOINT === undefined;
  const region =
    c.MLO_S3_REGION ?? (endpoint === undefined ? undefined : (c.AWS_REGION ?? c.AWS_DEFAULT_REGION ?? 'us-east-1'));
  let credentials: Pick<S3Config, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>;
  let credentialSource: S3Config['credentialSource'];
  if (c.MLO_S3_ACCESS_KEY_ID && c.MLO_S3_SECRET_ACCESS_KEY) {
    credentials = {
      accessKeyId: c.MLO_S3_ACCESS_KEY_ID,
      secretAccessKey: c.MLO_S3_SECRET_ACCESS_KEY,
      ...(c.MLO_S3_SESSION_TOKEN ? { sessionToken: c.MLO_S3_SESSION_TOKEN } : {}),
    };
    credentialSource = 'static';
  } else if (isDevStack) {
    credentials = { ...DEV_S3_CREDENTIALS };
    credentialSource = 'dev stack';
  } else {
    credentials = {};
    credentialSource = 'default chain';
  }
  return {
    endpoint,
    region,
    bucket: c.MLO_S3_BUCKET,
    ...credentials,
    credentialSource,
    // Custom endpoints (versitygw, MinIO) want path-style; AWS S3 virtual-hosted.
    forcePathStyle: c.MLO_S3_FORCE_PATH_STYLE ? c.MLO_S3_FORCE_PATH_STYLE === 'true' : endpoint !== undefined,
  };
}

/**
 * Reads and validates the whole configuration. Throws a ConfigError listing every
 * problem (variable, value and what is expected), never just the first.
 */
export function loadConfig(env: Env = process.env, flags?: TemporalFlags): Config {
  const e = blankToUndefined(env);
  const errors: string[] = [];
  let stack: StackConfig | undefined;
  try {
    stack = loadStackConfig(e);
  } catch (err) {
    if (err instanceof ConfigError) errors.push(...err.problems);
    else throw err;
  }
  const sp = stack ?? loadStackConfig({});
  const parsed = configSchema(sp).safeParse(e);
  if (!parsed.success) errors.push(...formatIssues(parsed.error));
  const temporal = resolveTemporalConfig(
    { ...e, MLO_TEMPORAL_UI_URL: parsed.success ? parsed.data.MLO_TEMPORAL_UI_URL : undefined },
    sp,
    errors,
    flags,
  );
  if (errors.length > 0 || !parsed.success || !stack)
    throw new ConfigError('Invalid mlo configuration in the environment', errors);
  return configOf(parsed.data, stack, temporal);
}
