/**
 * The promotion gate as people meet it in the Temporal Web UI with authentication on: each person
 * signs in through the dev OIDC provider's login page (Chromium, driven by playwright-core) and
 * decides with More Actions → Send an Update → `approve`. The UI forwards the person's own token,
 * so the server's rules apply to what they click: without a sign-in there is no access; an
 * outsider, the requester typing another reviewer's e-mail, and the requester approving her own
 * run are refused, visibly, and nothing moves; a reviewer's approval moves `champion` in the real
 * MLflow, and the audit and the workflow's history name her verified identity.
 *
 * Runs against the dev stack's own Temporal server and UI, with the orchestrator in-process as
 * `mlo-orchestrator` (test/helpers/orchestrator.ts). Fails, never skips, without the stack or
 * Chromium. Screenshots: /tmp/mlo-oidc-gate-*.png.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { Browser, Locator } from 'playwright-core';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { readAudit } from '../../lib/registry/audit';
import { promotionWorkflowId } from '../../lib/core/ids';
import {
  Identities,
  PEOPLE,
  deployModelSpec,
  oidcIssuer,
  waitForSpecKnown,
  type DeployedSpec,
} from '../helpers/identities';
import { Orchestrator, UNDECIDED, decisionEvents, verifiedIdentityOf } from '../helpers/orchestrator';
import {
  anonymousPage,
  continueToProvider,
  signInToTemporalUi,
  waitForUiLogin,
  type UiSession,
} from '../helpers/oidc-browser';
import { launchChromium, requireTemporalUi } from './temporal-ui';
import { waitFor } from '../helpers/wait';

const { alice, bob, carol, mallory, olivia } = PEOPLE;
const REVIEWERS = [alice, bob, carol];
const REQUESTER = carol; // a reviewer too: only the server's four-eyes rule stops her

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const ids = new Identities(cfg);
let browser: Browser | undefined;
let orch: Orchestrator | undefined;
let spec: DeployedSpec | undefined;
let model: string;
let workflowId: string;
/** The promotion, read as a reviewer. */
let view: WorkflowHandle;
const sessions = new Map<string, UiSession>();

/** Why setting up failed; each test then fails with it (vitest would only mark them skipped). */
let setupFailure: Error | undefined;
function requireSetup(): void {
  if (setupFailure) throw setupFailure;
}

beforeAll(async () => {
  try {
    browser = await launchChromium();
    await requireTemporalUi(cfg.temporal.uiUrl);
    orch = await Orchestrator.start(cfg);
    spec = deployModelSpec(cfg, 'ui-gate', REVIEWERS, orch.modelsDir);
    model = spec.name;
    workflowId = promotionWorkflowId(model);
    await waitForSpecKnown(await ids.client(alice), model, alice);
    await orch.registeredModel(model);
    await orch.startPromotion(spec, { requestedBy: REQUESTER });
    view = (await ids.client(bob)).workflow.getHandle(workflowId);
  } catch (err) {
    setupFailure = err instanceof Error ? err : new Error(String(err));
  }
}, 180_000);

afterAll(async () => {
  const admin = await ids.client(olivia).catch(() => undefined);
  if (admin && workflowId) await Orchestrator.terminateIfRunning(admin, workflowId);
  for (const s of sessions.values()) await s.context.close().catch(() => undefined);
  await browser?.close();
  await orch?.shutdown();
  spec?.remove();
  await ids.close();
  s3.destroy();
});

/** The person's signed-in UI session (one per person, kept for the file). */
async function as(email: string): Promise<UiSession> {
  let s = sessions.get(email);
  if (!s) {
    s = await signInToTemporalUi(browser!, {
      uiUrl: cfg.temporal.uiUrl,
      namespace: cfg.temporal.namespace,
      issuer: oidcIssuer(),
      email,
    });
    sessions.set(email, s);
  }
  return s;
}

function screenshotOnFailure(name: string, session?: () => UiSession | undefined): void {
  onTestFailed(async () => {
    await session?.()
      ?.ui.screenshot(`/tmp/mlo-oidc-gate-${name}-failed.png`)
      .catch(() => undefined);
  });
}

/** What a reviewer types into the list's filter: the waiting promotion of this model. */
const waitingQuery = () => `MloStage="awaiting-approval" AND MloModel="${model}"`;

/**
 * Signs `email` in, opens the promotion from the filtered list and sends `approve` with `input`
 * from "Send an Update"; returns the dialog.
 */
async function approveInUi(email: string, input: Record<string, string>): Promise<{ s: UiSession; dialog: Locator }> {
  const s = await as(email);
  await s.ui.openFromList(waitingQuery(), workflowId);
  return { s, dialog: await s.ui.sendUpdate('approve', input) };
}

/** The server's refusal, shown in the dialog's error line; the dialog stays open. Returns its text. */
async function refusalShown(dialog: Locator, message: string): Promise<string> {
  const line = dialog.getByText(message, { exact: true });
  await line.waitFor({ state: 'visible' });
  return line.innerText();
}

