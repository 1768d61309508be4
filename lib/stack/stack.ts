/**
 * The local dev stack: an S3 API (versitygw over a directory), the dev OpenID Connect provider,
 * mlo's Temporal server (authentication on) and an MLflow server (basic auth), each a detached
 * process with a pid file under `<stack dir>/pids` and a log under `<stack dir>/logs`. `up` is
 * idempotent (a second one only checks health and provisioning), `down` stops only what `up`
 * started, `status` reports each part.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { DEV_S3_CREDENTIALS, loadConfig, PROJECT_ROOT, type Config, type StackConfig } from '../infra/config';
import { devStackProfileToml } from '../infra/temporal-config';
import { StackError } from '../core/errors';
import { createS3Client, ensureBucket } from '../infra/s3';
import { SEARCH_ATTRIBUTE_KEYS, searchAttributeFlag } from '../core/search-attributes';
import { MODELS_DIR } from '../spec/model-spec';
import { CLIENT_IDS, devClientSecret, SERVICE_CLIENTS } from '../identity/shared';
import { ensureMloServer, ensureVenv, ensureVersitygw, SERVER_BINARY, serverSourceHash, VENV_BIN } from './tools';
import { devPeople, provisionMlflow, writeBasicAuthIni } from './mlflow-auth';
import { MLFLOW_ADMIN_USERNAME, mlflowAdminPassword, mlflowFlaskSecretKey, registryMlflowCredentials } from './secrets';

export type PartName = 's3' | 'oidc' | 'temporal' | 'mlflow';
export const PARTS: PartName[] = ['s3', 'oidc', 'temporal', 'mlflow'];

type PidRecord = { pid: number; binary: string; startedAt: string; ports: number[] };

/** How to start a part; `match` is what its /proc cmdline holds (default: the command's file name). */
type Launch = { cmd: string; args: string[]; env: NodeJS.ProcessEnv; cwd?: string; match?: string };

type Part = {
  name: PartName;
  title: string;
  /** What the recorded program of a running part holds (see Launch.match): anything else is an older stack's. */
  program: string;
  /** Parts of phase 1 start first (in parallel), then those of phase 2. */
  phase: 1 | 2;
  ports: { port: number; variable: string; what: string }[];
  /** Builds or installs the tool and returns how to start it. */
  prepare(log: (l: string) => void): Promise<Launch>;
  healthy(): Promise<boolean>;
  /** Work to do once healthy (create the bucket, provision users, …), also when it was running already. */
  afterStart?(): Promise<void>;
  addresses: string[];
  startTimeoutMs: number;
};

type PartStatus = {
  name: PartName;
  title: string;
  state: 'running' | 'starting' | 'stopped' | 'stale-pid' | 'port-taken';
  pid?: number;
  detail?: string;
  addresses: string[];
};

export function stackPaths(stack: Pick<StackConfig, 'dir'>) {
  return {
    pids: path.join(stack.dir, 'pids'),
    logs: path.join(stack.dir, 'logs'),
    temporalDb: path.join(stack.dir, 'temporal', 'temporal.db'),
    s3Root: path.join(stack.dir, 's3', 'data'),
    s3Meta: path.join(stack.dir, 's3', 'meta'),
    mlflowDb: path.join(stack.dir, 'mlflow', 'mlflow.db'),
    mlflowAuthDb: path.join(stack.dir, 'mlflow', 'basic_auth.db'),
    mlflowAuthIni: path.join(stack.dir, 'mlflow', 'basic_auth.ini'),
    oidcState: path.join(stack.dir, 'oidc'),
    /** The dev stack's Temporal client profile (environment configuration); TEMPORAL_CONFIG_FILE of what the stack starts. */
    temporalProfile: path.join(stack.dir, 'temporal.toml'),
    /** Model specs deployed to this dev stack only (besides MLO_MODELS_DIR): its Temporal server reads both. */
    localModels: path.join(stack.dir, 'models'),
  };
}

/**
 * Writes the dev stack's Temporal profile (never the user's ~/.config/temporalio/temporal.toml).
 * Returns its path.
 */
