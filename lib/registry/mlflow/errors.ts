/**
 * The errors of the MLflow client: `MlflowError` with a `kind` discriminator and one subclass per
 * kind, the mapping of MLflow's `error_code`s and HTTP statuses to kinds, and `isRetryable`, which
 * says whether trying the same call again later can help.
 */
import { EXIT_CODES, type ExitCode, MloError } from '../../core/errors';

export type MlflowErrorKind = 'not_found' | 'already_exists' | 'invalid_input' | 'unavailable' | 'other';

export type MlflowErrorInit = {
  status?: number | undefined;
  errorCode?: string | undefined;
  method: string;
  endpoint: string;
  serverMessage?: string | undefined;
  cause?: unknown;
};

/**
 * Any failure of an MLflow call. `kind` is the discriminator; subclasses exist per kind and
 * differ only in `name`, `code`, `exitCode` and `kind`.
 */
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
  override name = 'MlflowNotFoundError';
}

export class MlflowAlreadyExistsError extends MlflowError {
  override readonly code: string = 'MLFLOW_ALREADY_EXISTS';
  override readonly exitCode: ExitCode = EXIT_CODES.badInput;
  override readonly kind: MlflowErrorKind = 'already_exists';
  override name = 'MlflowAlreadyExistsError';
}

export class MlflowInvalidInputError extends MlflowError {
  override readonly code: string = 'MLFLOW_INVALID_INPUT';
  override readonly exitCode: ExitCode = EXIT_CODES.badInput;
  override readonly kind: MlflowErrorKind = 'invalid_input';
  override name = 'MlflowInvalidInputError';
}

/** Retries ran out on connection errors, timeouts, 5xx or 429. Retryable later. */
export class MlflowUnavailableError extends MlflowError {
  override readonly code: string = 'MLFLOW_UNAVAILABLE';
  override readonly exitCode: ExitCode = EXIT_CODES.unreachable;
  override readonly kind: MlflowErrorKind = 'unavailable';
  override name = 'MlflowUnavailableError';
  constructor(
    message: string,
    init: MlflowErrorInit,
    readonly attempts: number,
  ) {
    super(message, init);
  }
}

/** Invalid input caught by the client itself, before any request (no method, no endpoint). */
export function invalidInput(message: string): MlflowInvalidInputError {
  return new MlflowInvalidInputError(message, { method: '', endpoint: '' });
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

/** The kind of a final (non-retried) error answer. */
export function kindOf(status: number | undefined, errorCode: string | undefined): MlflowErrorKind {
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

export function makeError(kind: MlflowErrorKind, message: string, init: MlflowErrorInit): MlflowError {
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

export function isNotFound(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.kind === 'not_found';
}
export function isAlreadyExists(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.kind === 'already_exists';
}

export function errName(err: unknown): string | undefined {
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
function isAbortError(err: unknown): boolean {
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

/** One line about a thrown error: name, message, its cause's message and the error code. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err) ?? errCode(err.cause);
    const causeMsg = err.cause instanceof Error && err.cause.message !== err.message ? `: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${causeMsg}${code && !causeMsg.includes(code) ? ` (${code})` : ''}`;
  }
  return String(err);
}
