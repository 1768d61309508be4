import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from '../../lib/registry/mlflow/client';
import { loadConfig } from '../../lib/infra/config';
import { ConfigError } from '../../lib/core/errors';
import { makeCa, makeLeaf, type Pem } from '../helpers/tls-certs';

/**
 * An HTTPS server standing in for MLflow at the test's boundary: it answers registered-models/get
 * and records the Authorization header of each request. Its certificate is issued by a CA made here.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-mlflow-tls-'));
let ca: Pem;
let otherCa: Pem;
let server: https.Server;
let base: string;
const seen: (string | undefined)[] = [];

beforeAll(async () => {
  ca = makeCa(dir);
  otherCa = makeCa(path.join(dir, 'other'), 'other', '/CN=another CA');
  const leaf = makeLeaf(dir, ca, 'mlflow', { dns: ['localhost'], ips: ['127.0.0.1'] });
  server = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    seen.push(req.headers.authorization);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ registered_model: { name: 'fraud-detector', aliases: [], latest_versions: [] } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const once = { retry: { attempts: 1 } };

describe("MLflow's transport: a private CA and a bearer token", () => {
  it('trusts the server through the CA bundle, and only through it', async () => {
    const trusted = new MlflowClient({ ...once, trackingUri: base, caBundlePath: ca.certPath, credentials: null });
    expect((await trusted.getRegisteredModel('fraud-detector')).name).toBe('fraud-detector');
    const system = new MlflowClient({ ...once, trackingUri: base, credentials: null });
    await expect(system.getRegisteredModel('fraud-detector')).rejects.toThrow();
    const wrong = new MlflowClient({ ...once, trackingUri: base, caBundlePath: otherCa.certPath, credentials: null });
    await expect(wrong.getRegisteredModel('fraud-detector')).rejects.toThrow();
  });

  it('takes the bundle from MLFLOW_TRACKING_SERVER_CERT_PATH or MLO_MLFLOW_CA_BUNDLE (one file)', async () => {
    const cfg = loadConfig({ HOME: dir, MLO_MLFLOW_TRACKING_URI: base, MLFLOW_TRACKING_SERVER_CERT_PATH: ca.certPath });
    expect(cfg.mlflow.caBundlePath).toBe(ca.certPath);
    expect((await MlflowClient.fromConfig(cfg, once).getRegisteredModel('fraud-detector')).name).toBe('fraud-detector');
    expect(loadConfig({ HOME: dir, MLO_MLFLOW_CA_BUNDLE: ca.certPath }).mlflow.caBundlePath).toBe(ca.certPath);
    expect(() =>
      loadConfig({ HOME: dir, MLO_MLFLOW_CA_BUNDLE: ca.certPath, MLFLOW_TRACKING_SERVER_CERT_PATH: otherCa.certPath }),
    ).toThrow(/name different files/);
  });

  it('a missing or non-PEM bundle is a configuration error naming the file', () => {
    const missing = path.join(dir, 'missing.pem');
    expect(() => new MlflowClient({ trackingUri: base, caBundlePath: missing })).toThrow(ConfigError);
    expect(() => new MlflowClient({ trackingUri: base, caBundlePath: missing })).toThrow(/cannot be read/);
    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'hello');
    try {
      new MlflowClient({ trackingUri: base, caBundlePath: notPem });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.join('\n')).toMatch(/not\.pem" holds no PEM certificate/);
    }
  });

  it('sends MLFLOW_TRACKING_TOKEN as a bearer token, before any Basic credentials', async () => {
    const cfg = loadConfig({
      HOME: dir,
      MLO_MLFLOW_TRACKING_URI: base,
      MLO_MLFLOW_CA_BUNDLE: ca.certPath,
      MLFLOW_TRACKING_TOKEN: 'tok-123',
      MLFLOW_TRACKING_USERNAME: 'registry',
      MLFLOW_TRACKING_PASSWORD: 'registry-pw',
    });
    expect(cfg.mlflow.token).toBe('tok-123');
    const client = MlflowClient.fromConfig(cfg, once);
    expect(client.authMode).toBe('bearer');
    seen.length = 0;
    await client.getRegisteredModel('fraud-detector');
    expect(seen).toEqual(['Bearer tok-123']);
  });

  it("a client's own credentials or token win over the configured ones; Basic without a token", async () => {
    const cfg = loadConfig({
      HOME: dir,
      MLO_MLFLOW_TRACKING_URI: base,
      MLO_MLFLOW_CA_BUNDLE: ca.certPath,
      MLFLOW_TRACKING_USERNAME: 'registry',
      MLFLOW_TRACKING_PASSWORD: 'registry-pw',
    });
    seen.length = 0;
    await MlflowClient.fromConfig(cfg, once).getRegisteredModel('fraud-detector');
    await MlflowClient.fromConfig(cfg, {
      ...once,
      credentials: { username: 'alice', password: 'a' },
    }).getRegisteredModel('fraud-detector');
    await MlflowClient.fromConfig(cfg, { ...once, token: 'own' }).getRegisteredModel('fraud-detector');
    expect(seen).toEqual([
      `Basic ${Buffer.from('registry:registry-pw').toString('base64')}`,
      `Basic ${Buffer.from('alice:a').toString('base64')}`,
      'Bearer own',
    ]);
  });
});