export function writeStackTemporalProfile(stack: Pick<StackConfig, 'dir' | 'temporalPort'>): string {
  const file = stackPaths(stack).temporalProfile;
  const text = devStackProfileToml(stack);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  }
  return file;
}

/**
 * What every process the dev stack starts (its parts, the workers of `npm run workers` and the demo)
 * gets on top of its environment: the stack's Temporal profile, unless the caller names another
 * configuration file, and no instance-metadata probe by the AWS credential chain.
 */
export function stackProcessEnv(stack: Pick<StackConfig, 'dir'>, env = process.env): Record<string, string> {
  const profile = stackPaths(stack).temporalProfile;
  const file = env.TEMPORAL_CONFIG_FILE || (fs.existsSync(profile) ? profile : undefined);
  return { ...(file ? { TEMPORAL_CONFIG_FILE: file } : {}), AWS_EC2_METADATA_DISABLED: 'true' };
}

/** The dev provider's issuer, as the stack runs it. */
export function stackIssuer(stack: Pick<StackConfig, 'oidcPort'>): string {
  return `http://127.0.0.1:${stack.oidcPort}`;
}

/**
 * Variables no part gets unless it needs them: passwords, client secrets, tokens and keys.
 * Each part adds back its own.
 */
const SECRET_VARIABLES = new Set<string>([
  'MLFLOW_AUTH_ADMIN_PASSWORD',
  'MLFLOW_FLASK_SERVER_SECRET_KEY',
  'MLO_MLFLOW_REGISTRY_PASSWORD',
  'MLFLOW_TRACKING_USERNAME',
  'MLFLOW_TRACKING_PASSWORD',
  'MLFLOW_TRACKING_TOKEN',
  'MLO_TOKEN',
  'MLO_OIDC_CLIENT_SECRET',
  'MLO_UI_OIDC_CLIENT_SECRET',
  ...SERVICE_CLIENTS.map((c) => c.secretVariable),
  'MLO_S3_SECRET_ACCESS_KEY',
  'MLO_S3_SESSION_TOKEN',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'ROOT_ACCESS_KEY_ID',
  'ROOT_SECRET_ACCESS_KEY',
]);

/** The environment without any secret, plus `extra` (undefined values are left out). */
export function partEnv(extra: Record<string, string | undefined> = {}, env = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!SECRET_VARIABLES.has(k) && v !== undefined) out[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
  return out;
}

async function httpOk(url: string, accept: (status: number) => boolean = (s) => s >= 200 && s < 300): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), redirect: 'manual' });
    await res.arrayBuffer();
    return accept(res.status);
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

type StackPaths = ReturnType<typeof stackPaths>;

/** The dev OpenID Connect provider (lib/identity), under node with tsx like the other scripts. */
function oidcPart(cfg: Config, p: StackPaths): Part {
  const stack = cfg.stack;
  const script = path.join(PROJECT_ROOT, 'lib', 'identity', 'dev-provider-main.ts');
  return {
    name: 'oidc',
    title: 'OIDC provider (dev)',
    program: 'dev-provider-main.ts',
    phase: 1,
    ports: [{ port: stack.oidcPort, variable: 'MLO_OIDC_PORT', what: 'OIDC provider' }],
    async prepare() {
      fs.mkdirSync(p.oidcState, { recursive: true, mode: 0o700 });
      // It verifies the client secrets, so it gets those that are set (else it uses the dev ones).
      const secrets = Object.fromEntries(
        ['MLO_UI_OIDC_CLIENT_SECRET', ...SERVICE_CLIENTS.map((c) => c.secretVariable)].map((v) => [v, process.env[v]]),
      );
      return {
        cmd: process.execPath,
        args: ['--import', 'tsx', script],
        cwd: PROJECT_ROOT, // where tsx resolves
        match: 'dev-provider-main.ts',
        env: partEnv({
          ...secrets,
          MLO_OIDC_PORT: String(stack.oidcPort),
          MLO_OIDC_ISSUER: undefined,
          MLO_OIDC_STATE_DIR: p.oidcState,
          MLO_STACK_DIR: stack.dir,
          MLO_TEMPORAL_UI_PORT: String(stack.temporalUiPort),
        }),
      };
    },
    healthy: () => httpOk(`${stackIssuer(stack)}/healthz`),
    addresses: [`OIDC provider  ${stackIssuer(stack)} (dev users: lib/identity/README.md)`],
    startTimeoutMs: 60_000,
  };
}

