/**
 * Authenticated connections to Temporal, with the settings of lib/infra/temporal-config.ts (address,
 * namespace, TLS or mTLS, gRPC metadata: flags, environment, Temporal profile, dev stack). Every
 * caller sends an OIDC access token as `authorization: Bearer …` (the SDKs' `apiKey`): people the
 * token of `mlo login` (or MLO_TOKEN), services a client-credentials token. The token is fetched
 * before connecting, so a missing sign-in or an unreachable identity provider fails first, and
 * renewed while the connection is open. A static API key configured through Temporal's environment
 * configuration (TEMPORAL_API_KEY or the profile's api_key) is sent instead, as is, for a frontend
 * that authenticates API keys.
 */
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';
import type { TemporalConnectionConfig } from './temporal-config';
import { UnreachableError } from '../core/errors';
import type { TokenSource } from '../identity/oidc-client';

/** How often an open connection asks its token source for the current token (which renews it when stale). */
export const TOKEN_CHECK_MS = 30_000;

/**
 * Keeps `apply` fed with the token source's current token: every TOKEN_CHECK_MS (a token source
 * renews a minute before expiry, so a token in use is never stale). A failed renewal keeps the
 * last token and is reported once per failure streak. Returns the function that stops it.
 */
export function keepTokenFresh(
  tokens: TokenSource,
  first: string,
  apply: (token: string) => void | Promise<void>,
  onError: (err: unknown) => void = () => undefined,
  everyMs = TOKEN_CHECK_MS,
): () => void {
  let last = first;
  let failing = false;
  const timer = setInterval(() => {
    tokens.getAccessToken().then(
      async (token) => {
        failing = false;
        if (token === last) return;
        last = token;
        await apply(token);
      },
      (err: unknown) => {
        if (!failing) onError(err);
        failing = true;
      },
    );
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Opens a client connection to Temporal that authenticates with `tokens` (fetched first: an
 * AuthError or an unreachable provider is thrown before connecting). An unreachable server is
 * an UnreachableError. Closing the connection stops the renewal.
 */
/** The transport settings every connection to the configured frontend uses (no credential). */
export function transportOptions(t: TemporalConnectionConfig): {
  address: string;
  tls: TemporalConnectionConfig['tls'];
  metadata?: Record<string, string>;
} {
  return { address: t.address, tls: t.tls, ...(t.metadata ? { metadata: t.metadata } : {}) };
}

export async function connectClient(
  cfg: Config,
  tokens: TokenSource,
  opts: { connectTimeout?: string } = {},
): Promise<{ client: Client; connection: Connection }> {
  const staticKey = cfg.temporal.apiKey;
  let token = staticKey ?? (await tokens.getAccessToken());
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...transportOptions(cfg.temporal),
      connectTimeout: opts.connectTimeout ?? '5s',
      apiKey: () => token,
    });
  } catch (err) {
    throw new UnreachableError('Temporal', cfg.temporal.address, err instanceof Error ? err.message : String(err));
  }
  if (staticKey) return { client: new Client({ connection, namespace: cfg.temporal.namespace }), connection };
  const stop = keepTokenFresh(tokens, token, (t) => {
    token = t;
  });
  const close = connection.close.bind(connection);
  connection.close = async () => {
    stop();
    await close();
  };
  return { client: new Client({ connection, namespace: cfg.temporal.namespace }), connection };
}

/**
 * A worker's native connection, authenticated with a service's token and renewed with
 * `setApiKey` before it expires. Closing it stops the renewal.
 */
export async function connectWorker(
  cfg: Config,
  tokens: TokenSource,
  onRenewalError?: (err: unknown) => void,
): Promise<NativeConnection> {
  const { NativeConnection } = await import('@temporalio/worker');
  const staticKey = cfg.temporal.apiKey;
  const token = staticKey ?? (await tokens.getAccessToken());
  const connection = await NativeConnection.connect({ ...transportOptions(cfg.temporal), apiKey: token });
  if (staticKey) return connection;
  const stop = keepTokenFresh(tokens, token, (t) => connection.setApiKey(t), onRenewalError);
  const close = connection.close.bind(connection);
  connection.close = async () => {
    stop();
    await close();
  };
  return connection;
}