async function closeDialog(dialog: Locator): Promise<void> {
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).last().click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('the promotion gate in the Temporal Web UI, signed in through OIDC', () => {
  it('without signing in there is no access: the UI sends the browser to sign in, shows no workflow, and its API answers 401', async () => {
    requireSetup();
    const { context, page } = await anonymousPage(browser!);
    try {
      // A direct link to the waiting promotion lands on the sign-in page instead.
      await page.goto(
        `${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`,
      );
      await waitForUiLogin(page, cfg.temporal.uiUrl);
      const shown = await page.locator('body').innerText();
      expect(shown).not.toContain(model);
      expect(shown).not.toContain(REQUESTER);
      // The UI's API refuses the browser without a session.
      for (const api of [
        `/api/v1/namespaces/${cfg.temporal.namespace}/workflows?query=${encodeURIComponent(`MloModel="${model}"`)}`,
        `/api/v1/namespaces/${cfg.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`,
      ]) {
        const res = await page.request.get(`${cfg.temporal.uiUrl}${api}`);
        expect({ api, status: res.status() }).toEqual({ api, status: 401 });
        expect(await res.text()).not.toContain(model);
      }
      // Continue to SSO leads to the provider's sign-in page, still showing nothing of the workflow.
      await continueToProvider(page, oidcIssuer());
      expect(await page.locator('body').innerText()).not.toContain(model);
      await page.screenshot({ path: '/tmp/mlo-oidc-gate-no-login.png', fullPage: true });
    } finally {
      await context.close();
    }
    expect(await orch!.gateSnapshot(view, model)).toEqual(UNDECIDED);
  });

  it('an outsider signs in, may look, but her approval is refused, visibly, and nothing moves', async () => {
    requireSetup();
    screenshotOnFailure('outsider', () => sessions.get(mallory));
    const { s, dialog } = await approveInUi(mallory, { reviewer: mallory });
    const shown = await refusalShown(
      dialog,
      `mlo: reviewers: ${mallory} is not a reviewer of ${model} (reviewers: ${REVIEWERS.join(', ')})`,
    );
    expect(shown).toContain('mlo: reviewers:');
    await s.ui.screenshot('/tmp/mlo-oidc-gate-outsider-refused.png');
    await closeDialog(dialog);
    expect(await orch!.gateSnapshot(view, model)).toEqual(UNDECIDED);
  });

  it("the requester approving under another reviewer's e-mail is refused, visibly, and nothing moves", async () => {
    requireSetup();
    screenshotOnFailure('reviewer-is-caller', () => sessions.get(REQUESTER));
    const { s, dialog } = await approveInUi(REQUESTER, { reviewer: alice, candidateVersion: '2' });
    await refusalShown(
      dialog,
      `mlo: reviewer is caller: the decision names reviewer "${alice}" but the caller is ${REQUESTER}`,
    );
    await s.ui.screenshot('/tmp/mlo-oidc-gate-reviewer-is-caller.png');
    await closeDialog(dialog);
    expect(await orch!.gateSnapshot(view, model)).toEqual(UNDECIDED);
  });

  it('the requester, a reviewer of the model, cannot approve her own run either (four eyes); nothing moves', async () => {
    requireSetup();
    screenshotOnFailure('four-eyes', () => sessions.get(REQUESTER));
    const { s, dialog } = await approveInUi(REQUESTER, { reviewer: REQUESTER, candidateVersion: '2' });
    await refusalShown(dialog, `mlo: four eyes: ${REQUESTER} requested this run and cannot approve it`);
    await s.ui.screenshot('/tmp/mlo-oidc-gate-four-eyes.png');
    await closeDialog(dialog);
    expect(await orch!.gateSnapshot(view, model)).toEqual(UNDECIDED);
  });

  it('a reviewer signs in and approves: champion moves in MLflow, and the audit and history name her', async () => {
    requireSetup();
    screenshotOnFailure('approved', () => sessions.get(alice));
    const { s, dialog } = await approveInUi(alice, { reviewer: alice, candidateVersion: '2' });
    // Accepted: the dialog closes once the update completes, and the page shows the result.
    await dialog.waitFor({ state: 'hidden', timeout: 60_000 });
    await waitFor(
      'champion to move to version 2',
      async () => ((await orch!.aliasOf(model, 'champion')) === '2' ? true : undefined),
      60_000,
    );
    const message = `${model} version 2 is now champion (approved by ${alice})`;
    await s.page.getByText('Completed', { exact: true }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await s.page.getByText(message).first().waitFor({ state: 'visible' });
    await s.ui.screenshot('/tmp/mlo-oidc-gate-approved.png');

    expect(await view.result()).toEqual({ outcome: 'promoted', version: '2', decidedBy: alice, message });
    expect(await orch!.aliasOf(model, 'challenger')).toBeUndefined();
    // The one decision that reached the workflow: alice's, with the identity the server verified.
    const decisions = await decisionEvents(view);
    expect(decisions).toHaveLength(1);
    expect(verifiedIdentityOf(decisions[0]!)).toEqual({ subject: 'dev-alice', email: alice });
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', 'champion-moved']);
    expect(trail[1]).toMatchObject({
      actor: alice,
      version: '2',
      previousChampion: '1',
      newChampion: '2',
      workflowId,
      decider: { subject: 'dev-alice', email: alice },
      requester: { email: REQUESTER },
    });
  });
});
