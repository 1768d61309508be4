/**
 * `mlo doctor [--json] [--as-service]`: checks every service mlo uses, as configured (flags,
 * environment, Temporal profile, dev stack), and prints one line per check: ✓ or ✗, its name and
 * what it found, and on failure the fix. Each check has a short deadline, so a stopped service
 * fails its checks in seconds instead of hanging; checks that need an earlier one (the namespace
 * needs a connection) are skipped when it failed. Exit 0 when every check passes, else 5 when a
 * service is out of reach, else 2.
 */
import crypto from 'node:crypto';
import { Connection } from '@temporalio/client';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { loadConfig, s3Where, type Config } from '../../lib/infra/config';
import { describeTemporalConfig } from '../../lib/infra/temporal-config';
import { transportOptions } from '../../lib/infra/temporal';
import { createS3Client, s3CredentialMode } from '../../lib/infra/s3';
import { SEARCH_ATTRIBUTE_KEYS } from '../../lib/core/search-attributes';
import { listSpecFiles, loadSpecFile, MODELS_DIR } from '../../lib/spec/model-spec';
import {
  clientCredentialsToken,
  discover,
  loadOidcConfig,
  serviceCredentials,
  userTokenSource,
  verifyAccessToken,
  type TokenSource,
} from '../../lib/identity/oidc-client';
import { CLIENT_IDS } from '../../lib/identity/shared';
import { registryMlflowCredentials } from '../../lib/stack/secrets';
import {
  basicAuthorization,
  bearerAuthorization,
  fetchTrusting,
  readCaBundle,
} from '../../lib/registry/mlflow/credentials';
import { boolFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import { JSON_FLAG, noPositionals } from '../context';

export type CheckStatus = 'ok' | 'fail' | 'skip';

export type CheckResult = {
  /** e.g. `temporal.connection` */
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about a failure */
  fix?: string;
  /** the failure is a service out of reach (rather than a setting or a permission) */
  unreachable?: boolean;
};

/** Deadline of one check's network calls. */
export const CHECK_TIMEOUT_MS = 4000;

class CheckFailure extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly unreachable = false,
  ) {
    super(message);
  }
}

function within<T>(ms: number, what: string, p: Promise<T>, fix: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what}: no answer within ${ms / 1000}s`, fix, true)), ms);
    timer.unref();
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const extra =
      cause instanceof Error && cause.message && !err.message.includes(cause.message) ? `: ${cause.message}` : '';
    return `${err.message || err.name}${extra}`;
  }
  return String(err);
}

type Ctx = {
  cfg: Config;
  asService: boolean;
  tokens: TokenSource;
  results: CheckResult[];
};

async function check(
  ctx: Ctx,
  name: string,
  run: () => Promise<string>,
  onError: (err: unknown) => { fix: string; unreachable?: boolean },
): Promise<boolean> {
  try {
    ctx.results.push({ name, status: 'ok', detail: await run() });
    return true;
  } catch (err) {
    const known = err instanceof CheckFailure ? { fix: err.fix, unreachable: err.unreachable } : onError(err);
    ctx.results.push({
      name,
      status: 'fail',
      detail: messageOf(err),
      fix: known.fix,
      ...(known.unreachable ? { unreachable: true } : {}),
    });
    return false;
  }
}

function skip(ctx: Ctx, name: string, why: string): void {
  ctx.results.push({ name, status: 'skip', detail: why });
}

// ----- the identity provider ----------------------------------------------------------------

async function checkOidc(ctx: Ctx): Promise<boolean> {
  const oidc = loadOidcConfig();
  const reachable = await check(
    ctx,
    'oidc.discovery',
    async () => {
      const doc = await within(CHECK_TIMEOUT_MS, `${oidc.issuer}`, discover(oidc.issuer), '');
      return `${oidc.issuer}: token endpoint ${doc.token_endpoint}`;
    },
    () => ({
      fix: `start the identity provider (dev stack: \`npm run stack -- up oidc\`) or set MLO_OIDC_ISSUER to its issuer URL`,
      unreachable: true,
    }),
  );
  if (!reachable) {
    skip(ctx, 'oidc.token', 'the identity provider is not reachable');
    return false;
  }
  return check(
    ctx,
    'oidc.token',
    async () => {
      const token = await within(CHECK_TIMEOUT_MS, 'the token request', ctx.tokens.getAccessToken(), '');
      const id = await within(CHECK_TIMEOUT_MS, 'the token verification', verifyAccessToken(token), '');
      const minutes = Math.round((id.expiresAt.getTime() - Date.now()) / 60_000);
      return `${ctx.asService ? `client credentials of ${CLIENT_IDS.orchestrator}` : 'signed in'} as ${id.email ?? id.subject}, expires in ${minutes} min`;
    },
    () => ({
      fix: ctx.asService
        ? `check ${CLIENT_IDS.orchestrator}'s client secret (MLO_ORCHESTRATOR_CLIENT_SECRET) against the provider's registration`
        : 'sign in: `npx mlo login` (or set MLO_TOKEN to an access token for automation)',
    }),
  );
}

