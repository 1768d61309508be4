/**
 * What the `mlo` commands share: configuration, the signed-in identity, the authenticated
 * Temporal connection (closed in `finally`), the models directory, day flags, run-id parsing,
 * and the mapping of foreign errors (gRPC, sockets) onto mlo's typed errors.
 */
import type * as ObservabilityClientModule from '../lib/observability/client';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { isGrpcServiceError } from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import { loadConfig, s3Where, type Config } from '../lib/infra/config';
import { causeChain } from '../lib/core/causes';
import { BadInputError, isMloError, UnreachableError, type MloError } from '../lib/core/errors';
import { MODELS_DIR } from '../lib/spec/model-spec';
import { connectClient } from '../lib/infra/temporal';
import { tracesExporter } from '../lib/observability/config';
import { isDay } from '../lib/core/windows';
import { stringFlag } from './args';
import type { FlagSpec, ParsedArgs } from './command';
import { isModelName } from '../lib/core/ids';
import { AuthError } from '../lib/identity/errors';
import { userTokenSource, verifyAccessToken, type TokenSource } from '../lib/identity/oidc-client';

export const MODELS_DIR_FLAG: FlagSpec = {
  name: 'models-dir',
  value: 'DIR',
  description: 'where the model specs are (env MLO_MODELS_DIR)',
  default: 'models/',
};
export const JSON_FLAG: FlagSpec = {
  name: 'json',
  description: 'print one JSON object on stdout (for scripts) instead of text',
};

/** --models-dir, else $MLO_MODELS_DIR, else the project's models/. */
export function modelsDir(args: ParsedArgs): string {
  const d = stringFlag(args, 'models-dir') ?? (process.env.MLO_MODELS_DIR || undefined);
  if (d !== undefined && d.trim() === '')
    throw new BadInputError('--models-dir is empty: name a directory of model specs, e.g. --models-dir models');
  return d ? path.resolve(d) : MODELS_DIR;
}

export function requireFlag(args: ParsedArgs, name: string, cmd: string, example: string): string {
  const v = stringFlag(args, name);
  if (v === undefined || v.trim() === '')
    throw new BadInputError(`\`mlo ${cmd}\` needs --${name}, e.g. --${name} ${example}`);
  return v.trim();
}

export function dayFlag(args: ParsedArgs, name: string, what: string): string | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  if (!isDay(v)) throw new BadInputError(`--${name} "${v}" is not a day; use YYYY-MM-DD (${what})`);
  return v;
}

/**
 * A day flag that is an exclusive end of the data (`--to`): at most today (UTC), since a later day
 * would ask for data that does not exist yet.
 */
export function endDayFlag(args: ParsedArgs, name: string, what: string, now = new Date()): string | undefined {
  const v = dayFlag(args, name, what);
  const today = todayUtc(now);
  if (v !== undefined && v > today)
    throw new BadInputError(
      `--${name} ${v} is in the future (today is ${today}, UTC); it is ${what}, so at most today: ` +
        `--${name} ${today} uses the data up to the end of yesterday`,
    );
  return v;
}

export function todayUtc(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** Who the CLI acts as: the verified identity of its access token. */
export type Me = {
  subject: string;
  email?: string;
  groups: string[];
  /** what the servers compare requestedBy and reviewer with: a person's e-mail, a service's subject */
  name: string;
  expiresAt: Date;
};

/** The identity of a token source's current token, verified against the provider's keys. */
export async function identityOf(tokens: TokenSource): Promise<Me> {
  const id = await verifyAccessToken(await tokens.getAccessToken());
  return {
    subject: id.subject,
    email: id.email,
    groups: id.groups,
    name: id.email ?? id.subject,
    expiresAt: id.expiresAt,
  };
}

/** The signed-in user (`mlo login`, or MLO_TOKEN): tokens and verified identity. */
export async function signedIn(tokens: TokenSource = userTokenSource()): Promise<{ tokens: TokenSource; me: Me }> {
  return { tokens, me: await identityOf(tokens) };
}

/**
 * A flag that names a person where the servers require the caller (`--requested-by`,
 * `--reviewer`) is redundant: it may only repeat the signed-in identity; anything else is refused
 * here with the rule the server would apply.
 */
export function mustBeMe(args: ParsedArgs, flag: string, me: Me, rule: string, why: string): void {
  const v = stringFlag(args, flag)?.trim();
  if (v === undefined || v === '' || v.toLowerCase() === me.name.toLowerCase()) return;
  throw new BadInputError(
    `${rule}: --${flag} "${v}" is not you: you are signed in as ${me.name}, and ${why}. ` +
      `Drop --${flag}, or sign in as ${v} (\`npx mlo login\`).`,
  );
}

export function noPositionals(args: ParsedArgs, cmd: string): void {
  if (args.positionals.length > 0)
    throw new BadInputError(
      `unexpected argument "${args.positionals[0]}" for \`mlo ${cmd}\`; see \`mlo ${cmd} --help\``,
    );
}

export function onePositional(args: ParsedArgs, cmd: string, what: string): string {
  const [first, ...more] = args.positionals;
  if (!first) throw new BadInputError(`\`mlo ${cmd}\` needs ${what}; see \`mlo ${cmd} --help\``);
  if (more.length > 0)
    throw new BadInputError(`unexpected argument "${more[0]}" for \`mlo ${cmd}\`; see \`mlo ${cmd} --help\``);
  return first;
}

export function checkModelName(name: string, flag = '--model'): string {
  if (!isModelName(name))
    throw new BadInputError(
      `${flag} "${name}" is not a model name (2-63 lowercase letters, digits or "-", starting with a letter)`,
    );
  return name;
}

/** A run argument is a workflow id when it holds a "/", else a model name. */
export function isWorkflowIdArg(arg: string): boolean {
  return arg.includes('/');
}

export type Ctx = { cfg: Config; client: Client; connection: Connection };

/**
 * Loads the configuration (the `--temporal-*` flags, the environment, the Temporal profile, the
 * dev stack: lib/infra/temporal-config.ts), connects to Temporal with the signed-in user's token
 * (or `tokens`; a configured static API key instead), runs `fn`, and always closes the connection.
 */
/**
 * The tracing client module: require() under the `mlo` command's CommonJS tsx hook, import() where
 * require cannot load TypeScript (vitest).
 */
async function observabilityClient(): Promise<typeof ObservabilityClientModule> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../lib/observability/client') as typeof ObservabilityClientModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    return import('../lib/observability/client');
  }
}

