/**
 * `npm run stack -- up|down|status` as a user runs it: idempotent up, status, down that
 * stops only what the stack started, and a clear error for a port taken by another process.
 * And what the running stack enforces: Temporal and MLflow authenticate every caller, and each
 * part holds only the secrets it uses.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../lib/infra/config';
import { portInUse, stackPaths } from '../../lib/stack/stack';
import { secretsFile } from '../../lib/stack/secrets';
import { runTs } from '../helpers/spawn';
import { stackClient, userTokens } from '../helpers/identity';
import { uniqueName } from '../helpers/temporal';

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
    expect(up.output).toMatch(/already running: OIDC provider \(dev\)/);
    expect(up.output).toMatch(/already running: Temporal server \(mlo\)/);
    expect(up.output).toMatch(/already running: MLflow server/);
    expect(up.output).toContain(`Temporal UI    http://127.0.0.1:${loadConfig().stack.temporalUiPort}`);
    expect(up.output).toContain(`OIDC provider  http://127.0.0.1:${loadConfig().stack.oidcPort}`);
    const status = await runTs('scripts/stack.ts', ['status']);
    expect(status.code, status.output).toBe(0);
    expect(status.output.match(/ running \(pid \d+\)/g)).toHaveLength(4);
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
    expect(status.output).toMatch(/Temporal server \(mlo\) +port-taken/);
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
    expect(r.output).toContain('unknown part "postgres"; the parts are s3, oidc, temporal, mlflow');
  });

  it("a part still running a former stack's program is named, with the restart to do, and left alone", async () => {
    const dir = tempStackDir();
    // What an older stack left: its Temporal part recorded as another program (here a `sleep`).
    const older = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      fs.mkdirSync(path.join(dir, 'pids'), { recursive: true });
      const rec = { pid: older.pid, binary: '/usr/bin/sleep', startedAt: new Date().toISOString(), ports: [] };
      fs.writeFileSync(path.join(dir, 'pids', 'temporal.json'), JSON.stringify(rec));
      const up = await runTs('scripts/stack.ts', ['up', 'temporal'], { MLO_STACK_DIR: dir });
      expect(up.code).toBe(5);
      expect(up.output).toContain(
        `Temporal server (mlo): the running process (pid ${older.pid}, /usr/bin/sleep) was started by an older mlo stack`,
      );
      expect(up.output).toContain('`npm run stack -- down`, then `npm run stack -- up`');
      expect(older.exitCode).toBeNull();
    } finally {
      older.kill();
    }
  });

  it('the oidc part on its own: the dev provider answers /healthz and discovery, keeps its state 0700, and stops', async () => {
    const dir = tempStackDir();
    const port = await freePort();
    const env = { MLO_STACK_DIR: dir, MLO_OIDC_PORT: String(port) };
    const up = await runTs('scripts/stack.ts', ['up', 'oidc'], env);
    expect(up.code, up.output).toBe(0);
    expect(up.output).toContain(`OIDC provider  http://127.0.0.1:${port}`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const discovery = (await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
    };
    expect(discovery.issuer).toBe(`http://127.0.0.1:${port}`);
    expect(fs.statSync(path.join(dir, 'oidc')).mode & 0o777).toBe(0o700);
    const down = await runTs('scripts/stack.ts', ['down'], env);
    expect(down.output).toMatch(/stopped OIDC provider \(dev\) \(pid \d+\)/);
    expect(await portInUse(port)).toBe(false);
  });
});

/** The messages of an error and its causes, joined: the SDK wraps the server's refusal. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const out: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = e.cause) out.push(e.message);
    return out.join(' <- ');
  }
  return 'accepted';
}

describe('the running dev stack authenticates', () => {
  const cfg = loadConfig();

  it('Temporal answers GetSystemInfo to anyone, and refuses a call without a token or a run requested for someone else', async () => {
    const connection = await Connection.connect({ address: cfg.temporal.address });
    try {
      await connection.workflowService.getSystemInfo({});
      const anonymous = new Client({ connection, namespace: cfg.temporal.namespace });
      expect(
        await refusal(
          anonymous.workflow.start('trainAndPromote', {
            taskQueue: uniqueName('no-worker'),
            workflowId: uniqueName('anonymous'),
            args: [{ requestedBy: 'erin@example.com' }],
          }),
        ),
      ).toContain('mlo: authentication: no bearer token');
    } finally {
      await connection.close();
    }
    const erin = await stackClient(userTokens('erin@example.com'));
    try {
      expect(
        await refusal(
          erin.client.workflow.start('trainAndPromote', {
            taskQueue: uniqueName('no-worker'),
            workflowId: uniqueName('for-someone-else'),
            args: [{ model: uniqueName('m'), requestedBy: 'alice@example.com' }],
          }),
        ),
      ).toContain(
        'mlo: requested by caller: the input\'s requestedBy is "alice@example.com" but the caller is erin@example.com',
      );
    } finally {
      await erin.connection.close();
    }
  });

  it("its Temporal server judges decisions by the specs of MLO_MODELS_DIR and of the stack's own models/", async () => {
    const model = uniqueName('stack-local');
    const local = path.join(stackPaths(cfg.stack).localModels, `${model}.yaml`);
    const carol = await stackClient(userTokens('carol@example.com'));
    const decide = () =>
      carol.client.workflow
        .getHandle(`promotion/${model}`)
        .executeUpdate('approve', { args: [{ reviewer: 'carol@example.com' }] });
    try {
      expect(
        await refusal(
          carol.client.workflow
            .getHandle('promotion/fraud-detector')
            .executeUpdate('approve', { args: [{ reviewer: 'carol@example.com' }] }),
        ),
      ).toContain('mlo: reviewers: carol@example.com is not a reviewer of fraud-detector');
      expect(await refusal(decide())).toContain(`mlo: reviewers: model ${model} has no deployed spec`);
      fs.writeFileSync(local, `name: ${model}\npromotion: { reviewers: [carol@example.com] }\n`);
      // Past the reviewer rules (the server rereads the directory within a second): no such workflow.
      await expect.poll(() => refusal(decide()), { timeout: 10_000 }).toMatch(/not found/i);
    } finally {
      fs.rmSync(local, { force: true });
      await carol.connection.close();
    }
  });

  it('MLflow: no user, no access; people read but may not move an alias; the registry may', async () => {
    const url = cfg.mlflow.trackingUri;
    const anonymous = await fetch(`${url}/api/2.0/mlflow/experiments/search?max_results=1`);
    expect(anonymous.status).toBe(401);
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const registry = basic(process.env.MLFLOW_TRACKING_USERNAME ?? '', process.env.MLFLOW_TRACKING_PASSWORD ?? '');
    const erin = basic('erin@example.com', 'erin-dev-password');
    const name = uniqueName('stack-auth');
    const post = (path: string, headers: Record<string, string>, body: unknown) =>
      fetch(`${url}/api/2.0/mlflow/${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('registered-models/create', registry, { name })).status).toBe(200);
    expect(
      (await post('model-versions/create', registry, { name, source: `s3://${cfg.s3.bucket}/test-models/${name}` }))
        .status,
    ).toBe(200);
    const read = await fetch(`${url}/api/2.0/mlflow/registered-models/get?name=${name}`, { headers: erin });
    expect(read.status).toBe(200);
    expect((await post('registered-models/alias', erin, { name, alias: 'champion', version: '1' })).status).toBe(403);
    expect((await post('registered-models/alias', registry, { name, alias: 'champion', version: '1' })).status).toBe(
      200,
    );
    const outsider = await fetch(`${url}/api/2.0/mlflow/registered-models/get?name=${name}`, {
      headers: basic('mallory@example.com', 'mallory-dev-password'),
    });
    expect(outsider.status).toBe(401);
  });

  it('keeps its generated secrets in a 0600 file, and gives each part only the secrets it uses', () => {
    expect(fs.statSync(secretsFile(cfg.stack)).mode & 0o777).toBe(0o600);
    const environ = (part: string) => {
      const { pid } = JSON.parse(fs.readFileSync(path.join(stackPaths(cfg.stack).pids, `${part}.json`), 'utf8')) as {
        pid: number;
      };
      const vars = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return { names: new Set(vars.map((v) => v.split('=')[0])), cmdline };
    };
    const temporal = environ('temporal');
    expect(temporal.names.has('MLO_UI_OIDC_CLIENT_SECRET')).toBe(true);
    expect(temporal.cmdline).not.toContain('secret');
    const mlflow = environ('mlflow');
    expect(mlflow.names.has('MLFLOW_AUTH_ADMIN_PASSWORD')).toBe(true);
    for (const part of [temporal, mlflow, environ('oidc'), environ('s3')]) {
      for (const v of ['MLO_MLFLOW_REGISTRY_PASSWORD', 'MLFLOW_TRACKING_PASSWORD', 'MLO_TOKEN'])
        expect(part.names.has(v)).toBe(false);
    }
    expect(environ('s3').names.has('MLFLOW_AUTH_ADMIN_PASSWORD')).toBe(false);
    expect(environ('oidc').names.has('MLFLOW_AUTH_ADMIN_PASSWORD')).toBe(false);
    expect(temporal.names.has('MLFLOW_AUTH_ADMIN_PASSWORD')).toBe(false);
  });
});
