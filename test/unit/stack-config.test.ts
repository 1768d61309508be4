/**
 * The dev stack's pure parts: what each process's environment keeps, the key of the server
 * build, MLflow's auth config, the generated secrets file, and the directories of deployed specs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { partEnv, stackIssuer, stackModelsDirs, stackPaths } from '../../lib/stack/stack';
import { serverSourceHash } from '../../lib/stack/tools';
import { basicAuthIni, devPeople } from '../../lib/stack/mlflow-auth';
import { devSecrets, mlflowAdminPassword, registryMlflowCredentials, secretsFile } from '../../lib/stack/secrets';
import { MODELS_DIR } from '../../lib/spec/model-spec';

const dirs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-stack-unit-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('dev stack', () => {
  it("a part's environment keeps no secret unless the part adds it back", () => {
    const env = partEnv(
      { MLFLOW_AUTH_ADMIN_PASSWORD: 'for-mlflow', DROPPED: undefined },
      {
        PATH: '/usr/bin',
        MLO_TEMPORAL_PORT: '7233',
        MLFLOW_AUTH_ADMIN_PASSWORD: 'from-the-shell',
        MLO_MLFLOW_REGISTRY_PASSWORD: 'r',
        MLFLOW_TRACKING_PASSWORD: 't',
        MLO_ORCHESTRATOR_CLIENT_SECRET: 'o',
        MLO_UI_OIDC_CLIENT_SECRET: 'u',
        MLO_TOKEN: 'jwt',
        AWS_SECRET_ACCESS_KEY: 'a',
        DROPPED: 'x',
      },
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      MLO_TEMPORAL_PORT: '7233',
      MLFLOW_AUTH_ADMIN_PASSWORD: 'for-mlflow',
      DROPPED: 'x',
    });
  });

  it("keys the server's build by its sources: go.mod, go.sum and the non-test .go files", () => {
    const d = tmp();
    fs.mkdirSync(path.join(d, 'internal', 'auth'), { recursive: true });
    const write = (f: string, body: string) => fs.writeFileSync(path.join(d, f), body);
    write('go.mod', 'module x\n');
    write('go.sum', '');
    write('main.go', 'package main\n');
    write('internal/auth/a.go', 'package auth\n');
    const h = serverSourceHash(d);
    expect(h).toMatch(/^[0-9a-f]{12}$/);
    write('main_test.go', 'package main\n');
    write('README.md', 'docs');
    expect(serverSourceHash(d)).toBe(h);
    write('internal/auth/a.go', 'package auth // changed\n');
    expect(serverSourceHash(d)).not.toBe(h);
  });

  it("writes MLflow's auth config: READ by default, its own SQLite store, admin user, a cache TTL, no password", () => {
    const ini = basicAuthIni('/s/mlflow/basic_auth.db');
    expect(ini).toContain('[mlflow]\ndefault_permission = READ\n');
    expect(ini).toContain('database_uri = sqlite:////s/mlflow/basic_auth.db\n');
    expect(ini).toContain('admin_username = admin\n');
    expect(ini).toContain('auth_cache_ttl_seconds = 60\n');
    expect(ini).not.toContain('admin_password');
    // People with an MLflow account: the dev users of mlo's groups, not the outsider.
    const people = devPeople().map((p) => p.username);
    expect(people).toEqual(expect.arrayContaining(['erin@example.com', 'alice@example.com', 'olivia@example.com']));
    expect(people).not.toContain('mallory@example.com');
  });

  it('generates its secrets once, into a 0600 file, and a variable that is set wins', () => {
    const stack = { dir: tmp() };
    expect(devSecrets(stack, { create: false })).toBeUndefined();
    expect(registryMlflowCredentials(stack, { env: {} })).toBeUndefined();
    const first = devSecrets(stack, { create: true });
    expect(fs.statSync(secretsFile(stack)).mode & 0o777).toBe(0o600);
    expect(first?.mlflowAdminPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(devSecrets(stack, { create: true })).toEqual(first);
    expect(mlflowAdminPassword(stack, {})).toBe(first?.mlflowAdminPassword);
    expect(mlflowAdminPassword(stack, { MLFLOW_AUTH_ADMIN_PASSWORD: 'from-env-123' })).toBe('from-env-123');
    expect(registryMlflowCredentials(stack, { env: {} })).toEqual({
      username: 'mlo-registry',
      password: first?.mlflowRegistryPassword,
    });
    expect(registryMlflowCredentials(stack, { env: { MLO_MLFLOW_REGISTRY_PASSWORD: 'set-in-env' } })?.password).toBe(
      'set-in-env',
    );
  });

  it("the Temporal server reads the deployed specs (MLO_MODELS_DIR or models/) and the stack's own models/", () => {
    const stack = { dir: '/s', oidcPort: 17380 };
    expect(stackModelsDirs(stack, {})).toEqual([MODELS_DIR, '/s/models']);
    expect(stackModelsDirs(stack, { MLO_MODELS_DIR: '/deployed/specs' })).toEqual(['/deployed/specs', '/s/models']);
    expect(stackPaths(stack).localModels).toBe('/s/models');
    expect(stackIssuer(stack)).toBe('http://127.0.0.1:17380');
  });
});
