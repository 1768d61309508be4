/**
 * The `mlo` command as a user runs it: `node bin/mlo.cjs …` as a child process against a real
 * Temporal server (one per file, mlo's own binary with authentication off, so `schedules sync`
 * may create and delete mlo-retrain/ schedules freely), the dev stack's S3 and the dev stack's
 * OIDC provider: each command runs as a dev user with that user's real token (MLO_TOKEN, from
 * the provider's sign-in page driven over HTTP), and `schedules sync` as the scheduler service.
 * Runs are served by an in-process worker on a unique task queue with the real workflows and
 * activities mocked at the boundary; model specs are unique copies in a temporary models directory.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { defineSearchAttributeKey } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities';
import { loadDeployed } from '../../activities/spec';
import { appendAudit } from '../../lib/registry/audit';
import { loadConfig, PROJECT_ROOT, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { daysBetween, type DayRange } from '../../lib/core/windows';
import { promotionStateQuery } from '../../lib/core/definitions';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { promotionWorkflowId } from '../../lib/core/ids';
import { userToken } from '../helpers/identity';
import { devBrowser, loadOidcConfig, readCachedTokens, refreshTokens } from '../../lib/identity/oidc-client';

const MLO = path.join(PROJECT_ROOT, 'bin', 'mlo.cjs');
const BASELINE = fs.readFileSync(path.join(PROJECT_ROOT, 'models', 'fraud-baseline.yaml'), 'utf8');
/** The engineer whose token the commands carry unless a test says otherwise. */
const REQUESTER = 'erin@example.com';
const USERS = [REQUESTER, 'alice@example.com', 'carol@example.com', 'mallory@example.com'];
const tokens = new Map<string, string>();
/** The environment of a command run as `email` (signed in: MLO_TOKEN holds their token). */
const as = (email: string): NodeJS.ProcessEnv => ({ MLO_TOKEN: tokens.get(email) });

let env: TestWorkflowEnvironment;
let dir: string;
let worker: Worker;
let workerRun: Promise<void>;
const QUEUE = uniqueName('cli-q');
/** What planFeatureBackfill saw, per workflow id. */
const planned: { workflowId: string; range: DayRange; labelCutoff: string }[] = [];

type Result = { code: number | null; stdout: string; stderr: string };
type Proc = {
  done: Promise<Result>;
  stdout: () => string;
  stderr: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<void>;
};

