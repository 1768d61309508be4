/**
 * How a client authenticates to MLflow and which certificate authorities it trusts.
 *
 * Authentication, in order: the client's own `token` or `credentials` option (`null`: anonymous);
 * a bearer token from `MLFLOW_TRACKING_TOKEN` (MLflow's own variable; for a server behind an
 * OAuth proxy or a managed MLflow); the Basic credentials this process last configured for the same
 * server (`MlflowClient.fromConfig` with `config.mlflow.credentials`, or `useMlflowCredentials`), so
 * that every client a worker makes signs in as the registry's account; MLflow's own variables
 * `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` (HTTP Basic, for
 * `mlflow server --app-name basic-auth`).
 *
 * Trust: a PEM bundle from `MLO_MLFLOW_CA_BUNDLE` or `MLFLOW_TRACKING_SERVER_CERT_PATH` (MLflow's)
 * is what the server's certificate must chain to (an undici Agent with `connect.ca`, this client's
 * requests only); none: the system's roots.
 */
import fs from 'node:fs';
import type { MlflowCredentials } from '../../infra/config';
import { ConfigError } from '../../core/errors';

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

/** The Authorization header value of a bearer token. */
export function bearerAuthorization(token: string): string {
  return `Bearer ${token}`;
}

/** MLFLOW_TRACKING_TOKEN, when set. */
export function defaultMlflowToken(env: Record<string, string | undefined> = process.env): string | undefined {
  return env.MLFLOW_TRACKING_TOKEN || undefined;
}

/** The CA bundle a client trusts by default: MLO_MLFLOW_CA_BUNDLE, else MLFLOW_TRACKING_SERVER_CERT_PATH. */
export function defaultMlflowCaBundle(env: Record<string, string | undefined> = process.env): string | undefined {
  return env.MLO_MLFLOW_CA_BUNDLE || env.MLFLOW_TRACKING_SERVER_CERT_PATH || undefined;
}

/** The PEM text of a CA bundle; a missing or non-PEM file is a ConfigError naming it. */
export function readCaBundle(file: string): string {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('The MLflow CA bundle cannot be read', [
      `MLO_MLFLOW_CA_BUNDLE / MLFLOW_TRACKING_SERVER_CERT_PATH: "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; ` +
        'point it at a PEM file of the CA certificates that issued the MLflow server certificate',
    ]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError('The MLflow CA bundle holds no certificate', [
      `MLO_MLFLOW_CA_BUNDLE / MLFLOW_TRACKING_SERVER_CERT_PATH: "${file}" holds no PEM certificate ` +
        '("-----BEGIN CERTIFICATE-----"); convert it with `openssl x509 -inform der -in <file> -out <file>.pem`',
    ]);
  return pem;
}

type DispatcherClass = new (opts: { connect: { ca: string } }) => object;

/**
 * The Agent class of the undici that Node's own fetch runs on (its global dispatcher's class):
 * a dispatcher made from it is one that fetch accepts. Created by a first fetch of a data: URL.
 */
async function fetchAgentClass(): Promise<DispatcherClass> {
  const key = Symbol.for('undici.globalDispatcher.1');
  const g = globalThis as unknown as Record<symbol, { constructor?: DispatcherClass } | undefined>;
  if (!g[key]) await (await fetch('data:,')).arrayBuffer();
  const ctor = g[key]?.constructor;
  if (typeof ctor !== 'function') throw new Error("this Node.js exposes no Agent for fetch's dispatcher");
  return ctor;
}

/**
 * fetch that trusts exactly the CAs of `pem` for TLS (an undici Agent with `connect.ca`), for this
 * caller's requests only; the process's other connections keep the system's roots.
 */
export function fetchTrusting(pem: string): typeof fetch {
  let agent: Promise<object> | undefined;
  return async (input, init) => {
    agent ??= fetchAgentClass().then((Agent) => new Agent({ connect: { ca: pem } }));
    return fetch(input, { ...init, dispatcher: await agent } as RequestInit);
  };
}