/** The directories of model specs the stack's Temporal server reads reviewers from. */
export function stackModelsDirs(stack: Pick<StackConfig, 'dir'>, env = process.env): string[] {
  return [env.MLO_MODELS_DIR ? path.resolve(env.MLO_MODELS_DIR) : MODELS_DIR, stackPaths(stack).localModels];
}

/** mlo's Temporal server (server/): SQLite file, mlo's namespace and search attributes, OIDC authentication. */
function temporalPart(cfg: Config, p: StackPaths): Part {
  const stack = cfg.stack;
  return {
    name: 'temporal',
    title: 'Temporal server (mlo)',
    program: SERVER_BINARY,
    phase: 2,
    ports: [
      { port: stack.temporalPort, variable: 'MLO_TEMPORAL_PORT', what: 'Temporal gRPC' },
      { port: stack.temporalUiPort, variable: 'MLO_TEMPORAL_UI_PORT', what: 'Temporal Web UI' },
      { port: stack.temporalHttpPort, variable: 'MLO_TEMPORAL_HTTP_PORT', what: 'Temporal HTTP API' },
      { port: stack.temporalMetricsPort, variable: 'MLO_TEMPORAL_METRICS_PORT', what: 'Temporal metrics' },
    ],
    async prepare(log) {
      const bin = await ensureMloServer(stack, log);
      fs.mkdirSync(path.dirname(p.temporalDb), { recursive: true });
      fs.mkdirSync(p.localModels, { recursive: true });
      return {
        cmd: bin,
        args: temporalArgs(cfg, p),
        // The UI's client secret only through the environment, so `ps` does not show it.
        env: partEnv({
          MLO_UI_OIDC_CLIENT_SECRET: process.env.MLO_UI_OIDC_CLIENT_SECRET || devClientSecret(CLIENT_IDS.temporalUi),
        }),
      };
    },
    healthy: () => temporalHealthy(stack),
    addresses: [
      `Temporal gRPC  127.0.0.1:${stack.temporalPort} (namespace ${cfg.temporal.namespace}; OIDC tokens required)`,
      `Temporal UI    http://127.0.0.1:${stack.temporalUiPort} (sign in as a dev user)`,
    ],
    startTimeoutMs: 120_000,
  };
}

function temporalArgs(cfg: Config, p: StackPaths): string[] {
  const stack = cfg.stack;
  return [
    '--ip',
    '127.0.0.1',
    '--port',
    String(stack.temporalPort),
    '--ui-port',
    String(stack.temporalUiPort),
    '--http-port',
    String(stack.temporalHttpPort),
    '--metrics-port',
    String(stack.temporalMetricsPort),
    '--db-filename',
    p.temporalDb,
    '--namespace',
    cfg.temporal.namespace,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTE_KEYS.flatMap((key) => ['--search-attribute', searchAttributeFlag(key)]),
    '--auth',
    '--oidc-issuer',
    stackIssuer(stack),
    '--models-dir',
    stackModelsDirs(stack).join(path.delimiter),
  ];
}

/**
 * The UI serves (with authentication it answers 503 until the identity provider's discovery
 * works, then its pages or a redirect to sign in) and the frontend answers GetSystemInfo, the
 * one call that needs no token.
 */
async function temporalHealthy(stack: StackConfig): Promise<boolean> {
  if (!(await httpOk(`http://127.0.0.1:${stack.temporalUiPort}/`, (s) => s >= 200 && s < 500))) return false;
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address: `127.0.0.1:${stack.temporalPort}`, connectTimeout: '2s' });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close();
  }
}

