/**
 * A reviewer's decision through the real Temporal Web UI: Chromium (headless, driven by
 * playwright-core) signs in through the dev OIDC provider's login page, finds the waiting
 * promotion by its search attributes, opens it and sends the `approve` update from "Send an
 * Update". The requester's own approval is refused by the Temporal server (four eyes), visibly,
 * and moves nothing; a reviewer's approval, signed in as that reviewer, moves `champion` in the
 * real MLflow registry.
 *
 * Runs against the dev stack's own Temporal server (the UI belongs to it, with authentication),
 * with in-process workers on unique task queues, as the orchestrator service; the model's spec
 * is deployed to the stack's own models/ for the test's duration. Fails, never skips, without
 * the stack or Chromium. Screenshots of the refused and approved states are left in /tmp
 * (mlo-browser-*.png).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Connection, WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type NativeConnection } from '@temporalio/worker';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildDeps, createCpuActivities } from '../../activities';
import { readAudit } from '../../lib/registry/audit';
import { loadConfig } from '../../lib/infra/config';
import { MlflowClient } from '../../lib/registry/mlflow';
import { createS3Client } from '../../lib/infra/s3';
import { promotion } from '../../workflows';
import { promotionStateQuery } from '../../lib/core/definitions';
import type { PromotionInput } from '../../workflows/promotion';
import { uniqueName } from '../helpers/temporal';
import { launchChromium, requireTemporalUi, TemporalUi } from './temporal-ui';
import { waitFor } from '../helpers/wait';
import { workflowBundle } from '../helpers/workflow-bundle';
import { promotionWorkflowId } from '../../lib/core/ids';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';
import { stackPaths } from '../../lib/stack/stack';
import { devPassword } from '../../lib/identity/dev-users';
import { stackClient, stackWorkerConnection } from '../helpers/identity';

const REQUESTER = 'carol@example.com';
const REVIEWER = 'alice@example.com';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const s3 = createS3Client(cfg.s3);
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let spec: string | undefined;
let connection: Connection | undefined;
let nativeConnection: NativeConnection | undefined;
let workers: Worker[] = [];
let running: Promise<void> | undefined;
let handle: WorkflowHandle<typeof promotion> | undefined;
let model: string;
let workflowId: string;
/** The specs the test's CPU worker deploys. */
const specsDir = deployedSpecsDir();

async function aliasOf(alias: string): Promise<string | undefined> {
  return (await mlflow.getModelVersionByAlias(model, alias))?.version;
}

/** What a reviewer types into the list's filter: the waiting promotion of this model. */
const waitingQuery = () => `MloStage="awaiting-approval" AND MloModel="${model}"`;

/** A browser session of its own (cookies apart), signed in as `email` through the OIDC login page. */
async function signedIn(email: string): Promise<{ page: Page; ui: TemporalUi }> {
  const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const ui = new TemporalUi(page, cfg.temporal.uiUrl, cfg.temporal.namespace);
  await ui.signIn(email, devPassword(email));
  return { page, ui };
}

function screenshotOnFailure(name: string, ui: TemporalUi): void {
  onTestFailed(async () => {
    await ui.screenshot(`/tmp/mlo-browser-${name}-failed.png`).catch(() => undefined);
  });
}

/** Why setting up failed; each test then fails with it (vitest would only mark them skipped). */
let setupFailure: Error | undefined;
function requireSetup(): void {
  if (setupFailure) throw setupFailure;
}

beforeAll(async () => {
  try {
    await setUp();
  } catch (err) {
    setupFailure = err instanceof Error ? err : new Error(String(err));
  }
}, 120_000);