// ----- Temporal -------------------------------------------------------------------------------

async function checkTemporal(ctx: Ctx, haveToken: boolean): Promise<void> {
  const t = ctx.cfg.temporal;
  let conn: Connection | undefined;
  const fixReach =
    `check that Temporal runs at ${t.address} (dev stack: \`npm run stack -- up temporal\`) and the connection settings ` +
    '(--temporal-address, MLO_TEMPORAL_ADDRESS/TEMPORAL_ADDRESS, TEMPORAL_PROFILE, TLS: TEMPORAL_TLS_* or the profile)';
  try {
    const connected = await check(
      ctx,
      'temporal.connection',
      async () => {
        // GetSystemInfo needs no token: the frontend's version and what it supports.
        conn = await within(
          CHECK_TIMEOUT_MS + 1000,
          t.address,
          Connection.connect({
            ...transportOptions(t),
            connectTimeout: `${CHECK_TIMEOUT_MS}ms`,
            ...(t.apiKey ? { apiKey: t.apiKey } : {}),
          }),
          fixReach,
        );
        const c = conn;
        const info = await c.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => c.workflowService.getSystemInfo({}));
        return `${describeTemporalConfig(t)}; server ${info.serverVersion || '(version not reported)'}`;
      },
      () => ({ fix: fixReach, unreachable: true }),
    );
    if (!connected || !conn) {
      skip(ctx, 'temporal.namespace', 'no connection');
      skip(ctx, 'temporal.search-attributes', 'no connection');
      return;
    }
    if (!t.apiKey && !haveToken) {
      skip(ctx, 'temporal.namespace', 'no token (see oidc.token)');
      skip(ctx, 'temporal.search-attributes', 'no token (see oidc.token)');
      return;
    }
    const c = conn;
    if (!t.apiKey) c.setApiKey(await ctx.tokens.getAccessToken());
    const nsOk = await check(
      ctx,
      'temporal.namespace',
      async () => {
        const ns = await c.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
          c.workflowService.describeNamespace({ namespace: t.namespace }),
        );
        const retention = ns.config?.workflowExecutionRetentionTtl?.seconds;
        return `${t.namespace} exists${retention ? ` (retention ${Math.round(Number(retention) / 86400)} days)` : ''}; the token is accepted`;
      },
      (err) => temporalFix(err, t.namespace),
    );
    if (!nsOk) {
      skip(ctx, 'temporal.search-attributes', 'the namespace check failed');
      return;
    }
    await check(
      ctx,
      'temporal.search-attributes',
      async () => {
        const res = await c.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
          c.operatorService.listSearchAttributes({ namespace: t.namespace }),
        );
        const have = res.customAttributes ?? {};
        const missing = SEARCH_ATTRIBUTE_KEYS.filter((k) => !(k.name in have));
        if (missing.length > 0)
          throw new CheckFailure(
            `missing in ${t.namespace}: ${missing.map((k) => k.name).join(', ')}`,
            `register them: \`temporal operator search-attribute create --namespace ${t.namespace} ` +
              `${missing.map((k) => `--name ${k.name} --type Keyword`).join(' ')}\` (the dev stack registers them at start)`,
          );
        return `${SEARCH_ATTRIBUTE_KEYS.map((k) => k.name).join(', ')} registered`;
      },
      (err) => temporalFix(err, t.namespace),
    );
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

