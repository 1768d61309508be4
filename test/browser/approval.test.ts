/**
 * A reviewer's decision through the real Temporal Web UI: Chromium (headless, driven by
 * playwright-core) finds the waiting promotion by its search attributes, opens it and sends
 * the `approve` update from "Send an Update". A self-approval is refused, visibly, and moves
 * nothing; an allowed reviewer's approval moves `champion` in the real MLflow registry.
 *
 * Runs against the dev stack's own Temporal server (the UI belongs to it), with in-process
 * workers on unique task queues. Fails, never skips, without the stack or Chromium.
 * Screenshots of the refused and approved states are left in /tmp (mlo-browser-*.png).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
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

const REQUESTER = 'carol@example.com';
const REVIEWER = 'alice@example.com';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const s3 = createS3Client(cfg.s3);
let browser: Browser | undefined;
let page: Page;
let ui: TemporalUi;
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

function screenshotOnFailure(name: string): void {
  onTestFailed(async () => {
    await ui?.screenshot(`/tmp/mlo-browser-${name}-failed.png`).catch(() => undefined);
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

  connection = await Connection.connect({ address: cfg.temporal.address });
  nativeConnection = await NativeConnection.connect({ address: cfg.temporal.address });
  const client = new Client({ connection, namespace: cfg.temporal.namespace });
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

  // A registered model with versions 1 (champion) and 2 (the candidate) in the real registry.
  model = `ui-promo-${randomUUID().slice(0, 8)}`;
  const { specHash } = deploySpec(specsDir, model, {
    reviewers: [REVIEWER, 'bob@example.com', REQUESTER],
    deadline: '1h',
  });
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

  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(20_000);
  ui = new TemporalUi(page, cfg.temporal.uiUrl, cfg.temporal.namespace);
}

afterAll(async () => {
  if (handle) {
    const d = await handle.describe().catch(() => undefined);
    if (d?.status.name === 'RUNNING') await handle.terminate('browser test cleanup').catch(() => undefined);
  }
  await browser?.close();
  for (const w of workers) w.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  s3.destroy();
  fs.rmSync(specsDir, { recursive: true, force: true });
});

describe('approving a promotion in the Temporal Web UI', () => {
  it('a self-approval sent from "Send an Update" is refused, visibly, and moves nothing', async () => {
    requireSetup();
    screenshotOnFailure('refused');
    await ui.openFromList(waitingQuery(), workflowId);
    const dialog = await ui.sendUpdate('approve', { reviewer: REQUESTER });
    const refusal = dialog
      .getByRole('alert')
      .filter({ hasText: 'requested this run and may not approve it (four eyes)' });
    await refusal.waitFor({ state: 'visible' });
    expect(await refusal.innerText()).toContain(
      `${REQUESTER} requested this run and may not approve it (four eyes); another reviewer must approve`,
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

  it('an allowed reviewer approves from "Send an Update": champion moves in MLflow', async () => {
    requireSetup();
    screenshotOnFailure('approved');
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
