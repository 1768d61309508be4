/**
 * `mlo fleet` against real parts: its own Temporal server (mlo's binary, authentication off, so
 * visibility holds only this file's workflows), the dev stack's MLflow (registered models and
 * versions made through the registry's account) and OIDC provider (the CLI runs as a signed-in
 * user). Runs and promotions are real executions of the workflow types `trainAndPromote` and
 * `promotion` on a task queue no worker serves: visibility and failures are Temporal's own.
 *
 * The call count of the data gathering is measured on instrumented clients (the Temporal
 * client's WorkflowService methods, the MLflow client's fetch) at 3 and at 30 models: it must
 * not grow with the number of models.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { userToken } from '../helpers/identity';
import { registryCredentials } from '../helpers/identities';
import { MlflowClient } from '../../lib/registry/mlflow';
import { ModelAlias, VersionTag } from '../../lib/registry/tags';
import { SA } from '../../lib/core/search-attributes';
import { promotionWorkflowId, retrainScheduleId, rollbackWorkflowId, runWorkflowId } from '../../lib/core/ids';
import { gatherFleet, type FleetRow, type FleetSpec } from '../../lib/client/fleet';

const MLO = path.join(PROJECT_ROOT, 'bin', 'mlo.cjs');
const BASELINE = fs.readFileSync(path.join(PROJECT_ROOT, 'models', 'fraud-baseline.yaml'), 'utf8');
const cfg = loadConfig();
const creds = registryCredentials(cfg);
const mlflow = MlflowClient.fromConfig(cfg, { credentials: creds });
const QUEUE = uniqueName('fleet-q');
const prefix = uniqueName('fl');
const CHAMP = `${prefix}-champ`;
const FAILING = `${prefix}-failing`;
const PENDING = `${prefix}-pending`;
const extra = Array.from({ length: 27 }, (_, i) => `${prefix}-x${i}`);
const registered: string[] = [];

let env: TestWorkflowEnvironment;
let client: Client;
let dir: string;
let token: string;

function writeSpec(name: string): void {
  const text = BASELINE.replace(/^name: fraud-baseline$/m, `name: ${name}`).replace(/^schedule: .*$/m, '');
  fs.writeFileSync(path.join(dir, `${name}.yaml`), text);
}

type Result = { code: number | null; stdout: string; stderr: string };
function mlo(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    MLO_TEMPORAL_ADDRESS: env.address,
    MLO_TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    MLO_MODELS_DIR: dir,
    MLO_TOKEN: token,
    MLO_TOKEN_CACHE: path.join(dir, 'no-such-dir', 'tokens.json'),
    MLFLOW_TRACKING_USERNAME: creds.username,
    MLFLOW_TRACKING_PASSWORD: creds.password,
  };
  for (const [k, v] of Object.entries(extraEnv)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const child = spawn(process.execPath, [MLO, ...args], { cwd: PROJECT_ROOT, env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A registered model whose `champion` is a version approved by `approvedBy` at `promotedAt`. */
async function championModel(name: string, approvedBy: string, promotedAt: string): Promise<void> {
  registered.push(name);
  const exp = await mlflow.getOrCreateExperiment(`${prefix}-exp`);
  const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: name });
  await mlflow.createRegisteredModel(name);
  const v = await mlflow.createModelVersion({
    name,
    source: `${run.info.artifactUri}/model`,
    runId: run.info.runId,
    tags: { [VersionTag.approvedBy]: approvedBy, [VersionTag.promotedAt]: promotedAt },
  });
  await mlflow.setAlias(name, ModelAlias.champion, v.version);
}

/** A `trainAndPromote` execution of `model` (no worker serves its queue: it stays where it is put). */
async function startRun(model: string, day: string, stage: string) {
  return client.workflow.start('trainAndPromote', {
    workflowId: runWorkflowId(model, day),
    taskQueue: QUEUE,
    args: [{}],
    typedSearchAttributes: [
      { key: SA.model, value: model },
      { key: SA.stage, value: stage },
    ],
  });
}

