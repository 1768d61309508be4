/**
 * How the MLflow client signs in (HTTP Basic) and reads the answers of an MLflow with
 * authentication, with the network simulated at the boundary: an injected function typed as the
 * real global `fetch`.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  defaultMlflowCredentials,
  MlflowClient,
  MlflowError,
  MlflowNotFoundError,
  useMlflowCredentials,
} from '../../lib/registry/mlflow';
import { loadConfig } from '../../lib/infra/config';

type Seen = { url: URL; authorization: string | undefined };

function fakeFetch(answer: (url: URL) => Response) {
  const seen: Seen[] = [];
  const fn = vi.fn<typeof fetch>((input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers = (init?.headers ?? {}) as Record<string, string>;
    seen.push({ url, authorization: headers.authorization });
    return Promise.resolve(answer(url));
  });
  return { fn, seen };
}

const ok = () => new Response(JSON.stringify({ registered_model: { name: 'm' } }), { status: 200 });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('MLflow sign-in', () => {
  it('sends the configured credentials as HTTP Basic, and none when there are none', async () => {
    const { fn, seen } = fakeFetch(ok);
    const uri = 'http://mlflow-a.test:5050';
    const signed = new MlflowClient({
      trackingUri: uri,
      fetch: fn,
      credentials: { username: 'mlo-registry', password: 'p:ss wörd' },
    });
    await signed.createRegisteredModel('m');
    expect(seen[0]?.authorization).toBe(basic('mlo-registry', 'p:ss wörd'));
    expect(signed.username).toBe('mlo-registry');
    const anonymous = new MlflowClient({ trackingUri: uri, fetch: fn, credentials: null });
    await anonymous.createRegisteredModel('m');
    expect(seen[1]?.authorization).toBeUndefined();
  });

  it("a client without its own credentials uses this process's for its server, else MLflow's variables", async () => {
    const uri = 'http://mlflow-b.test:5050';
    const env = { MLFLOW_TRACKING_USERNAME: 'alice@example.com', MLFLOW_TRACKING_PASSWORD: 'alice-dev-password' };
    expect(defaultMlflowCredentials(uri, env)).toEqual({
      username: 'alice@example.com',
      password: 'alice-dev-password',
    });
    expect(defaultMlflowCredentials(uri, { MLFLOW_TRACKING_USERNAME: 'alone' })).toBeUndefined();

    // fromConfig with credentials makes them this process's for that server (a worker's other clients use them).
    const cfg = loadConfig({
      MLO_MLFLOW_TRACKING_URI: `${uri}/`,
      MLFLOW_TRACKING_USERNAME: 'mlo-registry',
      MLFLOW_TRACKING_PASSWORD: 'registry-password',
    });
    expect(MlflowClient.fromConfig(cfg).username).toBe('mlo-registry');
    expect(defaultMlflowCredentials(uri, env)).toEqual({ username: 'mlo-registry', password: 'registry-password' });
    const { fn, seen } = fakeFetch(ok);
    await new MlflowClient({ trackingUri: uri, fetch: fn }).createRegisteredModel('m');
    expect(seen[0]?.authorization).toBe(basic('mlo-registry', 'registry-password'));
    // Another server is not affected.
    expect(defaultMlflowCredentials('http://other.test:5050', {})).toBeUndefined();
    useMlflowCredentials('http://other.test:5050', { username: 'u', password: 'p' });
    expect(defaultMlflowCredentials('http://other.test:5050/', {})).toEqual({ username: 'u', password: 'p' });
  });

  it('401 and 403 are final and say what to set', async () => {
    const calls = { n: 0 };
    const { fn } = fakeFetch(() => {
      calls.n += 1;
      return new Response('You are not authenticated.', { status: 401 });
    });
    const uri = 'http://mlflow-c.test:5050';
    const anon = new MlflowClient({ trackingUri: uri, fetch: fn, credentials: null, retry: { attempts: 3 } });
    const e401 = await anon.getRun('r1').catch((e: unknown) => e);
    expect(e401).toBeInstanceOf(MlflowError);
    expect(calls.n).toBe(1);
    expect((e401 as MlflowError).message).toContain('set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD');
    const withUser = new MlflowClient({
      trackingUri: uri,
      fetch: fn,
      credentials: { username: 'mlo-registry', password: 'wrong' },
    });
    expect(((await withUser.getRun('r1').catch((e: unknown) => e)) as Error).message).toContain(
      'MLflow refused the password of mlo-registry',
    );

    const { fn: denied } = fakeFetch(() => new Response('Permission denied', { status: 403 }));
    const person = new MlflowClient({
      trackingUri: uri,
      fetch: denied,
      credentials: { username: 'erin@example.com', password: 'erin-dev-password' },
    });
    const e403 = (await person.setRegisteredModelTag('m', 'k', 'v').catch((e: unknown) => e)) as MlflowError;
    expect(e403.status).toBe(403);
    expect(e403.message).toContain('erin@example.com may not do this: people have READ');
  });

  it("a 403 about a registered model's versions or aliases is not-found when the model does not exist", async () => {
    const { fn, seen } = fakeFetch((url) => {
      if (url.pathname.endsWith('/registered-models/get'))
        return new Response(JSON.stringify({ error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such model' }), {
          status: 404,
        });
      return new Response('Permission denied', { status: 403 });
    });
    const c = new MlflowClient({
      trackingUri: 'http://mlflow-d.test:5050',
      fetch: fn,
      credentials: { username: 'mlo-registry', password: 'p' },
    });
    const missing = await c.getModelVersionByAlias('new-model', 'champion').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(MlflowNotFoundError);
    expect((missing as Error).message).toContain('the registered model new-model does not exist');
    expect(seen.map((s) => s.url.pathname)).toEqual([
      '/api/2.0/mlflow/registered-models/alias',
      '/api/2.0/mlflow/registered-models/get',
    ]);
    await expect(c.getModelVersion('new-model', 1)).rejects.toBeInstanceOf(MlflowNotFoundError);
    await expect(c.setAlias('new-model', 'champion', 1)).rejects.toBeInstanceOf(MlflowNotFoundError);

    // The model exists: the 403 is a real refusal and stays one.
    const { fn: exists } = fakeFetch((url) =>
      url.pathname.endsWith('/registered-models/get') ? ok() : new Response('Permission denied', { status: 403 }),
    );
    const p = new MlflowClient({ trackingUri: 'http://mlflow-e.test:5050', fetch: exists, credentials: null });
    const refused = await p.setAlias('m', 'champion', 1).catch((e: unknown) => e);
    expect(refused).not.toBeInstanceOf(MlflowNotFoundError);
    expect((refused as MlflowError).status).toBe(403);
  });
});
