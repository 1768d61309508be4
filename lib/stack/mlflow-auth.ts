/**
 * MLflow's built-in authentication in the dev stack (`mlflow server --app-name basic-auth`): the
 * auth config file, and the users the stack provisions through MLflow's auth REST API as admin.
 *
 * - `default_permission = READ`: every signed-in user reads everything.
 * - `mlo-registry` (the workers' account) creates the experiments, runs and registered models, so
 *   MLflow makes it their MANAGE holder; it also holds MANAGE on every experiment and registered
 *   model (`*`), which covers those created before the stack had authentication. Moving
 *   `champion` or `challenger` needs update rights on the registered model: only it has them.
 * - People: the dev users (engineers, reviewers, the admin; not the outsider) with their dev
 *   passwords (`<local part>-dev-password`, public, dev only) and nothing beyond READ.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { MlflowCredentials } from '../infra/config';
import { StackError } from '../core/errors';
import { DEV_USERS, devPassword } from '../identity/dev-users';
import { GROUPS } from '../identity/shared';

/** Seconds a checked password stays cached in each MLflow worker (PBKDF2 runs once per window). */
export const MLFLOW_AUTH_CACHE_TTL_SECONDS = 60;

/** The auth config (MLFLOW_AUTH_CONFIG_PATH). The admin password is not in it: MLflow reads it from the environment. */
export function basicAuthIni(authDb: string): string {
  return [
    '# Written by the mlo dev stack (lib/stack/mlflow-auth.ts) at each start; edits are overwritten.',
    '[mlflow]',
    'default_permission = READ',
    `database_uri = sqlite:///${authDb}`,
    'admin_username = admin',
    'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
    `auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_TTL_SECONDS}`,
    '',
  ].join('\n');
}

export function writeBasicAuthIni(file: string, authDb: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, basicAuthIni(authDb), { mode: 0o600 });
}

/** The people the dev stack gives an MLflow account (READ): everyone in an mlo group. */
export function devPeople(): MlflowCredentials[] {
  const groups = new Set<string>([GROUPS.engineers, GROUPS.reviewers, GROUPS.admins]);
  return DEV_USERS.filter((u) => u.groups.some((g) => groups.has(g))).map((u) => ({
    username: u.email,
    password: devPassword(u.email),
  }));
}

const basic = (c: MlflowCredentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

type Call = { status: number; body: string };

async function call(
  base: string,
  who: MlflowCredentials,
  method: 'GET' | 'POST' | 'PATCH',
  api: string,
  params: Record<string, string>,
): Promise<Call> {
  const url = new URL(`${base}${api}`);
  const init: RequestInit = {
    method,
    headers: { authorization: basic(who), accept: 'application/json' },
    signal: AbortSignal.timeout(30_000),
  };
  if (method === 'GET') for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  else {
    init.body = JSON.stringify(params);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text() };
}

function failed(what: string, r: Call): StackError {
  return new StackError(`MLflow provisioning: ${what} failed (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
}

/** True when MLflow accepts these credentials. */
async function signsIn(base: string, who: MlflowCredentials): Promise<boolean> {
  const r = await call(base, who, 'GET', '/api/2.0/mlflow/users/current', {});
  if (r.status === 200) return true;
  if (r.status === 401) return false;
  if (r.status === 404)
    throw new StackError(
      `MLflow at ${base} runs without authentication (it has no users API): it was started before the stack ` +
        'ran it with `--app-name basic-auth`. Restart the stack: `npm run stack -- down`, then `npm run stack -- up`.',
    );
  throw failed(`signing in as ${who.username}`, r);
}

/** Creates the user, or sets its password when it exists with another one. */
async function ensureUser(base: string, admin: MlflowCredentials, user: MlflowCredentials): Promise<void> {
  const got = await call(base, admin, 'GET', '/api/2.0/mlflow/users/get', { username: user.username });
  if (got.status === 404) {
    const r = await call(base, admin, 'POST', '/api/2.0/mlflow/users/create', { ...user });
    if (r.status !== 200) throw failed(`creating the user ${user.username}`, r);
    return;
  }
  if (got.status !== 200) throw failed(`reading the user ${user.username}`, got);
  if (await signsIn(base, user)) return;
  const r = await call(base, admin, 'PATCH', '/api/2.0/mlflow/users/update-password', { ...user });
  if (r.status !== 200) throw failed(`setting the password of ${user.username}`, r);
}

/** A grant of `permission` on every resource of the type; one that exists already is left as it is. */
async function grantAll(
  base: string,
  admin: MlflowCredentials,
  username: string,
  resourceType: 'experiment' | 'registered_model',
  permission: 'MANAGE',
): Promise<void> {
  const r = await call(base, admin, 'POST', '/api/3.0/mlflow/users/permissions/grant', {
    username,
    resource_type: resourceType,
    resource_id: '*',
    permission,
  });
  if (r.status === 200 || (r.status === 400 && r.body.includes('RESOURCE_ALREADY_EXISTS'))) return;
  throw failed(`granting ${username} ${permission} on every ${resourceType}`, r);
}

/**
 * Provisions MLflow's users, idempotently: checks the admin password, then the registry's
 * account (MANAGE on every experiment and registered model) and the people (READ).
 */
export async function provisionMlflow(opts: {
  trackingUri: string;
  admin: MlflowCredentials;
  registry: MlflowCredentials;
  people: MlflowCredentials[];
  authDb: string;
}): Promise<void> {
  const { trackingUri: base, admin } = opts;
  if (!(await signsIn(base, admin)))
    throw new StackError(
      `MLflow at ${base} refused the admin password. MLflow set it when it created ${opts.authDb}; ` +
        'set MLFLOW_AUTH_ADMIN_PASSWORD to that password, or stop the stack and delete that file (its users are made again).',
    );
  await ensureUser(base, admin, opts.registry);
  await grantAll(base, admin, opts.registry.username, 'experiment', 'MANAGE');
  await grantAll(base, admin, opts.registry.username, 'registered_model', 'MANAGE');
  for (const person of opts.people) await ensureUser(base, admin, person);
}
