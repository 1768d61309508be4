/**
 * Production connections against the real dev stack: Temporal reached through a TLS profile (a
 * TLS-terminating proxy in front of the stack's Temporal, with a CA and certificates made here;
 * then mutual TLS, the proxy asking for a client certificate), and `mlo doctor` as a user runs it,
 * against the running stack and against a service that is not there.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { connectClient, connectWorker } from '../../lib/infra/temporal';
import { CLIENT_IDS } from '../../lib/identity/shared';
import { makeCa, makeLeaf, type Pem } from '../helpers/tls-certs';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';
import { uniqueName } from '../helpers/temporal';
import { MlflowClient } from '../../lib/registry/mlflow/client';
import { serviceTokens, userToken } from '../helpers/identity';

const stackCfg = loadConfig();
const [temporalHost, temporalPort] = [
  stackCfg.temporal.address.replace(/:\d+$/, ''),
  Number(stackCfg.temporal.address.replace(/^.*:/, '')),
];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-connections-'));
const SERVER_NAME = 'temporal.mlo.test';

/** A TLS-terminating TCP proxy (HTTP/2 by ALPN, as gRPC wants) in front of the stack's Temporal. */
class TlsProxy {
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    readonly server: tls.Server,
    readonly port: number,
  ) {}

  static async start(opts: tls.TlsOptions): Promise<TlsProxy> {
    const sockets = new Set<net.Socket>();
    const server = tls.createServer({ ...opts, ALPNProtocols: ['h2'] }, (client) => {
      const upstream = net.connect({ host: temporalHost, port: temporalPort });
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const proxy = new TlsProxy(server, (server.address() as net.AddressInfo).port);
    for (const s of sockets) proxy.sockets.add(s);
    return proxy;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.close();
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}

let ca: Pem;
let client: Pem;
let tlsProxy: TlsProxy;
let mtlsProxy: TlsProxy;

beforeAll(async () => {
  ca = makeCa(dir);
  // The certificate names only SERVER_NAME, not 127.0.0.1: connecting works only with the profile's server name.
  const server = makeLeaf(dir, ca, 'temporal', { dns: [SERVER_NAME] });
  client = makeLeaf(dir, ca, 'worker', { dns: ['mlo-worker'], client: true });
  tlsProxy = await TlsProxy.start({ cert: server.cert, key: server.key });
  mtlsProxy = await TlsProxy.start({
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    requestCert: true,
    rejectUnauthorized: true,
  });
});

afterAll(async () => {
  await tlsProxy?.stop();
  await mtlsProxy?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A Temporal configuration file with one profile `name` (TOML, as a platform team would ship it). */
function profile(name: string, port: number, mtls: boolean): string {
  const file = path.join(dir, `${name}.toml`);
  fs.writeFileSync(
    file,
    [
      `[profile.${name}]`,
      `address = "127.0.0.1:${port}"`,
      `namespace = "${stackCfg.temporal.namespace}"`,
      '',
      `[profile.${name}.tls]`,
      `server_ca_cert_path = "${ca.certPath}"`,
      `server_name = "${SERVER_NAME}"`,
      ...(mtls ? [`client_cert_path = "${client.certPath}"`, `client_key_path = "${client.keyPath}"`] : []),
      '',
    ].join('\n'),
  );
  return file;
}

/** The environment of the test process without any Temporal setting, plus `extra`. */
function envWith(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(MLO_)?TEMPORAL_(ADDRESS|NAMESPACE|TLS|CONFIG_FILE|PROFILE|API_KEY)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

describe('Temporal through a TLS profile', () => {
  it('a client and a worker connect with the profile (server CA + server name) and the OIDC token', async () => {
    const cfg = loadConfig(
      envWith({ TEMPORAL_CONFIG_FILE: profile('tls', tlsProxy.port, false), TEMPORAL_PROFILE: 'tls' }),
    );
    expect(cfg.temporal.address).toBe(`127.0.0.1:${tlsProxy.port}`);
    expect(cfg.temporal.tls).toMatchObject({ serverNameOverride: SERVER_NAME });
    const { client: c, connection } = await connectClient(cfg, serviceTokens(CLIENT_IDS.orchestrator));
    try {
      const ns = await c.workflowService.describeNamespace({ namespace: cfg.temporal.namespace });
      expect(ns.namespaceInfo?.name).toBe(cfg.temporal.namespace);
    } finally {
      await connection.close();
    }
    const native = await connectWorker(cfg, serviceTokens(CLIENT_IDS.orchestrator));
    await native.close();
  });

  it('without the server name the certificate does not match, and the connection fails', async () => {
    const file = profile('tls', tlsProxy.port, false);
    const cfg = loadConfig(envWith({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'tls' }));
    const noName = {
      ...cfg,
      temporal: { ...cfg.temporal, tls: { serverRootCACertificate: fs.readFileSync(ca.certPath) } },
    };
    await expect(
      connectClient(noName, serviceTokens(CLIENT_IDS.orchestrator), { connectTimeout: '3s' }),
    ).rejects.toThrow(/Temporal/);
  });

  it("mutual TLS: the profile's client certificate is presented; without it the proxy refuses", async () => {
    const cfg = loadConfig(
      envWith({ TEMPORAL_CONFIG_FILE: profile('mtls', mtlsProxy.port, true), TEMPORAL_PROFILE: 'mtls' }),
    );
    const pair = (cfg.temporal.tls as { clientCertPair?: { crt: Uint8Array } }).clientCertPair;
    expect(Buffer.from(pair?.crt ?? []).toString()).toBe(client.cert);
    const { client: c, connection } = await connectClient(cfg, serviceTokens(CLIENT_IDS.orchestrator));
    try {
      const info = await c.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await connection.close();
    }
    const without = loadConfig(
      envWith({ TEMPORAL_CONFIG_FILE: profile('mtls-nocert', mtlsProxy.port, false), TEMPORAL_PROFILE: 'mtls-nocert' }),
    );
    await expect(
      connectClient(without, serviceTokens(CLIENT_IDS.orchestrator), { connectTimeout: '3s' }),
    ).rejects.toThrow(/Temporal/);
  });
});

type Run = { code: number | null; stdout: string; stderr: string };

function mlo(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'mlo.cjs'), ...args], {
      cwd: PROJECT_ROOT,
      env: env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const CHECKS = [
  'oidc.discovery',
  'oidc.token',
  'temporal.connection',
  'temporal.namespace',
  'temporal.search-attributes',
  's3.bucket',
  'mlflow.server',
  'mlflow.auth',
  'mlflow.registry',
];

describe('mlo doctor', () => {
  it('passes every check against the running stack, one line each', async () => {
    const env = { ...process.env, MLO_TOKEN: await userToken('erin@example.com') };
    const r = await mlo(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(CHECKS.length);
    for (const [i, name] of CHECKS.entries()) expect(lines[i]).toMatch(new RegExp(`^✓ ${name.replace('.', '\\.')} `));
    expect(r.stdout).toMatch(/temporal\.connection .*server \d+\.\d+/);
    expect(r.stdout).toMatch(/MLflow \d+\.\d+/);
    expect(r.stdout).toMatch(/MloModel, MloStage, MloCandidateVersion, MloRequestedBy registered/);
  });

  it('through the TLS profile too, and as the workers do (--as-service, --json)', async () => {
    const env = envWith({ TEMPORAL_CONFIG_FILE: profile('mtls', mtlsProxy.port, true), TEMPORAL_PROFILE: 'mtls' });
    const r = await mlo(['doctor', '--as-service', '--json'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string; detail: string }[] };
    expect(out.ok).toBe(true);
    expect(out.checks.map((c) => c.name)).toEqual(CHECKS);
    const conn = out.checks.find((c) => c.name === 'temporal.connection')!;
    expect(conn.detail).toContain(`127.0.0.1:${mtlsProxy.port}`);
    expect(conn.detail).toContain(`server name ${SERVER_NAME}, client certificate (mTLS)`);
    expect(out.checks.find((c) => c.name === 'oidc.token')!.detail).toContain(CLIENT_IDS.orchestrator);
  });

  it('names a service that is not there and its fix, and exits non-zero without hanging', async () => {
    const port = await closedPort();
    const env = {
      ...process.env,
      MLO_TOKEN: await userToken('erin@example.com'),
      MLO_MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
    };
    const r = await mlo(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).toBe(5);
    expect(r.stdout).toMatch(new RegExp(`✗ mlflow\\.server +.*`));
    expect(r.stdout).toMatch(new RegExp(`fix: check that MLflow runs at http://127\\.0\\.0\\.1:${port}`));
    expect(r.stdout).toMatch(/- mlflow\.auth +MLflow is not reachable/);
    // the other services still pass
    expect(r.stdout).toMatch(/✓ temporal\.search-attributes/);
    expect(r.stdout).toMatch(/✓ s3\.bucket/);
  });

  it('a stopped Temporal fails its connection check, and the checks that need it are skipped', async () => {
    const port = await closedPort();
    const env = {
      ...process.env,
      MLO_TOKEN: await userToken('erin@example.com'),
      MLO_TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    };
    const r = await mlo(['doctor', '--json'], env);
    expect(r.code).toBe(5);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string; fix?: string }[] };
    const by = Object.fromEntries(out.checks.map((c) => [c.name, c]));
    expect(by['temporal.connection']?.status).toBe('fail');
    expect(by['temporal.connection']?.fix).toContain(`127.0.0.1:${port}`);
    expect(by['temporal.namespace']?.status).toBe('skip');
    expect(by['mlflow.registry']?.status).toBe('ok');
  });

  it("fails the registry check when the account may not move a spec model's aliases", async () => {
    // A deployed spec whose registered model exists (created by the registry's account, as the workers do).
    const specs = deployedSpecsDir();
    const name = uniqueName('doctor');
    deploySpec(specs, name);
    const registry = MlflowClient.fromConfig(stackCfg);
    await registry.createRegisteredModel(name);
    try {
      const base = { ...process.env, MLO_TOKEN: await userToken('erin@example.com'), MLO_MODELS_DIR: specs };
      const ok = await mlo(['doctor', '--json'], base);
      const okOut = JSON.parse(ok.stdout) as { checks: { name: string; status: string; detail: string }[] };
      const okCheck = okOut.checks.find((c) => c.name === 'mlflow.registry');
      expect(okCheck, ok.stdout).toMatchObject({ status: 'ok' });
      expect(okCheck?.detail).toMatch(/may move the aliases of all 1 of mlo's specs/);
      // bob reads everything but holds no MANAGE on the model
      const bob = {
        ...base,
        MLFLOW_TRACKING_USERNAME: 'bob@example.com',
        MLFLOW_TRACKING_PASSWORD: 'bob-dev-password',
      };
      const r = await mlo(['doctor'], bob);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stdout).toMatch(
        new RegExp(`✗ mlflow\\.registry +basic auth as bob@example\\.com may not move the aliases of ${name}`),
      );
      expect(r.stdout).toMatch(/fix: as MLflow's admin, grant bob@example\.com MANAGE on them/);
    } finally {
      await registry.deleteRegisteredModel(name).catch(() => undefined);
      fs.rmSync(specs, { recursive: true, force: true });
    }
  });
});