function start(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [MLO, ...args], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      MLO_TEMPORAL_ADDRESS: env.address,
      MLO_TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      MLO_MODELS_DIR: dir,
      MLO_TOKEN: tokens.get(REQUESTER),
      MLO_TOKEN_CACHE: path.join(dir, 'no-such-dir', 'tokens.json'),
      MLO_QUEUE_ORCHESTRATOR: QUEUE,
      MLO_QUEUE_CPU: QUEUE,
      MLO_QUEUE_GPU: QUEUE,
      // One worker serves every queue here, the CPU pool's queues per kind of work included.
      MLO_QUEUE_FEATURES: QUEUE,
      MLO_QUEUE_EVALUATION: QUEUE,
      MLO_QUEUE_CPU_TRAINING: QUEUE,
      ...extraEnv,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<Result>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const waitFor = async (re: RegExp, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!re.test(stdout)) {
      if (child.exitCode !== null)
        throw new Error(
          `mlo ${args.join(' ')} exited (${child.exitCode}) before printing ${re}:\n${stdout}\n${stderr}`,
        );
      if (Date.now() > deadline) throw new Error(`mlo ${args.join(' ')} did not print ${re}:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { done, stdout: () => stdout, stderr: () => stderr, waitFor };
}

const mlo = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => start(args, extraEnv).done;

function json<T = Record<string, unknown>>(r: Result): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON object:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** A copy of the baseline spec under a unique name, with the given schedule (default: none). */
function writeSpec(name: string, schedule: string | null = null): string {
  let text = BASELINE.replace(/^name: fraud-baseline$/m, `name: ${name}`);
  text = text.replace(/^schedule: .*$/m, schedule === null ? '' : `schedule: ${schedule}`);
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

function mocks(): Activities {
  const wid = () => Context.current().info.workflowExecution?.workflowId ?? '';
  return {
    // The real one: the worker deploys the test's models directory, as the CLI reads it.
    async loadDeployedSpec(i) {
      return loadDeployed({ modelsDir: dir }, i);
    },
    async planFeatureBackfill(i) {
      planned.push({ workflowId: wid(), range: i.range, labelCutoff: i.labelCutoff });
      if (wid().includes('/scheduled') || wid().includes('-bad-')) {
        throw ApplicationFailure.create({
          type: 'MloBadInput',
          nonRetryable: true,
          message: `no events for ${i.range.from}..${i.range.to} (test)`,
        });
      }
      return { featureSetHash: 'fs1', days: daysBetween(i.range).slice(-4), outputPrefix: 'features/test/fs1/' };
    },
    async computeFeaturePartition(i) {
      return { day: i.day, hash: `h-${i.day}`, rows: 10, labeledRows: 8, positives: 1, reused: false };
    },
    async checkDataGates() {
      throw new Error('no data gates in these specs');
    },
    async writeFeatureManifest(i) {
      return {
        manifestUri: 's3://mlo/features/test/manifest.json',
        hash: 'snaphash0123456789',
        rows: i.partitions.length * 10,
        partitions: i.partitions.length,
        labeledRows: 8,
        positives: 1,
      };
    },
    async trainTrial(i) {
      return {
        trialIndex: i.trialIndex,
        runId: 'r1',
        onnxUri: 's3://mlo/models/m.onnx',
        metrics: { valid_auc: 0.9 },
        params: i.params,
        probabilityOutput: 'probabilities',
        probabilityIndex: 1,
      };
    },
    async registerCandidate(i) {
      return { runId: i.trial.runId, version: '3', onnxUri: i.trial.onnxUri };
    },
    async startSweepRun() {
      throw new Error('no sweep in this spec');
    },
    async finishSweepRun() {
      throw new Error('no sweep in this spec');
    },
    async getChampion() {
      return '2';
    },
    async findIdenticalCandidate() {
      return null;
    },
    async recordGateFailure() {},
    async evaluateCandidate(i) {
      const passed = !i.model.includes('-gate-');
      return {
        passed,
        reportUri: 's3://mlo/reports/e.json',
        markdown: passed ? '| auc | 0.91 |' : '**auc >= 0.70: FAILED (0.61)**',
      };
    },
    async shadowScore() {
      return { passed: true, reportUri: 's3://mlo/reports/s.json', markdown: '| psi | 0.01 |' };
    },
    async setChallenger() {},
    async moveChampion() {
      return { previous: '2' };
    },
    async dropChallenger() {},
    async appendAuditRecord() {
      return 's3://mlo/audit/x.json';
    },
    async championLineage() {
      return { history: ['1', '2'], current: '2' };
    },
  };
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  for (const u of USERS) tokens.set(u, await userToken(u));
  env = await createTestEnv();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-cli-models-'));
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace,
    taskQueue: QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    activities: mocks(),
  });
  workerRun = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun?.catch(() => undefined);
  await env?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('mlo: help, flags and exit codes', () => {
  it('documents every command and the exit codes', async () => {
    const top = await mlo(['--help']);
    expect(top.code).toBe(0);
    for (const c of [
      'train-and-promote',
      'status',
      'list',
      'fleet',
      'approve',
      'reject',
      'rollback',
      'audit',
      'plan',
      'backfill',
      'data',
      'schedules',
      'models',
      'gen-data',
      'login',
      'logout',
      'whoami',
      'doctor',
    ])
      expect(top.stdout).toContain(`  ${c} `);
    expect(top.stdout).toMatch(
      /exit codes:[\s\S]*2 {2}bad input[\s\S]*3 {2}rejected[\s\S]*4 {2}an evaluation, shadow or data gate failed[\s\S]*5 {2}infrastructure unreachable/,
    );
    // Each command's own help carries the summary the top-level help lists (the table loads commands lazily).
    const summaries = new Map([...top.stdout.matchAll(/^ {2}([a-z-]+) +(.+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
    expect(summaries.size).toBe(18);
    const helps = await Promise.all([...summaries.keys()].map((c) => mlo([c, '--help'])));
    [...summaries].forEach(([c, summary], i) => {
      expect(helps[i]?.code).toBe(0);
      expect(helps[i]?.stdout.split('\n')[0]).toBe(`mlo ${c} — ${summary}`);
      expect(helps[i]?.stdout).toContain(`usage: mlo ${c}`);
    });
    expect(helps[[...summaries.keys()].indexOf('schedules')]?.stdout).toContain(
      'usage: mlo schedules sync [--dry-run]',
    );
  });

  it('a bad flag exits 2 and names it', async () => {
    const r = await mlo(['train-and-promote', '--modle', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --modle for `mlo train-and-promote`');
  });

  it('an unknown model exits 2 with the known ones', async () => {
    const known = uniqueName('cli-known');
    writeSpec(known);
    const r = await mlo(['train-and-promote', '--model', 'no-such-model', '--detach']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no model spec named "no-such-model"');
    expect(r.stderr).toContain(known);
    fs.rmSync(path.join(dir, `${known}.yaml`));
  });

  it('models validate: an invalid spec exits 2 naming the file, the line and the field', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-cli-bad-'));
    try {
      const file = path.join(tmp, 'bad-model.yaml');
      fs.writeFileSync(
        file,
        BASELINE.replace(/^name: fraud-baseline$/m, 'name: bad-model').replace(
          'window: { days: 30 }',
          'window: { days: -1 }',
        ),
      );
      const r = await mlo(['models', 'validate', file]);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain('FAIL');
      expect(r.stdout).toContain('bad-model.yaml');
      expect(r.stdout).toMatch(/line \d+: training\.window\.days: /);
      const ok = await mlo(['models', 'validate', path.join(PROJECT_ROOT, 'models', 'fraud-detector.yaml')]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^OK +models\/fraud-detector\.yaml \(fraud-detector\)$/m);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('Temporal unreachable exits 5', async () => {
    const port = await closedPort();
    const r = await mlo(['list'], { MLO_TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`Temporal is unreachable at 127.0.0.1:${port}`);
    const keys = { MLO_S3_ACCESS_KEY_ID: 'mlo-dev', MLO_S3_SECRET_ACCESS_KEY: 'mlo-dev-secret' };
    const s3 = await mlo(['audit', '--model', 'fraud-detector'], {
      MLO_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      ...keys,
    });
    expect(s3.code).toBe(5);
    expect(s3.stderr).toContain(`S3 is unreachable at http://127.0.0.1:${port}`);
    // Another endpoint than the dev stack's and no key: the AWS default chain, which here finds nothing.
    const none = await mlo(['audit', '--model', 'fraud-detector'], { MLO_S3_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no S3 credentials for');
  });
});

describe('mlo: who you are', () => {
  it('whoami shows the verified identity of the token', async () => {
    const r = await mlo(['whoami'], as('carol@example.com'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^carol@example\.com\n {2}subject: dev-carol\n {2}e-mail: {2}carol@example\.com\n {2}groups: {2}mlo-reviewers$/m,
    );
    expect(r.stdout).toContain('token from MLO_TOKEN');
    expect(json(await mlo(['whoami', '--json'], as('mallory@example.com')))).toMatchObject({
      subject: 'dev-mallory',
      email: 'mallory@example.com',
      groups: [],
      source: 'MLO_TOKEN',
    });
  });

  it('without a sign-in, commands exit 2 saying to run `npx mlo login`; an unreachable provider exits 5', async () => {
    for (const args of [['whoami'], ['list'], ['approve', 'promotion/m']]) {
      const r = await mlo(args, { MLO_TOKEN: '' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('You are not signed in to http://127.0.0.1:');
      expect(r.stderr).toContain('Run `npx mlo login` to sign in, or set MLO_TOKEN to a bearer token.');
    }
    const forged = await mlo(['whoami'], { MLO_TOKEN: `${tokens.get(REQUESTER)?.slice(0, -4)}AAAA` });
    expect(forged.code).toBe(2);
    expect(forged.stderr).toContain('signature does not verify with http://127.0.0.1:');
    const port = await closedPort();
    const down = await mlo(['whoami'], { MLO_OIDC_ISSUER: `http://127.0.0.1:${port}` });
    expect(down.code).toBe(5);
    expect(down.stderr).toContain(`OIDC provider is unreachable at http://127.0.0.1:${port}`);
  });

  it('login (authorization code + PKCE on a loopback port), whoami from the cache, logout', async () => {
    const cache = path.join(dir, `tokens-${uniqueName('login')}.json`);
    const signedOut = { MLO_TOKEN: '', MLO_TOKEN_CACHE: cache };
    const login = start(['login', '--no-browser'], signedOut);
    let url: string | undefined;
    const deadline = Date.now() + 30_000;
    while (!(url = /(http:\/\/\S+\/auth\?\S+)/.exec(login.stderr())?.[1]) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(url, login.stderr()).toContain('code_challenge_method=S256');
    // The person's part, played over HTTP: the provider's sign-in and consent pages, then the redirect.
    await devBrowser('alice@example.com', 'alice-dev-password')(url as string);
    const r = await login.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('as alice@example.com');
    expect(fs.statSync(cache).mode & 0o777).toBe(0o600);
    const who = await mlo(['whoami'], signedOut);
    expect(who.code).toBe(0);
    expect(who.stdout).toMatch(/^alice@example\.com$/m);
    expect(who.stdout).toContain(`token from ${cache}`);
    const config = loadOidcConfig({ ...process.env, ...signedOut });
    const refreshToken = readCachedTokens(config)?.refreshToken;
    expect(refreshToken).toBeTruthy();
    const out = await mlo(['logout'], signedOut);
    expect(out.stdout).toContain('signed out of http://127.0.0.1:');
    expect(out.stdout).toContain('the refresh token was revoked at the provider');
    expect((await mlo(['whoami'], signedOut)).code).toBe(2);
    // A copy of the cache taken before logout signs no one in: the provider revoked its refresh token.
    await expect(refreshTokens(config, refreshToken!)).rejects.toThrow(/refused the refresh_token request/);
  });

  it('a run is requested by whoever is signed in: --requested-by naming someone else is refused, nothing starts', async () => {
    const model = uniqueName('cli-requester');
    writeSpec(model);
    const r = await mlo([
      'train-and-promote',
      '--model',
      model,
      '--to',
      '2026-03-15',
      '--requested-by',
      'bob@example.com',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `requested by caller: --requested-by "bob@example.com" is not you: you are signed in as ${REQUESTER}`,
    );
    await expect(env.client.workflow.getHandle(`train-and-promote/${model}/2026-03-15`).describe()).rejects.toThrow();
  });
});

describe('mlo train-and-promote', () => {
  it('a second identical request attaches to the running run instead of starting a twin', async () => {
    const model = uniqueName('cli-attach');
    writeSpec(model);
    const idle = uniqueName('no-workers'); // no worker polls it: the run stays running
    const first = await mlo(['train-and-promote', '--model', model, '--to', '2026-03-15', '--detach', '--json'], {
      MLO_QUEUE_ORCHESTRATOR: idle,
    });
    expect(first.code).toBe(0);
    const a = json(first);
    expect(a).toMatchObject({
      workflowId: `train-and-promote/${model}/2026-03-15`,
      outcome: 'started',
      attached: false,
      status: 'RUNNING',
      requestedBy: REQUESTER,
    });
    const second = await mlo(['train-and-promote', '--model', model, '--to', '2026-03-15', '--detach'], {
      MLO_QUEUE_ORCHESTRATOR: idle,
    });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`attached to the running run train-and-promote/${model}/2026-03-15`);
    expect(second.stdout).toContain(`workflow id: ${String(a.workflowId)}`);
    const runs = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = "${String(a.workflowId)}"` }))
      runs.push(w.runId);
    expect(runs).toEqual([a.runId]);
    // `status <model>` finds it (its most recent run), though no worker took it yet.
    const st = await mlo(['status', model, '--json']);
    expect(st.code).toBe(0);
    expect(json(st)).toMatchObject({ workflowId: a.workflowId, outcome: 'running', windows: { asOf: '2026-03-15' } });
    await env.client.workflow.getHandle(String(a.workflowId)).terminate('cli test done');
  });

  it("follows a run to the approval step, refuses the requester, promotes on a reviewer's approval (plain lines)", async () => {
    const model = uniqueName('cli-promo');
    writeSpec(model);
    // alice requests it (--requested-by may repeat who is signed in, nothing else).
    const run = start(
      ['train-and-promote', '--model', model, '--to', '2026-03-15', '--requested-by', 'alice@example.com'],
      as('alice@example.com'),
    );
    const wid = `train-and-promote/${model}/2026-03-15`;
    await run.waitFor(/approve: mlo approve \S+/);
    expect(run.stdout()).toContain(`started ${wid}`);
    expect(run.stdout()).toMatch(/featureBackfill +succeeded/);
    expect(run.stdout()).toContain('review in the Temporal UI: http');
    expect(run.stdout()).toContain(encodeURIComponent(promotionWorkflowId(model)));
    expect(run.stdout()).toContain(`approve: mlo approve ${wid}\n`);

    const pending = json<{ workflowId: string }[]>(await mlo(['list', '--pending', '--model', model, '--json']));
    expect(pending.map((p) => p.workflowId)).toEqual([promotionWorkflowId(model)]);

    // The requester may not approve, nor name another reviewer: the CLI refuses that before sending.
    const asAnother = await mlo(['approve', wid, '--reviewer', 'carol@example.com'], as('alice@example.com'));
    expect(asAnother.code).toBe(2);
    expect(asAnother.stderr).toContain(
      'reviewer is caller: --reviewer "carol@example.com" is not you: you are signed in as alice@example.com',
    );
    const refused = await mlo(['approve', wid], as('alice@example.com'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('alice@example.com requested this run and may not approve it');
    const notReviewer = await mlo(['approve', model], as('mallory@example.com'));
    expect(notReviewer.code).toBe(2);
    expect(notReviewer.stderr).toContain('mallory@example.com is not a reviewer');

    const ok = await mlo(['approve', wid, '--comment', 'looks good'], as('carol@example.com'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`promoted: ${model} version 3 is now champion (approved by carol@example.com)`);
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^promoted: /m);

    const st = json(await mlo(['status', wid, '--json']));
    expect(st).toMatchObject({ outcome: 'promoted', candidateVersion: '3', exitCode: 0 });
  });

  it('--json: one object at the end; a rejection exits 3', async () => {
    const model = uniqueName('cli-reject');
    writeSpec(model);
    const run = start(['train-and-promote', '--model', model, '--to', '2026-03-15', '--json']);
    await until('the promotion to await a decision', async () =>
      (await env.client.workflow.getHandle(promotionWorkflowId(model)).query(promotionStateQuery)).status ===
      'awaiting-approval'
        ? true
        : undefined,
    );
    const st = json(await mlo(['status', model, '--json']));
    expect(st).toMatchObject({
      outcome: 'running',
      awaitingApproval: {
        promotionWorkflowId: promotionWorkflowId(model),
        reviewers: ['alice@example.com', 'carol@example.com'],
      },
    });
    const rej = await mlo(
      ['reject', promotionWorkflowId(model), '--reason', 'recall on DE dropped'],
      as('carol@example.com'),
    );
    expect(rej.code).toBe(0);
    const r = await run.done;
    expect(r.code).toBe(3);
    const out = json(r);
    expect(Object.keys(out)).toEqual(
      expect.arrayContaining([
        'workflowId',
        'runId',
        'outcome',
        'candidateVersion',
        'stages',
        'windows',
        'links',
        'exitCode',
      ]),
    );
    expect(out).toMatchObject({
      workflowId: `train-and-promote/${model}/2026-03-15`,
      outcome: 'rejected',
      exitCode: 3,
      candidateVersion: '3',
      attached: false,
      windows: {
        asOf: '2026-03-15',
        labelCutoff: '2026-03-15T00:00:00.000Z',
        shadow: { from: '2026-03-12', to: '2026-03-15' },
      },
      links: {
        temporal: expect.stringContaining('/workflows/train-and-promote%2F') as unknown,
        promotion: expect.stringContaining('promotion%2F') as unknown,
        mlflow: expect.stringContaining(`/#/models/${model}/versions/3`) as unknown,
      },
    });
    expect((out.stages as { stage: string; status: string }[]).map((s) => [s.stage, s.status])).toEqual([
      ['featureBackfill', 'succeeded'],
      ['training', 'succeeded'],
      ['evaluation', 'succeeded'],
      ['shadow', 'succeeded'],
      ['promotion', 'succeeded'],
    ]);
  });

  it('a failed gate exits 4; a stage failing with MloBadInput exits 2', async () => {
    const gate = uniqueName('cli-gate');
    const bad = uniqueName('cli-bad');
    writeSpec(gate);
    writeSpec(bad);
    const [g, b] = await Promise.all([
      mlo(['train-and-promote', '--model', gate, '--to', '2026-03-15', '--json']),
      mlo(['train-and-promote', '--model', bad, '--to', '2026-03-15', '--from', '2026-01-01', '--json']),
    ]);
    expect(g.code).toBe(4);
    expect(json(g)).toMatchObject({ outcome: 'gate-failed', exitCode: 4 });
    expect((json(g).stages as { stage: string; status: string }[]).find((s) => s.stage === 'promotion')?.status).toBe(
      'skipped',
    );
    expect(b.code).toBe(2);
    expect(json(b)).toMatchObject({
      workflowId: `train-and-promote/${bad}/2026-01-01..2026-03-15`,
      outcome: 'failed',
      exitCode: 2,
      error: { stage: 'featureBackfill', type: 'MloBadInput' },
      windows: { train: { from: '2026-01-01' } },
    });
  });
});

describe('mlo rollback, backfill and audit', () => {
  it('an emergency rollback moves at once; a reviewed one waits for `mlo approve rollback/<model>`', async () => {
    const model = uniqueName('cli-rb');
    writeSpec(model);
    const em = await mlo(['rollback', '--model', model, '--reason', 'auc dropped', '--emergency', '--wait', '--json']);
    expect(em.code).toBe(0);
    expect(json(em)).toMatchObject({ workflowId: `rollback/${model}`, outcome: 'promoted', version: '1', exitCode: 0 });
    const started = await mlo(['rollback', '--model', model, '--reason', 'again']);
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`approve: mlo approve rollback/${model}`);
    await until('the rollback to await a decision', async () =>
      (await env.client.workflow.getHandle(`rollback/${model}`).query(promotionStateQuery)).status ===
      'awaiting-approval'
        ? true
        : undefined,
    );
    const ok = await mlo(['approve', model], as('carol@example.com'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('rolled back from version 2 to 1');
  });

  it('backfill --wait shows partitions and the snapshot', async () => {
    const model = uniqueName('cli-bf');
    writeSpec(model);
    const r = await mlo([
      'backfill',
      '--model',
      model,
      '--from',
      '2026-03-01',
      '--to',
      '2026-03-09',
      '--wait',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(json(r)).toMatchObject({
      workflowId: `backfill/${model}/2026-03-01..2026-03-09`,
      status: 'COMPLETED',
      progress: { done: 4, total: 4 },
      snapshot: { partitions: 4 },
    });
    expect(planned.find((p) => p.workflowId === `backfill/${model}/2026-03-01..2026-03-09`)).toMatchObject({
      range: { from: '2026-03-01', to: '2026-03-09' },
      labelCutoff: '2026-03-09T00:00:00.000Z',
    });
  });

  it('audit prints the trail oldest first', async () => {
    const model = uniqueName('cli-audit');
    const cfg = loadConfig();
    const s3 = createS3Client(cfg.s3);
    try {
      await appendAudit(s3, cfg.s3.bucket, {
        model,
        action: 'champion-moved',
        actor: 'alice@example.com',
        at: '2026-03-02T10:00:00.000Z',
        version: '3',
        previousChampion: '2',
        newChampion: '3',
        workflowId: 'promotion/x',
      });
      await appendAudit(s3, cfg.s3.bucket, {
        model,
        action: 'challenger-set',
        actor: 'mlo',
        at: '2026-03-01T10:00:00.000Z',
        version: '3',
        workflowId: 'promotion/x',
      });
      await appendAudit(s3, cfg.s3.bucket, {
        model,
        action: 'refused',
        actor: 'dana@example.com',
        at: '2026-03-01T12:00:00.000Z',
        version: '3',
        reason: 'approve via signal: four eyes',
        workflowId: 'promotion/x',
      });
    } finally {
      s3.destroy();
    }
    const r = await mlo(['audit', '--model', model]);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('2026-'));
    expect(rows.map((l) => l.split(/\s{2,}/)[1])).toEqual(['challenger-set', 'refused', 'champion-moved']);
    expect(r.stdout).toContain('2 → 3');
    const j = json<{ action: string }[]>(await mlo(['audit', '--model', model, '--json']));
    expect(j.map((x) => x.action)).toEqual(['challenger-set', 'refused', 'champion-moved']);
  });
});

describe('mlo schedules', () => {
  it('sync creates, is idempotent, updates what changed, deletes what has no spec; --dry-run changes nothing', async () => {
    const a = uniqueName('cli-sched-a');
    const b = uniqueName('cli-sched-b');
    const noSchedule = uniqueName('cli-sched-none');
    writeSpec(a, '{ cron: "0 3 * * *", timezone: UTC, overlap: skip }');
    writeSpec(b, '{ interval: 24h, timezone: UTC, overlap: skip, paused: true }');
    writeSpec(noSchedule);
    type Entry = { model: string; scheduleId: string; action: string; changes: string[] };
    type Plan = { dryRun: boolean; entries: Entry[] };
    const ours = (entries: Entry[]) => entries.filter((e) => [a, b, noSchedule].includes(e.model));

    const dry = json<Plan>(await mlo(['schedules', 'sync', '--dry-run', '--json']));
    expect(ours(dry.entries).map((e) => [e.model, e.action])).toEqual([
      [a, 'create'],
      [b, 'create'],
    ]);
    expect(
      await env.client.schedule
        .getHandle(`mlo-retrain/${a}`)
        .describe()
        .catch(() => 'none'),
    ).toBe('none');

    const first = await mlo(['schedules', 'sync']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^create +${a} +mlo-retrain/${a}$`, 'm'));
    const da = await env.client.schedule.getHandle(`mlo-retrain/${a}`).describe();
    expect(da.action).toMatchObject({
      workflowType: 'trainAndPromote',
      taskQueue: QUEUE,
      workflowId: `train-and-promote/${a}/scheduled`,
    });
    const input = da.action.args?.[0] as { asOf?: string; requestedBy: string; model: string };
    // Synced as the scheduler service: its runs are requested by its subject.
    expect(input).toMatchObject({ model: a, requestedBy: 'mlo-scheduler' });
    expect(input.asOf).toBeUndefined();
    expect(da.spec.timezone).toBe('UTC');
    expect((await env.client.schedule.getHandle(`mlo-retrain/${b}`).describe()).state.paused).toBe(true);

    const second = json<Plan>(await mlo(['schedules', 'sync', '--json']));
    expect(ours(second.entries).map((e) => [e.model, e.action])).toEqual([
      [a, 'unchanged'],
      [b, 'unchanged'],
    ]);
    expect(second.entries.every((e) => e.action === 'unchanged')).toBe(true);

    writeSpec(a, '{ cron: "0 4 * * *", timezone: UTC, overlap: skip }');
    fs.rmSync(path.join(dir, `${b}.yaml`));
    const dry2 = await mlo(['schedules', 'sync', '--dry-run']);
    expect(dry2.stdout).toMatch(new RegExp(`^update +${a} `, 'm'));
    expect(dry2.stdout).toContain('cron: "0 3 * * *" → "0 4 * * *"');
    expect(dry2.stdout).toMatch(new RegExp(`^delete +${b} `, 'm'));
    expect(dry2.stdout).toContain('dry run, nothing changed');
    const third = json<Plan>(await mlo(['schedules', 'sync', '--json']));
    expect(ours(third.entries).map((e) => [e.model, e.action])).toEqual([
      [a, 'update'],
      [b, 'delete'],
    ]);
    expect((await env.client.schedule.getHandle(`mlo-retrain/${a}`).describe()).spec.calendars?.[0]?.hour).toEqual([
      { start: 4, end: 4, step: 1 },
    ]);
    await expect(env.client.schedule.getHandle(`mlo-retrain/${b}`).describe()).rejects.toThrow();
    const fourth = json<Plan>(await mlo(['schedules', 'sync', '--json']));
    expect(fourth.entries.every((e) => e.action === 'unchanged')).toBe(true);

    const list = json<{ model: string; paused: boolean; nextRuns: string[] }[]>(
      await mlo(['schedules', 'list', '--json']),
    );
    const la = list.find((l) => l.model === a);
    expect(la?.paused).toBe(false);
    expect(la?.nextRuns[0]).toMatch(/T04:00:00\.000Z$/);

    const paused = await mlo(['schedules', 'pause', a, '--note', 'data incident']);
    expect(paused.code).toBe(0);
    expect((await env.client.schedule.getHandle(`mlo-retrain/${a}`).describe()).state.paused).toBe(true);
    // A manual pause survives a sync that does not change the spec's `paused`.
    expect(json<Plan>(await mlo(['schedules', 'sync', '--json'])).entries.every((e) => e.action === 'unchanged')).toBe(
      true,
    );
    expect((await env.client.schedule.getHandle(`mlo-retrain/${a}`).describe()).state.paused).toBe(true);
    expect((await mlo(['schedules', 'unpause', a])).code).toBe(0);
    expect((await env.client.schedule.getHandle(`mlo-retrain/${a}`).describe()).state.paused).toBe(false);

    // clean up: no spec with a schedule left → sync deletes the rest
    fs.rmSync(path.join(dir, `${a}.yaml`));
    const last = json<Plan>(await mlo(['schedules', 'sync', '--json']));
    expect(ours(last.entries).map((e) => [e.model, e.action])).toEqual([[a, 'delete']]);
  });

  it('a scheduled run trains on the window that ends on its scheduled day (trigger and backfill)', async () => {
    const model = uniqueName('cli-sched-run');
    writeSpec(model, '{ cron: "0 3 * * *", timezone: UTC, overlap: skip, paused: true }');
    try {
      expect((await mlo(['schedules', 'sync'])).code).toBe(0);
      const trig = await mlo(['schedules', 'trigger', model, '--json']);
      expect(trig.code).toBe(0);
      const t = json<{ workflowId: string; scheduledAt: string }>(trig);
      expect(t.workflowId).toMatch(new RegExp(`^train-and-promote/${model}/scheduled-`));
      const d = await env.client.workflow.getHandle(t.workflowId).describe();
      const scheduledAt = d.typedSearchAttributes.get(
        defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME'),
      );
      expect(scheduledAt).toBeInstanceOf(Date);
      const day = (scheduledAt as Date).toISOString().slice(0, 10);
      const seen = await until('the scheduled run to plan its backfill', async () =>
        planned.find((p) => p.workflowId === `${t.workflowId}/features`),
      );
      expect(seen.range.to).toBe(day);
      expect(seen.labelCutoff).toBe(`${day}T00:00:00.000Z`);
      // The run fails on the mock's bad input: status reports it with exit code 2 and the window.
      const st = json(
        await until('the run to fail', async () => {
          const r = await mlo(['status', t.workflowId, '--json']);
          return (json(r).status as string) === 'FAILED' ? r : undefined;
        }),
      );
      expect(st).toMatchObject({
        outcome: 'failed',
        exitCode: 2,
        requestedBy: 'mlo-scheduler',
        windows: { asOf: day },
        error: { type: 'MloBadInput', stage: 'featureBackfill' },
      });

      const bf = await mlo(['schedules', 'backfill', model, '--from', '2026-03-01', '--to', '2026-03-03']);
      expect(bf.code).toBe(0);
      const ends = await until('the backfilled runs', async () => {
        const got = planned
          .filter((p) => p.workflowId.startsWith(`train-and-promote/${model}/scheduled-2026-03-0`))
          .map((p) => p.range.to)
          .sort();
        return got.length >= 2 ? got : undefined;
      });
      expect(ends).toEqual(['2026-03-01', '2026-03-02']);
    } finally {
      fs.rmSync(path.join(dir, `${model}.yaml`));
      await env.client.schedule
        .getHandle(`mlo-retrain/${model}`)
        .delete()
        .catch(() => undefined);
    }
  });
});
