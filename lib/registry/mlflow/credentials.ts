/**
 * Which MLflow user a client signs in as (HTTP Basic, for `mlflow server --app-name basic-auth`).
 * In order: the client's own `credentials` option (`null`: anonymous); the credentials this process
 * last configured for the same server (`MlflowClient.fromConfig` with `config.mlflow.credentials`,
 * or `useMlflowCredentials`), so that every client a worker makes signs in as the registry's
 * account; MLflow's own variables `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`.
 */
import type { MlflowCredentials } from '../../infra/config';

const byServer = new Map<string, MlflowCredentials>();

function serverOf(trackingUri: string): string {
  try {
    const u = new URL(trackingUri);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return trackingUri;
  }
}

/** Clients of this server made later in this process without their own credentials sign in with these. */
export function useMlflowCredentials(trackingUri: string, credentials: MlflowCredentials): void {
  byServer.set(serverOf(trackingUri), credentials);
}

/** The credentials a client of `trackingUri` uses when it names none (see the module comment). */
export function defaultMlflowCredentials(
  trackingUri: string,
  env: Record<string, string | undefined> = process.env,
): MlflowCredentials | undefined {
  const known = byServer.get(serverOf(trackingUri));
  if (known) return known;
  const username = env.MLFLOW_TRACKING_USERNAME;
  const password = env.MLFLOW_TRACKING_PASSWORD;
  return username && password ? { username, password } : undefined;
}

/** The Authorization header value of Basic credentials. */
export function basicAuthorization(c: MlflowCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