/** versitygw over a directory (posix backend), with mlo's bucket. */
function s3Part(cfg: Config, p: StackPaths): Part {
  const stack = cfg.stack;
  return {
    name: 's3',
    title: 'S3 API (versitygw)',
    program: 'versitygw',
    phase: 1,
    ports: [{ port: stack.s3Port, variable: 'MLO_S3_PORT', what: 'S3 API' }],
    async prepare(log) {
      const bin = await ensureVersitygw(stack, log);
      fs.mkdirSync(p.s3Root, { recursive: true });
      fs.mkdirSync(p.s3Meta, { recursive: true });
      return {
        cmd: bin,
        args: [
          '--port',
          `127.0.0.1:${stack.s3Port}`,
          '--region',
          cfg.s3.region ?? 'us-east-1',
          'posix',
          '--sidecar',
          p.s3Meta,
          p.s3Root,
        ],
        // Credentials go through the environment, not argv, so `ps` does not show them.
        env: partEnv({
          ROOT_ACCESS_KEY_ID: cfg.s3.accessKeyId ?? DEV_S3_CREDENTIALS.accessKeyId,
          ROOT_SECRET_ACCESS_KEY: cfg.s3.secretAccessKey ?? DEV_S3_CREDENTIALS.secretAccessKey,
        }),
      };
    },
    // Any HTTP answer (an unauthenticated request gets 403) means the gateway is serving.
    healthy: () => httpOk(`http://127.0.0.1:${stack.s3Port}/`, (s) => s > 0),
    async afterStart() {
      const client = createS3Client({ ...cfg.s3, endpoint: `http://127.0.0.1:${stack.s3Port}` });
      try {
        await ensureBucket(client, cfg.s3.bucket);
      } finally {
        client.destroy();
      }
    },
    addresses: [`S3 endpoint    http://127.0.0.1:${stack.s3Port} (bucket ${cfg.s3.bucket}, path-style)`],
    startTimeoutMs: 30_000,
  };
}

/**
 * The MLflow server from the venv with its basic-auth app: SQLite stores (tracking and users),
 * artifacts in the S3 bucket. Once up, its users are provisioned (lib/stack/mlflow-auth.ts).
 */
function mlflowPart(cfg: Config, p: StackPaths): Part {
  const stack = cfg.stack;
  const url = `http://127.0.0.1:${stack.mlflowPort}`;
  return {
    name: 'mlflow',
    title: 'MLflow server',
    program: 'mlflow',
    phase: 2,
    ports: [{ port: stack.mlflowPort, variable: 'MLO_MLFLOW_PORT', what: 'MLflow' }],
    async prepare(log) {
      await ensureVenv(log);
      fs.mkdirSync(path.dirname(p.mlflowDb), { recursive: true, mode: 0o700 });
      writeBasicAuthIni(p.mlflowAuthIni, p.mlflowAuthDb);
      return {
        cmd: path.join(VENV_BIN, 'mlflow'),
        args: [
          'server',
          '--app-name',
          'basic-auth',
          '--host',
          '127.0.0.1',
          '--port',
          String(stack.mlflowPort),
          '--workers',
          '2',
          '--backend-store-uri',
          `sqlite:///${p.mlflowDb}`,
          '--serve-artifacts',
          '--artifacts-destination',
          `s3://${cfg.s3.bucket}/mlflow-artifacts`,
        ],
        env: partEnv({
          MLFLOW_AUTH_CONFIG_PATH: p.mlflowAuthIni,
          // Used when the user store is created (first start); never written to a file but the stack's secrets.
          MLFLOW_AUTH_ADMIN_PASSWORD: mlflowAdminPassword(stack),
          MLFLOW_FLASK_SERVER_SECRET_KEY: mlflowFlaskSecretKey(stack),
          MLFLOW_S3_ENDPOINT_URL: `http://127.0.0.1:${stack.s3Port}`,
          AWS_ACCESS_KEY_ID: cfg.s3.accessKeyId ?? DEV_S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: cfg.s3.secretAccessKey ?? DEV_S3_CREDENTIALS.secretAccessKey,
          AWS_DEFAULT_REGION: cfg.s3.region ?? 'us-east-1',
          MLFLOW_S3_IGNORE_TLS: 'true',
          PYTHONUNBUFFERED: '1',
        }),
      };
    },
    healthy: () => httpOk(`${url}/health`),
    async afterStart() {
      await provisionMlflow({
        trackingUri: url,
        admin: { username: MLFLOW_ADMIN_USERNAME, password: mlflowAdminPassword(stack) },
        registry: registryMlflowCredentials(stack, { create: true })!,
        people: devPeople(),
        authDb: p.mlflowAuthDb,
      });
    },
    addresses: [`MLflow UI      ${url} (basic auth: a dev user, e.g. alice@example.com / alice-dev-password)`],
    startTimeoutMs: 180_000,
  };
}

