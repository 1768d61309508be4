/**
 * The identities tests act as toward the dev stack, all real tokens from its OIDC provider: dev
 * users signed in without a browser (devSignIn, dev only) and services with client credentials
 * (their dev secrets). Connections to the stack's Temporal authenticate with them.
 */
import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfig, type Config } from '../../lib/infra/config';
import { connectClient, connectWorker } from '../../lib/infra/temporal';
import {
  clientCredentialsToken,
  devUserTokenSource,
  serviceCredentials,
  type TokenSource,
} from '../../lib/identity/oidc-client';
import { devPassword } from '../../lib/identity/dev-users';
import { CLIENT_IDS, type ServiceClientId } from '../../lib/identity/shared';

const users = new Map<string, TokenSource>();

/** A dev user's tokens (`<local part>-dev-password`), signed in once per test file and renewed. */
export function userTokens(email: string): TokenSource {
  let t = users.get(email);
  if (!t) {
    t = devUserTokenSource(email, devPassword(email));
    users.set(email, t);
  }
  return t;
}

/** A dev user's current access token, e.g. for MLO_TOKEN of a CLI the test runs. */
export function userToken(email: string): Promise<string> {
  return userTokens(email).getAccessToken();
}

/** A service's client-credentials tokens (dev secret unless its MLO_<NAME>_CLIENT_SECRET is set). */
export function serviceTokens(clientId: ServiceClientId): TokenSource {
  return clientCredentialsToken(serviceCredentials(clientId));
}

/** A client of the dev stack's Temporal as `tokens` (default: the orchestrator service). */
export async function stackClient(
  tokens: TokenSource = serviceTokens(CLIENT_IDS.orchestrator),
  cfg: Config = loadConfig(),
): Promise<{ client: Client; connection: Connection }> {
  return connectClient(cfg, tokens);
}

/** A worker connection to the dev stack's Temporal as the orchestrator service (workers must be services). */
export function stackWorkerConnection(cfg: Config = loadConfig()): Promise<NativeConnection> {
  return connectWorker(cfg, serviceTokens(CLIENT_IDS.orchestrator));
}
