/**
 * `npm run stack -- up|down|status` as a user runs it: idempotent up, status, down that
 * stops only what the stack started, and a clear error for a port taken by another process.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import { portInUse } from '../../lib/stack/stack';
import { runTs } from '../helpers/spawn';

const dirs: string[] = [];
function tempStackDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-stack-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

describe('dev stack', () => {
  it('a second `up` of the running stack only checks health, and `status` reports every part running', async () => {
    const up = await runTs('scripts/stack.ts', ['up']);
    expect(up.code, up.output).toBe(0);
    expect(up.output).toMatch(/already running: S3 API/);
    expect(up.output).toMatch(/already running: Temporal dev server/);
    expect(up.output).toMatch(/already running: MLflow server/);
    expect(up.output).toContain(`Temporal UI    http://127.0.0.1:${loadConfig().stack.temporalUiPort}`);
    const status = await runTs('scripts/stack.ts', ['status']);
    expect(status.code, status.output).toBe(0);
    expect(status.output.match(/ running \(pid \d+\)/g)).toHaveLength(3);
  });

  it('up, up again, status and down on a separate stack directory stop exactly what it started', async () => {
    const dir = tempStackDir();
    const port = await freePort();
    const env = { MLO_STACK_DIR: dir, MLO_S3_PORT: String(port) };
    const first = await runTs('scripts/stack.ts', ['up', 's3'], env);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain('started: S3 API');
    expect(first.output).toContain(`S3 endpoint    http://127.0.0.1:${port}`);
    const pidFile = path.join(dir, 'pids', 's3.json');
    const pid = (JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number }).pid;
    expect(fs.existsSync(path.join(dir, 'logs', 's3.log'))).toBe(true);

    const second = await runTs('scripts/stack.ts', ['up', 's3'], env);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain('already running: S3 API');
    expect((JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number }).pid).toBe(pid);

    const status = await runTs('scripts/stack.ts', ['status'], env);
    expect(status.output).toMatch(/S3 API \(versitygw\) +running \(pid \d+\)/);
    // The shared stack's Temporal and MLflow hold the default ports: not ours in this directory.
    expect(status.output).toMatch(/Temporal dev server +port-taken/);
    expect(status.code).not.toBe(0);

    const down = await runTs('scripts/stack.ts', ['down'], env);
    expect(down.code, down.output).toBe(0);
    expect(down.output).toContain(`stopped S3 API (versitygw) (pid ${pid})`);
    expect(down.output).not.toContain('Temporal');
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(await portInUse(port)).toBe(false);
    // The shared stack's parts were not touched.
    expect(await portInUse(loadConfig().stack.temporalPort)).toBe(true);
  });

  it(
    'a port taken by another process is a clear error naming the port and the variable, ' +
      'and `down` leaves that process alone',
    async () => {
      const dir = tempStackDir();
      const squatter = net.createServer((s) => s.end());
      await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
      const port = (squatter.address() as net.AddressInfo).port;
      try {
        const env = { MLO_STACK_DIR: dir, MLO_S3_PORT: String(port) };
        const up = await runTs('scripts/stack.ts', ['up', 's3'], env);
        expect(up.code).not.toBe(0);
        expect(up.output).toContain(`port ${port} (S3 API) is already in use by a process the mlo stack did not start`);
        expect(up.output).toContain('MLO_S3_PORT=<port>');
        const down = await runTs('scripts/stack.ts', ['down'], env);
        expect(down.code).toBe(0);
        expect(down.output).toContain('nothing was running');
        expect(await portInUse(port)).toBe(true);
      } finally {
        await new Promise((r) => squatter.close(r));
      }
    },
  );

  it('rejects an unknown part name with the list of parts', async () => {
    const r = await runTs('scripts/stack.ts', ['up', 'postgres']);
    expect(r.code).toBe(2);
    expect(r.output).toContain('unknown part "postgres"; the parts are s3, temporal, mlflow');
  });
});