/** Waits until visibility lists `n` executions of this file's models. */
async function visible(n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { count } = await client.workflow.count(`TaskQueue = "${QUEUE}"`);
    if (count >= n) return;
    if (Date.now() > deadline) throw new Error(`visibility lists ${count} of ${n} executions`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let pendingStartedAt: Date;
const CHAMP_PROMOTED_AT = new Date(Date.now() - 5 * 86_400_000).toISOString();

beforeAll(async () => {
  token = await userToken('erin@example.com');
  env = await createTestEnv();
  client = env.client;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-fleet-models-'));
  for (const m of [CHAMP, FAILING, PENDING]) writeSpec(m);

  await championModel(CHAMP, 'carol@example.com', CHAMP_PROMOTED_AT);
  const failed = await startRun(FAILING, '2026-01-02', 'training');
  await failed.terminate('trainer ran out of memory');
  await startRun(CHAMP, '2026-01-02', 'evaluation');
  const promotion = await client.workflow.start('promotion', {
    workflowId: promotionWorkflowId(PENDING),
    taskQueue: QUEUE,
    args: [{}],
    typedSearchAttributes: [
      { key: SA.model, value: PENDING },
      { key: SA.stage, value: 'awaiting-approval' },
      { key: SA.candidateVersion, value: '3' },
      { key: SA.requestedBy, value: 'erin@example.com' },
    ],
  });
  pendingStartedAt = (await promotion.describe()).startTime;
  await client.workflow.start('rollback', {
    workflowId: rollbackWorkflowId(FAILING),
    taskQueue: QUEUE,
    args: [{}],
    typedSearchAttributes: [
      { key: SA.model, value: FAILING },
      { key: SA.stage, value: 'rollback-awaiting-approval' },
      { key: SA.candidateVersion, value: '1' },
    ],
  });
  await client.schedule.create({
    scheduleId: retrainScheduleId(CHAMP),
    spec: { intervals: [{ every: '1d' }] },
    action: { type: 'startWorkflow', workflowType: 'trainAndPromote', taskQueue: QUEUE, args: [{}] },
  });
  await visible(4);
  for (const deadline = Date.now() + 30_000; ;) {
    let listed = false;
    for await (const s of client.schedule.list()) if (s.scheduleId === retrainScheduleId(CHAMP)) listed = true;
    if (listed) break;
    if (Date.now() > deadline) throw new Error('the schedule is not listed');
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  await env?.teardown();
  for (const name of registered) await mlflow.deleteRegisteredModel(name).catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('mlo fleet', () => {
  it('--json: champion with approver and age, failing run with its reason, pending approval with its deadline, next run', async () => {
    const r = await mlo(['fleet', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { models: FleetRow[] };
    const row = (m: string) => out.models.find((x) => x.model === m);

    expect(row(CHAMP)).toMatchObject({
      hasSpec: true,
      champion: { version: '1', approvedBy: 'carol@example.com', promotedAt: CHAMP_PROMOTED_AT },
      lastRun: { outcome: 'running', stage: 'evaluation', reason: null },
      schedulePaused: false,
      pendingApproval: null,
    });
    expect(row(CHAMP)?.champion?.ageMs).toBeGreaterThanOrEqual(5 * 86_400_000);
    const next = Date.parse(row(CHAMP)?.nextRunAt ?? '');
    expect(next).toBeGreaterThan(Date.now() - 60_000);
    expect(next).toBeLessThanOrEqual(Date.now() + 86_400_000 + 60_000);

    expect(row(FAILING)).toMatchObject({
      champion: null,
      lastRun: { workflowId: runWorkflowId(FAILING, '2026-01-02'), outcome: 'terminated' },
      nextRunAt: null,
      schedulePaused: null,
      pendingApproval: { kind: 'rollback', workflowId: rollbackWorkflowId(FAILING), candidateVersion: '1' },
    });
    expect(row(FAILING)?.lastRun?.reason).toContain('trainer ran out of memory');

    // fraud-baseline's promotion.deadline is 48h, counted from the promotion's start.
    expect(row(PENDING)?.pendingApproval).toMatchObject({
      kind: 'promotion',
      workflowId: promotionWorkflowId(PENDING),
      candidateVersion: '3',
      requestedBy: 'erin@example.com',
      startedAt: pendingStartedAt.toISOString(),
      deadline: new Date(pendingStartedAt.getTime() + 48 * 3_600_000).toISOString(),
    });
    expect(row(PENDING)?.lastRun).toBeNull();
  });

  it('filters: --failing, --pending, --stale; --markdown; a bad --stale exits 2', async () => {
    const mine = (r: Result) =>
      (JSON.parse(r.stdout) as { models: FleetRow[] }).models.map((m) => m.model).filter((m) => m.startsWith(prefix));
    expect(mine(await mlo(['fleet', '--failing', '--json']))).toEqual([FAILING]);
    expect(mine(await mlo(['fleet', '--pending', '--json']))).toEqual([FAILING, PENDING]);
    // The champion was promoted 5 days ago and no model of this file has a successful run: all stale.
    expect(mine(await mlo(['fleet', '--stale', '3d', '--json']))).toEqual([CHAMP, FAILING, PENDING]);

    const md = await mlo(['fleet', '--markdown', '--failing']);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/^## Model fleet — /);
    expect(md.stdout).toContain('Filters: failing');
    expect(md.stdout).toMatch(new RegExp(`^\\| ${FAILING} \\| .*\\| terminated \\| .*trainer ran out of memory`, 'm'));
    expect(md.stdout).not.toContain(`| ${CHAMP} |`);

    const table = await mlo(['fleet']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${CHAMP} +v1 +5d`, 'm'));

    // --since: the terminated run started more than a second ago falls out; the running one stays.
    const recent = JSON.parse((await mlo(['fleet', '--since', '1s', '--json'])).stdout) as { models: FleetRow[] };
    expect(recent.models.find((m) => m.model === FAILING)?.lastRun).toBeNull();
    expect(recent.models.find((m) => m.model === CHAMP)?.lastRun?.outcome).toBe('running');

    const anonymous = await mlo(['fleet'], {
      MLFLOW_TRACKING_USERNAME: undefined,
      MLFLOW_TRACKING_PASSWORD: undefined,
    });
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain('set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD');

    const bad = await mlo(['fleet', '--stale', 'three days']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--stale "three days" is not a duration');
  });

  it('the number of calls does not grow with the number of models (3 vs 30)', async () => {
    const temporalCalls = new Map<string, number>();
    const service = client.workflowService as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const method of [
      'listWorkflowExecutions',
      'listSchedules',
      'getWorkflowExecutionHistory',
      'describeWorkflowExecution',
      'describeSchedule',
      'queryWorkflow',
    ]) {
      const original = service[method]?.bind(service);
      if (!original) throw new Error(`WorkflowService has no ${method}`);
      service[method] = (...a: unknown[]) => {
        temporalCalls.set(method, (temporalCalls.get(method) ?? 0) + 1);
        return original(...a);
      };
    }
    let mlflowCalls = 0;
    const counted = new MlflowClient({
      trackingUri: cfg.mlflow.trackingUri,
      credentials: creds,
      fetch: (input, init) => {
        mlflowCalls += 1;
        return fetch(input, init);
      },
    });
    const specs = (names: string[]): FleetSpec[] => names.map((name) => ({ name, promotionDeadline: '48h' }));
    const measure = async (names: string[]) => {
      temporalCalls.clear();
      mlflowCalls = 0;
      const data = await gatherFleet({ client, mlflow: counted, specs: specs(names) });
      return { temporal: Object.fromEntries(temporalCalls), mlflow: mlflowCalls, data };
    };

    const three = await measure([CHAMP, FAILING, PENDING]);
    // 27 more models: specs, registered champions, running runs.
    for (const m of extra) await championModel(m, 'alice@example.com', new Date().toISOString());
    for (const m of extra) await startRun(m, '2026-01-03', 'training');
    await visible(4 + extra.length);
    const thirty = await measure([CHAMP, FAILING, PENDING, ...extra]);

    expect(thirty.data.runs.filter((r) => r.model.startsWith(prefix))).toHaveLength(29); // the pending model has no run
    expect(thirty.data.registry.filter((m) => m.name.startsWith(prefix) && m.championVersion)).toHaveLength(28);
    expect(three.temporal).toEqual(thirty.temporal);
    expect(three.mlflow).toBe(thirty.mlflow);
    // Two visibility queries, one schedule listing, one close-event read for the one failing run.
    expect(thirty.temporal).toEqual({ listWorkflowExecutions: 2, listSchedules: 1, getWorkflowExecutionHistory: 1 });
    expect(thirty.mlflow).toBeGreaterThanOrEqual(2); // a page of registered models, a page of promoted versions
  }, 180_000);
});
