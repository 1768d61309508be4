/**
 * The dev stack's own secrets: MLflow's admin password, the password of the registry's service
 * account and the key MLflow signs its CSRF tokens and sessions with. Each comes from its
 * variable when set (`MLFLOW_AUTH_ADMIN_PASSWORD`, `MLO_MLFLOW_REGISTRY_PASSWORD`,
 * `MLFLOW_FLASK_SERVER_SECRET_KEY`); otherwise from `<stack dir>/secrets.json`, which the stack
 * fills with random values the first time it needs them (mode 0600, never printed). They reach
 * only the processes that use them: the MLflow server (admin password, key), the stack's
 * provisioning (admin, registry) and the workers (registry).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { MlflowCredentials, StackConfig } from '../infra/config';
import { StackError } from '../core/errors';

/** MLflow's admin user (`admin_username` of the auth config). */
export const MLFLOW_ADMIN_USERNAME = 'admin';
/** The registry's MLflow service account: it creates the experiments, runs and registered models. */
export const MLFLOW_REGISTRY_USERNAME = 'mlo-registry';

type SecretsFile = { mlflowAdminPassword: string; mlflowRegistryPassword: string; mlflowFlaskSecretKey: string };

export function secretsFile(stack: Pick<StackConfig, 'dir'>): string {
  return path.join(stack.dir, 'secrets.json');
}

function readSecrets(file: string): Partial<SecretsFile> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StackError(`cannot read the dev stack's secrets file ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as Partial<SecretsFile>;
  } catch {
    throw new StackError(
      `the dev stack's secrets file ${file} is not JSON. Delete it (the stack makes a new one, ` +
        'and then also delete <stack dir>/mlflow/basic_auth.db, whose admin password it held).',
    );
  }
}

const random = () => crypto.randomBytes(24).toString('base64url');

/**
 * The dev stack's generated secrets, made once (random, 0600) and then read back. With
 * `create: false` a missing file gives undefined.
 */
export function devSecrets(stack: Pick<StackConfig, 'dir'>, opts: { create: boolean }): SecretsFile | undefined {
  const file = secretsFile(stack);
  const have = readSecrets(file);
  if (have?.mlflowAdminPassword && have.mlflowRegistryPassword && have.mlflowFlaskSecretKey) return have as SecretsFile;
  if (!opts.create) return undefined;
  const next: SecretsFile = {
    mlflowAdminPassword: have?.mlflowAdminPassword || random(),
    mlflowRegistryPassword: have?.mlflowRegistryPassword || random(),
    mlflowFlaskSecretKey: have?.mlflowFlaskSecretKey || random(),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return next;
}

type Env = Record<string, string | undefined>;

/** MLflow's admin password: `MLFLOW_AUTH_ADMIN_PASSWORD`, else the stack's generated one. */
export function mlflowAdminPassword(stack: Pick<StackConfig, 'dir'>, env: Env = process.env): string {
  return env.MLFLOW_AUTH_ADMIN_PASSWORD || (devSecrets(stack, { create: true }) as SecretsFile).mlflowAdminPassword;
}

/** The key of MLflow's Flask sessions and CSRF tokens: `MLFLOW_FLASK_SERVER_SECRET_KEY`, else the stack's. */
export function mlflowFlaskSecretKey(stack: Pick<StackConfig, 'dir'>, env: Env = process.env): string {
  return (
    env.MLFLOW_FLASK_SERVER_SECRET_KEY || (devSecrets(stack, { create: true }) as SecretsFile).mlflowFlaskSecretKey
  );
}

/**
 * The registry's MLflow account (`mlo-registry`): the password from `MLO_MLFLOW_REGISTRY_PASSWORD`,
 * else the dev stack's generated one (`create` makes it when missing; without it, a stack that
 * never ran gives undefined).
 */
export function registryMlflowCredentials(
  stack: Pick<StackConfig, 'dir'>,
  opts: { create?: boolean; env?: Env } = {},
): MlflowCredentials | undefined {
  const env = opts.env ?? process.env;
  const password =
    env.MLO_MLFLOW_REGISTRY_PASSWORD || devSecrets(stack, { create: opts.create ?? false })?.mlflowRegistryPassword;
  return password ? { username: MLFLOW_REGISTRY_USERNAME, password } : undefined;
}
