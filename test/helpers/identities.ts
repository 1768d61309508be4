/**
 * Who a test acts as, against the dev stack's authenticated Temporal server: dev users signed in
 * at the stack's dev OIDC provider (`devSignIn`, the real authorization-code flow driven over
 * HTTP) and services with their client-credentials tokens. Each identity gets its own
 * connection, so the server sees exactly the token of the identity the test names.
 *
 * Also: reading a refusal out of the SDK's errors, and model specs deployed to the stack (its
 * Temporal server reads reviewers from `<stack dir>/models` besides `models/`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, isGrpcServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import type { Config, MlflowCredentials } from '../../lib/infra/config';
import { loadOidcConfig } from '../../lib/identity/oidc-client';
import { serviceTokens, userToken } from './identity';
import type { ServiceClientId } from '../../lib/identity/shared';
import { parseSpec, specHash, MODELS_DIR, type ModelSpec } from '../../lib/spec/model-spec';
import { stackPaths } from '../../lib/stack/stack';
import { registryMlflowCredentials } from '../../lib/stack/secrets';
import { waitFor } from './wait';

/** The dev users the tests act as (lib/identity/README.md). */
export const PEOPLE = {
  erin: 'erin@example.com', // engineer
  frank: 'frank@example.com', // engineer
  alice: 'alice@example.com', // reviewer
  bob: 'bob@example.com', // reviewer
  carol: 'carol@example.com', // reviewer
  olivia: 'olivia@example.com', // admin
  mallory: 'mallory@example.com', // outsider: no group
} as const;

/** The issuer the stack's Temporal server trusts: `MLO_OIDC_ISSUER`, else the stack's dev provider (`MLO_OIDC_PORT`). */
export function oidcIssuer(): string {
  return loadOidcConfig().issuer;
}

/** A dev user's access token (aud `mlo`, with e-mail and groups), signed in once per test file and renewed. */
export function personToken(email: string): Promise<string> {
  return userToken(email);
}

/** A service's client-credentials token (`mlo-orchestrator`, `mlo-scheduler`, …), with its dev or configured secret. */
export function serviceToken(clientId: ServiceClientId): Promise<string> {
  return serviceTokens(clientId).getAccessToken();
}

/** A client connection that sends `token` (none: no authorization header at all). */
export async function connectAs(
  cfg: Config,
  token: string | undefined,
): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({
    address: cfg.temporal.address,
    tls: cfg.temporal.tls,
    connectTimeout: '5s',
    ...(token === undefined ? {} : { apiKey: token }),
  });
  return { client: new Client({ connection, namespace: cfg.temporal.namespace }), connection };
}

/** A worker connection that sends `token`. */
export function nativeConnectAs(cfg: Config, token: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address: cfg.temporal.address, tls: cfg.temporal.tls, apiKey: token });
}

/** Connections opened per identity, closed together. */
export class Identities {
  private readonly open = new Map<string, Promise<{ client: Client; connection: Connection }>>();

  constructor(private readonly cfg: Config) {}

  /** The client of a dev user (by e-mail) or a service (by client id), connected once. */
  client(who: string): Promise<Client> {
    let c = this.open.get(who);
    if (!c) {
      const token = who.includes('@') ? personToken(who) : serviceToken(who as ServiceClientId);
      c = token.then((t) => connectAs(this.cfg, t));
      this.open.set(who, c);
    }
    return c.then((x) => x.client);
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((c) => c.then((x) => x.connection.close()).catch(() => undefined)));
  }
}

/** The gRPC code and message of the server's answer somewhere in an SDK error's cause chain. */
export function serverAnswer(err: unknown): { code?: number; message: string } {
  const messages: string[] = [];
  let code: number | undefined;
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    if (isGrpcServiceError(e)) {
      code ??= e.code;
      messages.push(e.details);
    }
    if (e instanceof Error) messages.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  const mlo = messages.find((m) => m.includes('mlo: '));
  return { code, message: (mlo ?? messages[0] ?? String(err)).replace(/^.*?(mlo: )/s, '$1') };
}

/** gRPC status PERMISSION_DENIED. */
export const PERMISSION_DENIED = 7;
/** gRPC status NOT_FOUND. */
export const NOT_FOUND = 5;

