import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import { ConfigError } from '../../lib/core/errors';
import { devStackProfileToml, describeTemporalConfig } from '../../lib/infra/temporal-config';
import { makeCa, makeLeaf } from '../helpers/tls-certs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-envconfig-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function profileFile(name: string, toml: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, toml);
  return file;
}

const PROD = profileFile(
  'prod.toml',
  [
    '[profile.default]',
    'address = "profile-default.example.com:7233"',
    'namespace = "from-default-profile"',
    '',
    '[profile.prod]',
    'address = "temporal.prod.example.com:7233"',
    'namespace = "ml-prod"',
    '',
  ].join('\n'),
);

/** An environment with no user configuration file (HOME is an empty directory). */
const base = { HOME: dir };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('Temporal connection settings: flag > environment > profile > dev stack', () => {
  it('the dev stack is the last layer: loopback, plaintext, namespace default', () => {
    const t = loadConfig({ ...base, MLO_TEMPORAL_PORT: '17233' }).temporal;
    expect(t).toMatchObject({ address: '127.0.0.1:17233', namespace: 'default', tls: false });
    expect(t.sources).toEqual({ address: 'dev stack', namespace: 'dev stack', tls: 'dev stack' });
    expect(t.apiKey).toBeUndefined();
  });

  it('a profile (TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE) beats the dev stack, and its address turns TLS on', () => {
    const t = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: PROD, TEMPORAL_PROFILE: 'prod' }).temporal;
    expect(t).toMatchObject({ address: 'temporal.prod.example.com:7233', namespace: 'ml-prod', tls: true });
    expect(t.sources.address).toBe(`profile prod (${PROD})`);
    expect(t.profile).toEqual({ name: 'prod', file: PROD });
  });

  it('without TEMPORAL_PROFILE the default profile of the file is read', () => {
    const t = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: PROD }).temporal;
    expect(t.address).toBe('profile-default.example.com:7233');
    expect(t.namespace).toBe('from-default-profile');
  });

  it("the user's default file (~/.config/temporalio/temporal.toml) is read when TEMPORAL_CONFIG_FILE is unset", () => {
    const home = fs.mkdtempSync(path.join(dir, 'home-'));
    fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
    fs.copyFileSync(PROD, path.join(home, '.config', 'temporalio', 'temporal.toml'));
    const t = loadConfig({ HOME: home, TEMPORAL_PROFILE: 'prod' }).temporal;
    expect(t.address).toBe('temporal.prod.example.com:7233');
  });

  it('TEMPORAL_* variables beat the profile, MLO_TEMPORAL_* beat those, flags beat everything', () => {
    const env = {
      ...base,
      TEMPORAL_CONFIG_FILE: PROD,
      TEMPORAL_PROFILE: 'prod',
      TEMPORAL_ADDRESS: 'env.example.com:7233',
      TEMPORAL_NAMESPACE: 'env-ns',
    };
    expect(loadConfig(env).temporal).toMatchObject({
      address: 'env.example.com:7233',
      namespace: 'env-ns',
      sources: { address: 'env TEMPORAL_ADDRESS', namespace: 'env TEMPORAL_NAMESPACE' },
    });
    const mlo = { ...env, MLO_TEMPORAL_ADDRESS: 'mlo.example.com:7233', MLO_TEMPORAL_NAMESPACE: 'mlo-ns' };
    expect(loadConfig(mlo).temporal).toMatchObject({
      address: 'mlo.example.com:7233',
      namespace: 'mlo-ns',
      sources: { address: 'env MLO_TEMPORAL_ADDRESS', namespace: 'env MLO_TEMPORAL_NAMESPACE' },
    });
    const flagged = loadConfig(mlo, { address: 'flag.example.com:7233', namespace: 'flag-ns' }).temporal;
    expect(flagged).toMatchObject({ address: 'flag.example.com:7233', namespace: 'flag-ns' });
    expect(flagged.sources).toMatchObject({ address: 'flag', namespace: 'flag' });
  });

  it('the --temporal-profile flag beats TEMPORAL_PROFILE', () => {
    const t = loadConfig(
      { ...base, TEMPORAL_CONFIG_FILE: PROD, TEMPORAL_PROFILE: 'default' },
      { profile: 'prod' },
    ).temporal;
    expect(t.namespace).toBe('ml-prod');
  });

  it('TLS: MLO_TEMPORAL_TLS beats TEMPORAL_TLS, which beats the profile and the address rule', () => {
    const env = { ...base, TEMPORAL_CONFIG_FILE: PROD, TEMPORAL_PROFILE: 'prod' };
    expect(loadConfig({ ...env, TEMPORAL_TLS: 'false' }).temporal).toMatchObject({ tls: false });
    expect(loadConfig({ ...env, TEMPORAL_TLS: 'false', MLO_TEMPORAL_TLS: 'true' }).temporal).toMatchObject({
      tls: true,
      sources: { tls: 'env MLO_TEMPORAL_TLS' },
    });
    expect(loadConfig({ ...base, TEMPORAL_TLS: 'true' }).temporal.tls).toBe(true);
  });

  it("a profile's TLS table gives the server CA, the server name and the client pair (mTLS)", () => {
    const certs = path.join(dir, 'certs');
    const ca = makeCa(certs);
    const client = makeLeaf(certs, ca, 'client', { dns: ['mlo-worker'], client: true });
    const file = profileFile(
      'tls.toml',
      [
        '[profile.mtls]',
        'address = "10.0.0.5:7233"',
        '[profile.mtls.tls]',
        `server_ca_cert_path = "${ca.certPath}"`,
        'server_name = "temporal.internal"',
        `client_cert_path = "${client.certPath}"`,
        `client_key_path = "${client.keyPath}"`,
        '',
      ].join('\n'),
    );
    const t = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'mtls' }).temporal;
    expect(t.tls).not.toBe(false);
    const tls = t.tls as Exclude<typeof t.tls, boolean>;
    expect(tls.serverNameOverride).toBe('temporal.internal');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe(ca.cert);
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe(client.cert);
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe(client.key);
    expect(describeTemporalConfig(t)).toContain(
      'TLS (own CA, server name temporal.internal, client certificate (mTLS))',
    );
    // TEMPORAL_TLS_SERVER_NAME overrides the profile's
    const over = loadConfig({
      ...base,
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'mtls',
      TEMPORAL_TLS_SERVER_NAME: 'other.internal',
    }).temporal.tls as Exclude<typeof t.tls, boolean>;
    expect(over.serverNameOverride).toBe('other.internal');
  });

  it('a static API key (TEMPORAL_API_KEY, else the profile) is kept, and named as the credential', () => {
    const file = profileFile(
      'key.toml',
      '[profile.default]\naddress = "x.tmprl.cloud:7233"\napi_key = "from-profile"\n',
    );
    const fromProfile = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file }).temporal;
    expect(fromProfile.apiKey).toBe('from-profile');
    expect(fromProfile.tls).toBe(true);
    expect(loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_API_KEY: 'from-env' }).temporal).toMatchObject({
      apiKey: 'from-env',
      sources: { apiKey: 'env TEMPORAL_API_KEY' },
    });
    expect(describeTemporalConfig(fromProfile)).toContain('static API key');
    expect(describeTemporalConfig(loadConfig(base).temporal)).toContain('OIDC access token');
  });

  it('bad settings are errors naming the setting, its source and the fix, all at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        ...base,
        TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml'),
        MLO_TEMPORAL_ADDRESS: 'no-port',
        TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.crt'),
      }),
    );
    expect(problems.join('\n')).toMatch(/TEMPORAL_CONFIG_FILE: ".*nope\.toml" does not exist/);
    expect(problems.join('\n')).toMatch(/MLO_TEMPORAL_ADDRESS: "no-port" must be host:port/);
    expect(problems.join('\n')).toMatch(/TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read ".*missing\.crt" \(ENOENT\)/);
    expect(problems.join('\n')).toMatch(/client certificate and key go together/);
    expect(problemsOf(() => loadConfig({ ...base, TEMPORAL_CONFIG_FILE: PROD, TEMPORAL_PROFILE: 'staging' }))).toEqual([
      expect.stringMatching(/TEMPORAL_PROFILE "staging": no \[profile\.staging\] in .*prod\.toml/),
    ]);
    const broken = profileFile('broken.toml', '[profile.default\naddress = 1');
    expect(problemsOf(() => loadConfig({ ...base, TEMPORAL_CONFIG_FILE: broken })).join('\n')).toMatch(
      /the Temporal configuration .*broken\.toml/,
    );
    expect(
      problemsOf(() => loadConfig({ ...base, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).join('\n'),
    ).toMatch(/not supported/);
  });

  it("the dev stack's profile reads back as the dev stack's settings", () => {
    const file = profileFile('stack.toml', devStackProfileToml({ temporalPort: 17233 }));
    const t = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file }).temporal;
    expect(t).toMatchObject({ address: '127.0.0.1:17233', namespace: 'default', tls: false });
    expect(t.sources.address).toBe(`profile default (${file})`);
  });
});
