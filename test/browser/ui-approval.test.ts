/**
 * A reviewer's approval through the real Temporal Web UI: playwright-core drives Debian's
 * Chromium (headless) against the dev stack. The test finds the waiting promotion by its
 * search attributes, sends the `approve` update from the UI's "Update" action, and sees
 * `champion` move in the real MLflow registry; a self-approval sent the same way is refused,
 * visibly, with nothing moved.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { buildDeps, createCpuActivities } from '../../activities';
import { loadConfig, WORKFLOWS_PATH } from '../../lib/config';
import { MlflowClient } from '../../lib/mlflow';
import { promotion } from '../../workflows';
import { promotionStateQuery, promotionWorkflowId } from '../../workflows/definitions';
import { uniqueName } from '../helpers/temporal';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const CHROMIUM = process.env.MLO_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.MLO_SCREENSHOTS ?? path.join(os.tmpdir(), 'mlo-browser');
const model = `ui-${randomUUID().slice(0, 8)}`;
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;
let workers: Worker[] = [];
let running: Promise<void>;
let browser: BrowserContext;
let handle: WorkflowHandle<typeof promotion>;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not at ${CHROMIUM}: run \`npm test\` (it installs Debian's chromium) or set MLO_CHROMIUM=<path>`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  connection = await Connection.connect({ address: cfg.temporal.address });
  client = new Client({ connection, namespace: cfg.temporal.namespace });
  nativeConnection = await NativeConnection.connect({ address: cfg.temporal.address });
  const wfQueue = uniqueName('ui-wf');
  const cpuQueue = uniqueName('ui-cpu');
  workers = await Promise.all([
    Worker.create({ connection: nativeConnection, namespace: cfg.temporal.namespace, taskQueue: wfQueue, workflowsPath: WORKFLOWS_PATH }),
    Worker.create({ connection: nativeConnection, namespace: cfg.temporal.namespace, taskQueue: cpuQueue, activities: createCpuActivities(buildDeps(cfg)) }),
  ]);
  running = Promise.all(workers.map((w) => w.run())).then(() => undefined);

  await mlflow.createRegisteredModel(model);
  for (const v of [1, 2]) await mlflow.createModelVersion({ name: model, source: `s3://${cfg.s3.bucket}/test-models/${model}/v${v}` });
  await mlflow.setAlias(model, 'champion', '1');
  handle = await client.workflow.start(promotion, {
    taskQueue: wfQueue,
    workflowId: promotionWorkflowId(model),
    args: [
      {
        model,
        candidateVersion: '2',
        requestedBy: 'carol@example.com',
        reviewers: ['alice@example.com', 'carol@example.com'],
        deadline: '1h',
        championAtEvaluation: '1',
        summary: '| metric | candidate | champion |\n|---|---|---|\n| auc | 0.93 | 0.91 |',
        evidence: {},
        parentWorkflowId: 'browser-test',
        cpuQueue,
      },
    ],
  });
  for (let i = 0; i < 100 && (await handle.query(promotionStateQuery)).status !== 'awaiting-approval'; i++) await new Promise((r) => setTimeout(r, 200));
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await handle?.terminate('browser test cleanup').catch(() => undefined);
  for (const w of workers) w.shutdown();
  await running;
  await nativeConnection?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
});

async function openPromotionFromList(page: Page): Promise<void> {
  const query = `MloStage="awaiting-approval" AND MloModel="${model}"`;
  await page.goto(`${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows?query=${encodeURIComponent(query)}`);
  const link = page.getByRole('link', { name: promotionWorkflowId(model) });
  await link.first().waitFor({ timeout: 30_000 });
  await link.first().click();
  await page.getByRole('button', { name: 'More Actions' }).first().waitFor({ timeout: 30_000 });
}

async function sendUpdate(page: Page, name: string, input: object, shot: string): Promise<void> {
  await page.getByRole('button', { name: 'More Actions' }).first().click();
  await page.waitForTimeout(500);
  await page.getByRole('menuitem', { name: 'Send an Update' }).filter({ visible: true }).first().click();
  const modal = page.getByTestId('update-confirmation-modal').filter({ visible: true }).first();
  await modal.waitFor({ timeout: 10_000 });
  await page.screenshot({ path: path.join(SHOTS, `${shot}-1-modal.png`) });
  // The update's name comes from the handlers the workflow registered at start.
  await modal.getByTestId('update-select-button').click();
  // Each option shows the handler's name and the description it was registered with.
  await modal.getByRole('option', { name: new RegExp(`^\\s*${name}\\b`) }).first().click();
  const editor = modal.getByRole('textbox').filter({ has: page.locator('[contenteditable]') }).or(modal.locator('[contenteditable="true"]')).first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(JSON.stringify(input));
  await page.screenshot({ path: path.join(SHOTS, `${shot}-2-filled.png`) });
  // The first click may only take the focus out of the editor, which re-formats the JSON.
  const confirm = modal.getByTestId('confirm-modal-button');
  await confirm.click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: path.join(SHOTS, `${shot}-3-submitted.png`) });
  const alertText = (await modal.locator('[role="alert"]').allTextContents()).join('').trim();
  if ((await modal.isVisible()) && (await confirm.isEnabled()) && alertText === '') {
    await confirm.click();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(SHOTS, `${shot}-4-submitted-again.png`) });
  }
}

describe('reviewing a promotion in the Temporal Web UI', () => {
  it('a self-approval is refused visibly and moves nothing; an allowed reviewer approves and champion moves', async () => {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await openPromotionFromList(page);

    await sendUpdate(page, 'approve', { reviewer: 'carol@example.com', candidateVersion: '2' }, 'self');
    const refusal = page.getByText('carol@example.com requested this run and may not approve it (four eyes)');
    await refusal.first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(SHOTS, 'self-3-refused.png') });
    expect(await refusal.count()).toBeGreaterThan(0);
    expect((await mlflow.getModelVersionByAlias(model, 'champion'))?.version).toBe('1');
    expect((await mlflow.getModelVersionByAlias(model, 'challenger'))?.version).toBe('2');
    expect((await handle.query(promotionStateQuery)).status).toBe('awaiting-approval');

    await page.reload();
    await page.getByRole('button', { name: 'More Actions' }).first().waitFor({ timeout: 30_000 });
    await sendUpdate(page, 'approve', { reviewer: 'alice@example.com', candidateVersion: '2' }, 'approve');
    const deadline = Date.now() + 60_000;
    let champion: string | undefined;
    while (Date.now() < deadline && (champion = (await mlflow.getModelVersionByAlias(model, 'champion'))?.version) !== '2') await new Promise((r) => setTimeout(r, 500));
    await page.screenshot({ path: path.join(SHOTS, 'approve-3-done.png') });
    expect(champion).toBe('2');
    expect(await handle.result()).toMatchObject({ outcome: 'promoted', decidedBy: 'alice@example.com' });
  }, 240_000);
});