async function setUp(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  // Preconditions first, each failing with what to run.
  browser = await launchChromium();
  await requireTemporalUi(cfg.temporal.uiUrl);

  // The workers and the promotion's start are the orchestrator service's (only it starts promotions).
  const stack = await stackClient();
  connection = stack.connection;
  const client = stack.client;
  nativeConnection = await stackWorkerConnection();
  const wfQueue = uniqueName('browser-wf');
  const cpuQueue = uniqueName('browser-cpu');
  workers = await Promise.all([
    Worker.create({
      connection: nativeConnection,
      namespace: cfg.temporal.namespace,
      taskQueue: wfQueue,
      workflowBundle: await workflowBundle(),
    }),
    Worker.create({
      connection: nativeConnection,
      namespace: cfg.temporal.namespace,
      taskQueue: cpuQueue,
      activities: createCpuActivities({ ...buildDeps(cfg), modelsDir: specsDir }),
    }),
  ]);
  running = Promise.all(workers.map((w) => w.run())).then(() => undefined);

  // A registered model with versions 1 (champion) and 2 (the candidate) in the real registry,
  // and its spec deployed to the stack, whose Temporal server takes the reviewers from it.
  model = `ui-promo-${randomUUID().slice(0, 8)}`;
  const { specHash } = deploySpec(specsDir, model, {
    reviewers: [REVIEWER, 'bob@example.com', REQUESTER],
    deadline: '1h',
  });
  spec = path.join(stackPaths(cfg.stack).localModels, `${model}.yaml`);
  fs.mkdirSync(path.dirname(spec), { recursive: true });
  fs.copyFileSync(path.join(specsDir, `${model}.yaml`), spec);
  await mlflow.createRegisteredModel(model);
  for (const v of [1, 2])
    await mlflow.createModelVersion({ name: model, source: `s3://${cfg.s3.bucket}/test-models/${model}/v${v}` });
  await mlflow.setAlias(model, 'champion', '1');

  workflowId = promotionWorkflowId(model);
  const input: PromotionInput = {
    model,
    specHash,
    candidateVersion: '2',
    requestedBy: REQUESTER,
    championAtEvaluation: '1',
    summary: '| metric | candidate | champion |\n|---|---|---|\n| auc | 0.93 | 0.91 |',
    evidence: { evaluationReport: 's3://mlo/reports/x.json' },
    parentWorkflowId: 'browser-test',
    cpuQueue,
  };
  handle = await client.workflow.start(promotion, { taskQueue: wfQueue, workflowId, args: [input] });
  await waitFor('the promotion to wait for a reviewer', async () =>
    (await handle?.query(promotionStateQuery))?.status === 'awaiting-approval' ? true : undefined,
  );
}

afterAll(async () => {
  if (handle) {
    const d = await handle.describe().catch(() => undefined);
    if (d?.status.name === 'RUNNING') await handle.terminate('browser test cleanup').catch(() => undefined);
  }
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  if (spec) fs.rmSync(spec, { force: true });
  for (const w of workers) w.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  s3.destroy();
  fs.rmSync(specsDir, { recursive: true, force: true });
});

describe('approving a promotion in the Temporal Web UI', () => {
  it('the requester, signed in, approving from "Send an Update" is refused by the server, visibly, and nothing moves', async () => {
    requireSetup();
    const { ui } = await signedIn(REQUESTER);
    screenshotOnFailure('refused', ui);
    await ui.openFromList(waitingQuery(), workflowId);
    const dialog = await ui.sendUpdate('approve', { reviewer: REQUESTER });
    const refusal = dialog.getByRole('alert').filter({ hasText: 'four eyes' });
    await refusal.waitFor({ state: 'visible' });
    expect(await refusal.innerText()).toContain(
      `mlo: four eyes: ${REQUESTER} requested this run and cannot approve it`,
    );
    await ui.screenshot('/tmp/mlo-browser-refused.png');

    // Nothing moved: champion and challenger as before, the workflow still waits, nothing decided.
    expect(await aliasOf('champion')).toBe('1');
    expect(await aliasOf('challenger')).toBe('2');
    const state = await handle!.query(promotionStateQuery);
    expect(state.status).toBe('awaiting-approval');
    expect(state.decision).toBeUndefined();
    expect((await readAudit(s3, cfg.s3.bucket, model)).map((t) => t.action)).toEqual(['challenger-set']);
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).last().click();
    await dialog.waitFor({ state: 'hidden' });
  });

  it('a reviewer, signed in through the OIDC login page, approves from "Send an Update": champion moves in MLflow', async () => {
    requireSetup();
    const { ui, page } = await signedIn(REVIEWER);
    screenshotOnFailure('approved', ui);
    await ui.openFromList(waitingQuery(), workflowId);
    const dialog = await ui.sendUpdate('approve', { reviewer: REVIEWER, candidateVersion: '2' });
    // Accepted: the dialog closes once the update completes, and the page shows the result.
    await dialog.waitFor({ state: 'hidden', timeout: 60_000 });
    expect(
      await waitFor(
        'champion to move to version 2',
        async () => ((await aliasOf('champion')) === '2' ? true : undefined),
        60_000,
      ),
    ).toBe(true);
    await page.getByText('Completed', { exact: true }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await page
      .getByText(`${model} version 2 is now champion (approved by ${REVIEWER})`)
      .first()
      .waitFor({ state: 'visible' });
    await ui.screenshot('/tmp/mlo-browser-approved.png');

    expect(await handle!.result()).toEqual({
      outcome: 'promoted',
      version: '2',
      decidedBy: REVIEWER,
      message: `${model} version 2 is now champion (approved by ${REVIEWER})`,
    });
    expect(await aliasOf('challenger')).toBeUndefined();
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', 'champion-moved']);
    expect(trail[1]).toMatchObject({
      actor: REVIEWER,
      version: '2',
      previousChampion: '1',
      newChampion: '2',
      workflowId,
    });
  });
});