function temporalFix(err: unknown, namespace: string): { fix: string; unreachable?: boolean } {
  const code = (err as { code?: number }).code;
  if (code === 5)
    return {
      fix: `create the namespace (\`temporal operator namespace create --namespace ${namespace}\`) or name an existing one (--temporal-namespace, MLO_TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE or the profile)`,
    };
  if (code === 16 || code === 7)
    return {
      fix: "the server refused the credential: sign in again (`npx mlo login`), or check TEMPORAL_API_KEY / the profile's api_key",
    };
  if (code === 14 || code === 4) return { fix: 'the server stopped answering; check it is up', unreachable: true };
  return { fix: 'see the message; the README\'s "Configuration" section lists the settings' };
}

// ----- S3 -------------------------------------------------------------------------------------

async function checkS3(ctx: Ctx): Promise<void> {
  const s3cfg = ctx.cfg.s3;
  const where = s3Where(s3cfg);
  const key = `mlo-doctor/probe-${crypto.randomUUID()}`;
  const client = createS3Client(s3cfg);
  const signal = () => AbortSignal.timeout(CHECK_TIMEOUT_MS);
  try {
    await check(
      ctx,
      's3.bucket',
      async () => {
        const body = `mlo doctor ${new Date().toISOString()}`;
        await client.send(new PutObjectCommand({ Bucket: s3cfg.bucket, Key: key, Body: body }), {
          abortSignal: signal(),
        });
        const got = await client.send(new GetObjectCommand({ Bucket: s3cfg.bucket, Key: key }), {
          abortSignal: signal(),
        });
        const text = await got.Body?.transformToString();
        if (text !== body)
          throw new CheckFailure(
            `read back ${JSON.stringify(text)} instead of what was written`,
            'check the S3 service',
          );
        await client.send(new DeleteObjectCommand({ Bucket: s3cfg.bucket, Key: key }), { abortSignal: signal() });
        return `s3://${s3cfg.bucket} at ${where}: wrote, read and deleted a probe object; credentials: ${s3cfg.credentialSource ?? s3CredentialMode(s3cfg)}`;
      },
      (err) => s3Fix(err, ctx.cfg),
    );
  } finally {
    client.destroy();
  }
}

function s3Fix(err: unknown, cfg: Config): { fix: string; unreachable?: boolean } {
  const name = (err as { name?: string }).name ?? '';
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (name === 'CredentialsProviderError')
    return {
      fix:
        "no S3 credentials: set MLO_S3_ACCESS_KEY_ID and MLO_S3_SECRET_ACCESS_KEY, or give the AWS SDK's default chain a " +
        'source (AWS_PROFILE, `aws sso login`, a web identity / IRSA role, a container role)',
    };
  if (name === 'NoSuchBucket' || status === 404)
    return { fix: `create the bucket ${cfg.s3.bucket} or set MLO_S3_BUCKET to an existing one` };
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403)
    return {
      fix: `grant the S3 identity s3:PutObject, s3:GetObject and s3:DeleteObject on ${cfg.s3.bucket}, or check its keys`,
    };
  return {
    fix: `check that S3 answers at ${s3Where(cfg.s3)} (dev stack: \`npm run stack -- up s3\`; else MLO_S3_ENDPOINT, MLO_S3_REGION)`,
    unreachable: true,
  };
}

// ----- MLflow ---------------------------------------------------------------------------------

type MlflowProbe = { status: number; text: string };

