/**
 * Authenticated connections to Temporal. Every caller sends an OIDC access token as
 * `authorization: Bearer …` (the SDKs' `apiKey`): people the token of `mlo login` (or MLO_TOKEN),
 * services a client-credentials token. The token is fetched before connecting, so a missing sign-in
 * or an unreachable identity provider fails first, and renewed while the connection is open.
 */
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';
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
export async function connectClient(
  cfg: Config,
  tokens: TokenSource,
): Promise<{ client: Client; connection: Connection }> {
  let token = await tokens.getAccessToken();
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: cfg.temporal.address,
      connectTimeout: '5s',
      tls: cfg.temporal.tls,
      apiKey: () => token,
    });
  } catch (err) {
    throw new UnreachableError('Temporal', cfg.temporal.address, err instanceof Error ? err.message : String(err));
  }
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
  const token = await tokens.getAccessToken();
  const connection = await NativeConnection.connect({
    address: cfg.temporal.address,
    tls: cfg.temporal.tls,
    apiKey: token,
  });
  const stop = keepTokenFresh(tokens, token, (t) => connection.setApiKey(t), onRenewalError);
  const close = connection.close.bind(connection);
  connection.close = async () => {
    stop();
    await close();
  };
  return connection;
}