/** The parts: S3 and the identity provider first, then Temporal and MLflow (see `phase`). */
function defineParts(cfg: Config): Part[] {
  const p = stackPaths(cfg.stack);
  return [s3Part(cfg, p), oidcPart(cfg, p), temporalPart(cfg, p), mlflowPart(cfg, p)];
}

function readPid(stack: StackConfig, name: PartName): PidRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(stackPaths(stack).pids, `${name}.json`), 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

function writePid(stack: StackConfig, name: PartName, rec: PidRecord): void {
  const dir = stackPaths(stack).pids;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(rec));
  fs.renameSync(`${file}.tmp`, file);
}

function removePid(stack: StackConfig, name: PartName): void {
  fs.rmSync(path.join(stackPaths(stack).pids, `${name}.json`), { force: true });
}

/** The recorded process is still alive and is the program we started (pids get reused). */
function isOurs(rec: PidRecord): boolean {
  try {
    process.kill(rec.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
    return cmdline.includes(path.basename(rec.binary));
  } catch {
    return true; // no /proc (macOS): trust the live pid
  }
}

function logTail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(part: Part, rec: PidRecord, logFile: string): Promise<void> {
  const deadline = Date.now() + part.startTimeoutMs;
  while (Date.now() < deadline) {
    if (await part.healthy()) return;
    if (!isOurs(rec))
      throw new StackError(`${part.title} exited during start-up. Last lines of ${logFile}:\n${logTail(logFile)}`);
    await sleep(500);
  }
  throw new StackError(
    `${part.title} did not become healthy within ${part.startTimeoutMs / 1000}s. ` +
      `Last lines of ${logFile}:\n${logTail(logFile)}`,
  );
}

async function startPart(cfg: Config, part: Part, log: (l: string) => void): Promise<'started' | 'running'> {
  const stack = cfg.stack;
  const paths = stackPaths(stack);
  const logFile = path.join(paths.logs, `${part.name}.log`);
  const existing = readPid(stack, part.name);
  if (existing && isOurs(existing)) {
    if (!existing.binary.includes(part.program))
      throw new StackError(
        `${part.title}: the running process (pid ${existing.pid}, ${existing.binary}) was started by an older mlo ` +
          `stack, not ${part.program}. Restart the stack: \`npm run stack -- down\`, then \`npm run stack -- up\`.`,
      );
    if (part.name === 'temporal' && !existing.binary.includes(`${SERVER_BINARY}-${serverSourceHash()}`))
      log(
        `note: the running Temporal server (pid ${existing.pid}) was built from other sources than server/ holds now; ` +
          '`npm run stack -- down` and `up` run the current ones',
      );
    await waitHealthy(part, existing, logFile);
    await part.afterStart?.();
    return 'running';
  }
  if (existing) removePid(stack, part.name);
  for (const p of part.ports) {
    if (await portInUse(p.port)) {
      throw new StackError(
        `port ${p.port} (${p.what}) is already in use by a process the mlo stack did not start. ` +
          `Stop that process, or choose another port with ${p.variable}=<port>.`,
      );
    }
  }
  const launch = await part.prepare(log);
  fs.mkdirSync(paths.logs, { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n--- ${new Date().toISOString()} starting: ${launch.cmd} ${launch.args.join(' ')}\n`);
  const child = spawn(launch.cmd, launch.args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...launch.env, ...stackProcessEnv(stack) },
    cwd: launch.cwd ?? stack.dir,
  });
  fs.closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new StackError(`could not start ${part.title} (${launch.cmd}); see ${logFile}`);
  child.unref();
  const rec: PidRecord = {
    pid,
    binary: launch.match ?? launch.cmd,
    startedAt: new Date().toISOString(),
    ports: part.ports.map((p) => p.port),
  };
  writePid(stack, part.name, rec);
  try {
    await waitHealthy(part, rec, logFile);
  } catch (err) {
    await stopProcess(rec);
    removePid(stack, part.name);
    throw err;
  }
  await part.afterStart?.();
  return 'started';
}

async function stopProcess(rec: PidRecord): Promise<void> {
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-rec.pid, sig); // the part runs in its own process group (detached)
    } catch {
      try {
        process.kill(rec.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(rec.pid, 0);
    } catch {
      return;
    }
    await sleep(200);
  }
  signalGroup('SIGKILL');
}

type UpResult = {
  parts: { name: PartName; title: string; result: 'started' | 'running' }[];
  addresses: string[];
  seconds: number;
};

export async function stackUp(opts: { log?: (l: string) => void; only?: PartName[] } = {}): Promise<UpResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = Date.now();
  const cfg = loadConfig();
  fs.mkdirSync(cfg.stack.dir, { recursive: true });
  writeStackTemporalProfile(cfg.stack);
  const parts = defineParts(cfg).filter((p) => !opts.only || opts.only.includes(p.name));
  // Each phase's parts start in parallel: S3 and the identity provider, then Temporal (its UI
  // needs the provider) and MLflow (it needs S3 only when it first writes an artifact).
  const settled: PromiseSettledResult<UpResult['parts'][number]>[] = [];
  for (const phase of [1, 2]) {
    const now = parts.filter((p) => p.phase === phase);
    settled.push(
      ...(await Promise.allSettled(
        now.map(async (part) => ({ name: part.name, title: part.title, result: await startPart(cfg, part, log) })),
      )),
    );
    if (settled.some((s) => s.status === 'rejected')) break;
  }
  const failures = settled
    .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => (s.reason instanceof Error ? s.reason.message : String(s.reason)));
  if (failures.length > 0) throw new StackError(`the dev stack did not come up:\n- ${failures.join('\n- ')}`);
  return {
    parts: settled.map((s) => (s as PromiseFulfilledResult<UpResult['parts'][number]>).value),
    addresses: parts.flatMap((p) => p.addresses),
    seconds: (Date.now() - t0) / 1000,
  };
}

export async function stackDown(
  opts: { log?: (l: string) => void } = {},
): Promise<{ name: PartName; result: 'stopped' | 'not-running' }[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const cfg = loadConfig();
  const out: { name: PartName; result: 'stopped' | 'not-running' }[] = [];
  // Stop MLflow and Temporal before the storage and the identity provider they use.
  for (const part of [...defineParts(cfg)].reverse()) {
    const rec = readPid(cfg.stack, part.name);
    if (rec && isOurs(rec)) {
      await stopProcess(rec);
      log(`stopped ${part.title} (pid ${rec.pid})`);
      out.push({ name: part.name, result: 'stopped' });
    } else {
      out.push({ name: part.name, result: 'not-running' });
    }
    removePid(cfg.stack, part.name);
  }
  return out;
}

export async function stackStatus(): Promise<PartStatus[]> {
  const cfg = loadConfig();
  return Promise.all(
    defineParts(cfg).map(async (part): Promise<PartStatus> => {
      const rec = readPid(cfg.stack, part.name);
      const base = { name: part.name, title: part.title, addresses: part.addresses };
      if (rec && isOurs(rec)) {
        const ok = await part.healthy();
        return {
          ...base,
          state: ok ? 'running' : 'starting',
          pid: rec.pid,
          detail: ok ? undefined : 'process alive, health check not passing yet',
        };
      }
      const taken = [];
      for (const p of part.ports) if (await portInUse(p.port)) taken.push(`${p.port} (${p.variable})`);
      if (taken.length > 0)
        return { ...base, state: 'port-taken', detail: `not started by mlo, but port ${taken.join(', ')} is in use` };
      if (rec) return { ...base, state: 'stale-pid', detail: `pid ${rec.pid} from ${rec.startedAt} is gone` };
      return { ...base, state: 'stopped' };
    }),
  );
}
