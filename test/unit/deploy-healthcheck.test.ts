/**
 * The worker images' HEALTHCHECK (deploy/docker/healthcheck.cjs) against a real HTTP server on a
 * loopback port: 200 on /metrics is healthy; another status, a closed port or no answer is not.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/infra/config';

type Check = (env: NodeJS.ProcessEnv, timeoutMs?: number) => Promise<{ ok: boolean; message: string }>;
const { check, DEFAULT_PORTS } = createRequire(import.meta.url)(
  path.join(PROJECT_ROOT, 'deploy', 'docker', 'healthcheck.cjs'),
) as { check: Check; DEFAULT_PORTS: Record<string, number> };

let status = 200;
let hang = false;
let port = 0;
const paths: string[] = [];
const server = http.createServer((req, res) => {
  paths.push(req.url ?? '');
  if (hang) return;
  res.writeHead(status).end('# metrics\n');
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('healthcheck.cjs', () => {
  it("is healthy when the pool's /metrics answers 200", async () => {
    status = 200;
    const r = await check({ MLO_POOL: 'cpu', MLO_METRICS_PORT_CPU: String(port) });
    expect(r).toEqual({ ok: true, message: `http://127.0.0.1:${port}/metrics: 200` });
    expect(paths.at(-1)).toBe('/metrics');
  });

  it('is unhealthy on another status, naming it', async () => {
    status = 503;
    expect(await check({ MLO_POOL: 'gpu', MLO_METRICS_PORT_GPU: String(port) })).toEqual({
      ok: false,
      message: `http://127.0.0.1:${port}/metrics: HTTP 503`,
    });
  });

  it('is unhealthy when nothing answers in time', async () => {
    hang = true;
    try {
      const r = await check({ MLO_POOL: 'orchestrator', MLO_METRICS_PORT_ORCHESTRATOR: String(port) }, 300);
      expect(r.ok).toBe(false);
      expect(r.message).toContain('no answer within 300 ms');
    } finally {
      hang = false;
    }
  });

  it('is unhealthy when the port is closed', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await check({ MLO_POOL: 'cpu', MLO_METRICS_PORT_CPU: String(free) });
    expect(r.ok).toBe(false);
    expect(r.message).toContain('ECONNREFUSED');
  });

  it("uses the pool's default port when none is set, and passes (saying so) when metrics are off", async () => {
    expect(DEFAULT_PORTS).toEqual({ orchestrator: 9471, cpu: 9472, gpu: 9473 });
    expect((await check({ MLO_POOL: 'gpu' }, 300)).message).toMatch(/^http:\/\/127\.0\.0\.1:9473\/metrics: /);
    expect(await check({ MLO_POOL: 'cpu', MLO_METRICS_PORT_CPU: 'off' })).toEqual({
      ok: true,
      message: 'MLO_METRICS_PORT_CPU is off: no metrics endpoint to check',
    });
  });

  it('refuses a missing or unknown pool and a port that is not one', async () => {
    expect(await check({})).toEqual({ ok: false, message: 'MLO_POOL is not set (orchestrator, cpu or gpu)' });
    expect((await check({ MLO_POOL: 'tpu' })).message).toBe('MLO_POOL is "tpu": expected orchestrator, cpu or gpu');
    expect(await check({ MLO_POOL: 'cpu', MLO_METRICS_PORT_CPU: '99999' })).toEqual({
      ok: false,
      message: 'MLO_METRICS_PORT_CPU is "99999", not a TCP port',
    });
  });
});
