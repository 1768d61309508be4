/**
 * The environment of a trainer process: only what the trainer contract (trainers/README.md §3)
 * and its runtime need. Nothing else of the worker's environment reaches it, so MLflow
 * credentials, OIDC client secrets, Temporal tokens and any other secret of the worker stay
 * in the worker.
 */

/** Variables passed through from the worker by exact name: locale, paths, the runtime's own settings. */
const PASS_NAMES = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TMP',
  'TEMP',
  'VIRTUAL_ENV',
  'LD_LIBRARY_PATH',
  'CUDA_HOME',
  'CUDA_PATH',
  'NVIDIA_VISIBLE_DEVICES',
  'NVIDIA_DRIVER_CAPABILITIES',
  // Thread counts of the numeric libraries (fixed per machine by operators).
  'OMP_NUM_THREADS',
  'OMP_PROC_BIND',
  'OMP_PLACES',
  'OPENBLAS_NUM_THREADS',
  'MKL_NUM_THREADS',
  'NUMEXPR_NUM_THREADS',
  'VECLIB_MAXIMUM_THREADS',
  // Certificate bundles for HTTPS to the S3 API.
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'AWS_CA_BUNDLE',
  'REQUESTS_CA_BUNDLE',
]);

/**
 * Variables passed through by prefix: locale categories, the Python interpreter's settings, and
 * OpenTelemetry's (where the trainer's spans go; trainers/common/tracing.py).
 */
const PASS_PREFIXES = ['LC_', 'PYTHON', 'OTEL_'];

/** Never passed through, whatever the lists above say: names that hold credentials. */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|API_?KEY|PRIVATE|AUTH/i;

/**
 * Never passed through either: OTLP headers may carry an exporter's credentials (trainers export to
 * an endpoint that needs none, e.g. a collector on the host), and the worker's service name is not
 * the trainer's (`mlo-trainer`, or its own OTEL_RESOURCE_ATTRIBUTES).
 */
const WORKER_ONLY = /^OTEL_(EXPORTER_OTLP_(\w+_)?HEADERS|SERVICE_NAME)$/;

export function isPassedThrough(name: string): boolean {
  if (SECRET_NAME.test(name) || WORKER_ONLY.test(name)) return false;
  return PASS_NAMES.has(name) || PASS_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * The AWS SDK's credential-chain settings a trainer gets when the worker has no static S3 keys, so
 * boto3 resolves the same identity as the worker (profiles and SSO, web identity/IRSA, container
 * roles). Paths and names, not secrets: the token files stay where the platform put them.
 */
const AWS_CHAIN_NAMES = [
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_REGION',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_SDK_LOAD_CONFIG',
];

/** What the trainer contract gives every trainer (trainers/README.md §3). */
export type TrainerContractEnv = {
  /** endpoint undefined: AWS S3; keys undefined: the AWS default credential chain */
  s3: {
    endpoint?: string;
    bucket: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
    region?: string;
  };
  mlflowTrackingUri: string;
  mlflowRunId: string;
  /** The GPU the trainer may use, or '' for none. */
  cudaVisibleDevices: string;
  /** The W3C trace context of the activity's span, which the trainer's spans continue. */
  trace?: { TRACEPARENT?: string; TRACESTATE?: string };
};

/** An MLflow URI without user and password, should the worker's carry them. */
function withoutUserInfo(uri: string): string {
  try {
    const u = new URL(uri);
    if (!u.username && !u.password) return uri;
    u.username = '';
    u.password = '';
    const s = u.toString();
    return uri.endsWith('/') || !s.endsWith('/') ? s : s.slice(0, -1);
  } catch {
    return uri;
  }
}

/** The trainer's environment: the allowlisted part of the worker's, and the contract's variables. */
export function trainerEnv(worker: NodeJS.ProcessEnv, contract: TrainerContractEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(worker))
    if (value !== undefined && isPassedThrough(name)) env[name] = value;
  const s3 = contract.s3;
  const keys: NodeJS.ProcessEnv =
    s3.accessKeyId && s3.secretAccessKey
      ? {
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
          ...(s3.sessionToken ? { AWS_SESSION_TOKEN: s3.sessionToken } : {}),
        }
      : Object.fromEntries(AWS_CHAIN_NAMES.filter((n) => worker[n] !== undefined).map((n) => [n, worker[n]]));
  return {
    ...env,
    ...(contract.trace?.TRACEPARENT ? { TRACEPARENT: contract.trace.TRACEPARENT } : {}),
    ...(contract.trace?.TRACEPARENT && contract.trace.TRACESTATE ? { TRACESTATE: contract.trace.TRACESTATE } : {}),
    ...(s3.endpoint ? { MLO_S3_ENDPOINT: s3.endpoint } : {}),
    MLO_S3_BUCKET: s3.bucket,
    ...keys,
    ...(s3.region ? { AWS_DEFAULT_REGION: s3.region } : {}),
    ...(worker.AWS_EC2_METADATA_DISABLED ? { AWS_EC2_METADATA_DISABLED: worker.AWS_EC2_METADATA_DISABLED } : {}),
    MLFLOW_TRACKING_URI: withoutUserInfo(contract.mlflowTrackingUri),
    MLFLOW_RUN_ID: contract.mlflowRunId,
    CUDA_VISIBLE_DEVICES: contract.cudaVisibleDevices,
    PYTHONUNBUFFERED: '1',
  };
}