export async function withTemporal<T>(
  fn: (ctx: Ctx) => Promise<T>,
  cfg: Config = loadConfig(),
  tokens: TokenSource = userTokenSource(),
): Promise<T> {
  const { client: plain, connection } = await connectClient(cfg, tokens);
  // The tracing modules load only when OTEL_* configures an exporter.
  const client = tracesExporter() ? (await observabilityClient()).tracedClient(plain) : plain;
  try {
    return await fn({ cfg, client, connection });
  } catch (err) {
    throw asMloError(err, cfg) ?? err;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Runs `fn` with a gRPC deadline; undefined when it times out or fails (a query no worker answers). */
export async function within<T>(connection: Connection, ms: number, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await connection.withDeadline(Date.now() + ms, fn);
  } catch {
    return undefined;
  }
}

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** A socket-level failure (refused, reset, unknown host, timeout) anywhere in the cause chain. */
export function isConnectError(err: unknown): boolean {
  return causeChain(err, 10).some((e) => {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    return (
      (typeof code === 'string' && SOCKET_CODES.has(code)) ||
      name === 'TimeoutError' ||
      (Array.isArray((e as { errors?: unknown }).errors) && (e as { errors: unknown[] }).errors.some(isConnectError))
    );
  });
}

/** Maps foreign errors onto mlo's typed errors: Temporal UNAVAILABLE and socket errors are unreachable (exit 5). */
export function asMloError(err: unknown, cfg?: Config): MloError | undefined {
  if (isMloError(err)) return err;
  if (err instanceof NamespaceNotFoundError)
    return new BadInputError(
      `the Temporal namespace "${err.namespace}" does not exist at ${cfg?.temporal.address ?? 'the server'}` +
        `${cfg ? ` (namespace from ${cfg.temporal.sources.namespace})` : ''}; ` +
        'name an existing one: --temporal-namespace, MLO_TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE or the Temporal profile',
    );
  const grpc = causeChain(err, 10).find((e) => isGrpcServiceError(e));
  const code = (grpc as { code?: number } | undefined)?.code;
  if (grpc && code === 14) {
    return new UnreachableError('Temporal', cfg?.temporal.address ?? '(MLO_TEMPORAL_ADDRESS)', (grpc as Error).message);
  }
  // PERMISSION_DENIED / UNAUTHENTICATED: mlo's Temporal server refused the call; its message names the rule.
  if (grpc && (code === 7 || code === 16)) {
    const details = (grpc as { details?: string }).details || (grpc as Error).message;
    if (code === 16 || /^mlo: authentication:/.test(details))
      return new AuthError(
        'token-invalid',
        `Temporal refused the token: ${details}. Run \`npx mlo login\` to sign in again.`,
      );
    return new BadInputError(`refused by the Temporal server: ${details}`);
  }
  if (isConnectError(err)) {
    const detail = err instanceof Error ? err.message || err.name : String(err);
    return new UnreachableError('S3', cfg ? s3Where(cfg.s3) : '(MLO_S3_ENDPOINT)', detail);
  }
  // The AWS SDK's default chain found no credentials: a configuration to fix, not an outage.
  const noCredentials = causeChain(err, 10).find((e) => (e as { name?: string }).name === 'CredentialsProviderError');
  if (noCredentials)
    return new BadInputError(
      `no S3 credentials for ${cfg ? s3Where(cfg.s3) : 'S3'}: ${(noCredentials as Error).message}. ` +
        'Set MLO_S3_ACCESS_KEY_ID and MLO_S3_SECRET_ACCESS_KEY, or give the AWS default chain a source ' +
        '(AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity or SSO); `mlo doctor` checks it',
    );
  return undefined;
}
