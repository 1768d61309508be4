/**
 * What the `mlo` commands share: configuration, the Temporal connection (closed in
 * `finally`), the models directory, day and identity flags, run-id parsing, and the mapping
 * of foreign errors (gRPC, sockets) onto mlo's typed errors.
 */
import os from 'node:os';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { isGrpcServiceError } from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import { loadConfig, type Config } from '../lib/infra/config';
import { causeChain } from '../lib/core/causes';
import { BadInputError, isMloError, UnreachableError, type MloError } from '../lib/core/errors';
import { MODELS_DIR } from '../lib/spec/model-spec';
import { connectClient } from '../lib/infra/temporal';
import { isDay } from '../lib/core/windows';
import { stringFlag } from './args';
import type { FlagSpec, ParsedArgs } from './command';
import { isModelName } from '../lib/core/ids';

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

export function todayUtc(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** --requested-by, else $MLO_USER, else the OS user name. */
export function requester(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string {
  const v = stringFlag(args, 'requested-by') ?? (env.MLO_USER || undefined);
  if (v) return v;
  try {
    return os.userInfo().username;
  } catch {
    return env.USER ?? 'unknown';
  }
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

/** Loads the configuration, connects to Temporal, runs `fn`, and always closes the connection. */
export async function withTemporal<T>(fn: (ctx: Ctx) => Promise<T>, cfg: Config = loadConfig()): Promise<T> {
  const { client, connection } = await connectClient(cfg);
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
      `the Temporal namespace "${err.namespace}" does not exist at ${cfg?.temporal.address ?? 'the server'}; ` +
        'check MLO_TEMPORAL_NAMESPACE',
    );
  const grpc = causeChain(err, 10).find((e) => isGrpcServiceError(e));
  if (grpc && (grpc as { code?: number }).code === 14) {
    return new UnreachableError('Temporal', cfg?.temporal.address ?? '(MLO_TEMPORAL_ADDRESS)', (grpc as Error).message);
  }
  if (isConnectError(err)) {
    const detail = err instanceof Error ? err.message || err.name : String(err);
    return new UnreachableError('S3', cfg?.s3.endpoint ?? '(MLO_S3_ENDPOINT)', detail);
  }
  return undefined;
}