async function checkMlflow(ctx: Ctx, modelNames: () => Promise<string[]>): Promise<void> {
  const m = ctx.cfg.mlflow;
  const base = m.trackingUri;
  let fetchImpl: typeof fetch = (i, init) => fetch(i, init);
  let caNote = '';
  if (m.caBundlePath) {
    fetchImpl = fetchTrusting(readCaBundle(m.caBundlePath));
    caNote = `, trusting ${m.caBundlePath}`;
  }
  // The account the workers sign in as: the configured one, else the dev stack's registry account.
  const basic = m.token ? undefined : (m.credentials ?? registryMlflowCredentials(ctx.cfg.stack));
  const auth = m.token ? bearerAuthorization(m.token) : basic ? basicAuthorization(basic) : undefined;
  const mode = m.token
    ? 'bearer token (MLFLOW_TRACKING_TOKEN)'
    : basic
      ? `basic auth as ${basic.username}`
      : 'anonymous';
  const get = async (path: string): Promise<MlflowProbe> => {
    const res = await fetchImpl(`${base}${path}`, {
      headers: { accept: 'application/json', ...(auth ? { authorization: auth } : {}) },
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    return { status: res.status, text: await res.text() };
  };
  const send = async (method: string, path: string, body: unknown): Promise<MlflowProbe> => {
    const res = await fetchImpl(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    return { status: res.status, text: await res.text() };
  };
  const reachFix = `check that MLflow runs at ${base} (dev stack: \`npm run stack -- up mlflow\`; else MLO_MLFLOW_TRACKING_URI, and MLO_MLFLOW_CA_BUNDLE for a private CA)`;
  const up = await check(
    ctx,
    'mlflow.server',
    async () => {
      const health = await get('/health');
      if (health.status !== 200) throw new CheckFailure(`${base}/health answered ${health.status}`, reachFix, true);
      const version = await get('/version');
      return `${base} answers${version.status === 200 ? `, MLflow ${version.text.trim()}` : ''}${caNote}`;
    },
    () => ({ fix: reachFix, unreachable: true }),
  );
  if (!up) {
    skip(ctx, 'mlflow.auth', 'MLflow is not reachable');
    skip(ctx, 'mlflow.registry', 'MLflow is not reachable');
    return;
  }
  const authFix = m.token
    ? 'MLflow refused the bearer token: renew MLFLOW_TRACKING_TOKEN'
    : basic
      ? `MLflow refused ${basic.username}'s password: check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or MLO_MLFLOW_REGISTRY_PASSWORD)`
      : 'MLflow wants credentials: set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN';
  const authed = await check(
    ctx,
    'mlflow.auth',
    async () => {
      const r = await get('/api/2.0/mlflow/experiments/search?max_results=1');
      if (r.status === 401) throw new CheckFailure(`${mode}: 401 not authenticated`, authFix);
      if (r.status !== 200) throw new CheckFailure(`${mode}: experiments/search answered ${r.status}`, authFix);
      return `${mode}: accepted`;
    },
    () => ({ fix: reachFix, unreachable: true }),
  );
  if (!authed) {
    skip(ctx, 'mlflow.registry', 'authentication failed');
    return;
  }
  await check(
    ctx,
    'mlflow.registry',
    async () => {
      const search = await get('/api/2.0/mlflow/registered-models/search?max_results=1000');
      if (search.status === 403)
        throw new CheckFailure(`${mode} may not read registered models`, 'grant the account READ on registered models');
      if (search.status !== 200) throw new CheckFailure(`registered-models/search answered ${search.status}`, reachFix);
      const existing = new Set(
        ((JSON.parse(search.text) as { registered_models?: { name: string }[] }).registered_models ?? []).map(
          (r) => r.name,
        ),
      );
      // Moving an alias needs more than READ: deleting an alias no model has is a harmless probe of that
      // right (403 without it), asked for every spec's registered model that exists.
      const wanted = (await modelNames()).filter((n) => existing.has(n));
      const lacking: string[] = [];
      for (const name of wanted) {
        const r = await send('DELETE', '/api/2.0/mlflow/registered-models/alias', { name, alias: 'mlo-doctor-probe' });
        if (r.status === 403 || r.status === 401) lacking.push(name);
        else if (r.status >= 500)
          throw new CheckFailure(`registered-models/alias answered ${r.status}`, reachFix, true);
      }
      if (lacking.length > 0)
        throw new CheckFailure(
          `${mode} may not move the aliases of ${lacking.join(', ')} (it could not set their champion)`,
          `as MLflow's admin, grant ${basic?.username ?? 'the account'} MANAGE on them ` +
            '(POST /api/3.0/mlflow/users/permissions/grant, resource_type registered_model; resource_id "*" for every model)',
        );
      return (
        `${mode} reads ${existing.size} registered models and may move the aliases of ` +
        (wanted.length === 0 ? "mlo's (none registered yet)" : `all ${wanted.length} of mlo's specs`)
      );
    },
    () => ({ fix: reachFix, unreachable: true }),
  );
}

// ----- the command ----------------------------------------------------------------------------

export type DoctorOptions = {
  asService?: boolean;
  cfg?: Config;
  tokens?: TokenSource;
  modelNames?: () => Promise<string[]>;
};

/** Runs every check (identity first: Temporal needs its token); never throws for a failed check. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const cfg = opts.cfg ?? loadConfig();
  const asService = opts.asService ?? false;
  const tokens =
    opts.tokens ??
    (asService ? clientCredentialsToken(serviceCredentials(CLIENT_IDS.orchestrator)) : userTokenSource());
  const ctx: Ctx = { cfg, asService, tokens, results: [] };
  const haveToken = await checkOidc(ctx);
  const modelNames = opts.modelNames ?? specModelNames;
  await Promise.all([checkTemporal(ctx, haveToken), checkS3(ctx), checkMlflow(ctx, modelNames)]);
  const order = ['oidc', 'temporal', 's3', 'mlflow'];
  return ctx.results.sort((a, b) => order.indexOf(a.name.split('.')[0]!) - order.indexOf(b.name.split('.')[0]!));
}

/** The names of the model specs (MLO_MODELS_DIR, else models/); a spec that does not load is left out. */
function specModelNames(): Promise<string[]> {
  const names: string[] = [];
  try {
    for (const f of listSpecFiles(process.env.MLO_MODELS_DIR || MODELS_DIR)) {
      try {
        names.push(loadSpecFile(f).name);
      } catch {
        // `mlo models validate` reports it
      }
    }
  } catch {
    // no models directory
  }
  return Promise.resolve(names);
}

const MARK: Record<CheckStatus, string> = { ok: '✓', fail: '✗', skip: '-' };

export function renderChecks(results: CheckResult[]): string[] {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${MARK[r.status]} ${r.name.padEnd(width)}  ${r.detail}`);
    if (r.status === 'fail' && r.fix) lines.push(`  ${' '.repeat(width)}  fix: ${r.fix}`);
  }
  return lines;
}

export function doctorExitCode(results: CheckResult[]): ExitCode {
  const failed = results.filter((r) => r.status === 'fail');
  if (failed.length === 0) return EXIT_CODES.ok;
  return failed.some((r) => r.unreachable) ? EXIT_CODES.unreachable : EXIT_CODES.badInput;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the connections to Temporal, S3, MLflow and the identity provider',
  usage: 'mlo doctor [--json] [--as-service]',
  flags: [
    JSON_FLAG,
    {
      name: 'as-service',
      description: `check as the workers do: ${CLIENT_IDS.orchestrator}'s client credentials instead of your sign-in`,
    },
  ],
  details: [
    'One line per check: ✓ passed, ✗ failed (with the fix on the next line), - skipped (an earlier check failed).',
    'Connection settings: --temporal-address/--temporal-namespace/--temporal-profile, then the environment,',
    'then the Temporal profile, then the dev stack (README, "Configuration").',
    'exit 0 when every check passes; 5 when a service is out of reach; 2 for a setting, credential or permission.',
  ],
  async run(args: ParsedArgs): Promise<ExitCode> {
    noPositionals(args, 'doctor');
    const results = await runDoctor({ asService: boolFlag(args, 'as-service') });
    const code = doctorExitCode(results);
    if (boolFlag(args, 'json'))
      console.log(JSON.stringify({ ok: code === EXIT_CODES.ok, checks: results, exitCode: code }, null, 2));
    else for (const l of renderChecks(results)) console.log(l);
    return code;
  },
};