/**
 * Awaits a call the server must refuse under `rule`; returns the refusal message (from
 * `mlo: <rule>:` on). Fails when the call succeeds, or fails for another reason.
 */
export async function refusedBy(rule: string, call: Promise<unknown>): Promise<string> {
  const outcome = await call.then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected the server to refuse the call under "${rule}", but it was allowed`);
  const { code, message } = serverAnswer(outcome.err);
  if (code !== PERMISSION_DENIED || !message.startsWith(`mlo: ${rule}: `))
    throw new Error(
      `expected PERMISSION_DENIED "mlo: ${rule}: …", got ${code === undefined ? 'no gRPC status' : `gRPC code ${code}`}: ${message}`,
      { cause: outcome.err },
    );
  return message;
}

/** The MLflow account of the registry (`mlo-registry`), from the stack's secrets or MLO_MLFLOW_REGISTRY_PASSWORD. */
export function registryCredentials(cfg: Config): MlflowCredentials {
  const c = cfg.mlflow.credentials ?? registryMlflowCredentials(cfg.stack);
  if (!c)
    throw new Error(
      `no MLflow credentials for the registry: set MLFLOW_TRACKING_USERNAME/PASSWORD or MLO_MLFLOW_REGISTRY_PASSWORD, or run \`npm run stack -- up\` (it writes ${path.join(cfg.stack.dir, 'secrets.json')})`,
    );
  return c;
}

/** A model spec deployed for one test file: its name, spec, hash and how to remove it. */
export type DeployedSpec = { name: string; spec: ModelSpec; specHash: string; files: string[]; remove(): void };

/**
 * Deploys a model spec (fraud-detector's, under a unique name, with these reviewers) where both
 * sides read it: the stack's own model directory, where its Temporal server reads reviewers from,
 * and `workersModelsDir`, the test workers' deployed specs (`modelsDir` of their activity deps),
 * which the promotion loads its reviewers and deadline from.
 */
export function deployModelSpec(
  cfg: Config,
  prefix: string,
  reviewers: string[],
  workersModelsDir: string,
): DeployedSpec {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  const base = parseYaml(fs.readFileSync(path.join(MODELS_DIR, 'fraud-detector.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  const doc = {
    ...base,
    name,
    promotion: { ...(base.promotion as Record<string, unknown>), reviewers },
  };
  const dir = stackPaths(cfg.stack).localModels;
  if (!fs.existsSync(dir))
    throw new Error(
      `the dev stack's model directory ${dir} is missing: the stack at ${cfg.stack.dir} is not up (\`npm run stack -- up\`)`,
    );
  const text = `# Deployed by an mlo test for the length of one test file.\n${toYaml(doc)}`;
  const file = path.join(dir, `${name}.yaml`);
  const files = [file, path.join(workersModelsDir, `${name}.yaml`)];
  const spec = parseSpec(text, file);
  for (const f of files) fs.writeFileSync(f, text);
  const remove = () => files.forEach((f) => fs.rmSync(f, { force: true }));
  return { name, spec, specHash: specHash(spec), files, remove };
}

/**
 * Waits until the Temporal server knows the deployed spec's reviewers: a reviewer's signal to
 * the (not running) promotion of the model passes the authorizer and finds no workflow, where
 * an unknown model is refused under "reviewers". Sends nothing to any workflow.
 */
export async function waitForSpecKnown(reviewer: Client, model: string, reviewerEmail: string): Promise<void> {
  await waitFor(
    `the Temporal server to read the reviewers of ${model} from the stack's model directory`,
    async () => {
      const err = await reviewer.workflow
        .getHandle(`promotion/${model}`)
        .signal('rejectSignal', { reviewer: reviewerEmail, reason: 'probe' })
        .then(
          () => new Error(`a signal reached promotion/${model}, which no test started`),
          (e: unknown) => e,
        );
      const answer = serverAnswer(err);
      if (answer.code === PERMISSION_DENIED && answer.message.includes('has no deployed spec')) return undefined;
      if (err instanceof WorkflowNotFoundError || answer.code === NOT_FOUND) return true;
      throw err;
    },
    20_000,
    { rethrow: true },
  );
}
