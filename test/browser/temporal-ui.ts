/**
 * Drives the Temporal Web UI (2.42) the way a reviewer does, with playwright-core and the
 * machine's Chromium (Debian's package, or MLO_CHROMIUM). A browser is never downloaded.
 *
 * Signing in (mlo's Temporal server with authentication): any UI page without a session goes to
 * `/login` ("Welcome back.", button "Continue to SSO") → the dev OIDC provider's sign-in page
 * (fields "E-mail" and "Password", button "Sign in") → its consent page the first time (button
 * "Allow") → back to the UI page asked for, signed in; the UI then sends the user's token.
 *
 * The UI flow, as the UI 2.42 renders it:
 *   workflow list `/namespaces/<ns>/workflows?query=<visibility query>` → the row's link (its
 *   text is the workflow id) → workflow page (heading `workflow-id-heading`) → "More Actions"
 *   menu → menuitem "Send an Update" → dialog "Send an Update": Name (button
 *   `update-select-button`, a listbox of the workflow's registered updates, each option showing
 *   its name and description), Update ID (prefilled), Data (a CodeMirror JSON editor) →
 *   Submit (`confirm-modal-button`). A refused update (validator) leaves the dialog open with
 *   the failure message in its `role=alert` box; an accepted one closes it.
 */
import fs from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium to drive: MLO_CHROMIUM, or Debian's /usr/bin/chromium. Throws (never skips) when absent. */
export function chromiumPath(): string {
  const p = process.env.MLO_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(p)) {
    throw new Error(
      `The browser tests need Chromium, and there is none at ${p}${process.env.MLO_CHROMIUM ? ' (MLO_CHROMIUM)' : ''}. ` +
        "Install Debian's package: `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium` " +
        '(`npm test` does this when apt-get is available), or set MLO_CHROMIUM=<path to a Chromium or Chrome binary>.',
    );
  }
  return p;
}

/** Headless Chromium; `launch` gives every browser a fresh, temporary user data dir, removed on close. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
}

/** Throws, saying what to run, when the Temporal Web UI does not answer. */
export async function requireTemporalUi(uiUrl: string): Promise<void> {
  let problem: string | undefined;
  try {
    const res = await fetch(`${uiUrl}/`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) problem = `answered ${res.status}`;
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem)
    throw new Error(
      `The browser tests need the Temporal Web UI of the dev stack at ${uiUrl} (${problem}). Run \`npm run stack -- up\` (or \`npm test\`, which does it for you).`,
    );
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class TemporalUi {
  constructor(
    readonly page: Page,
    readonly uiUrl: string,
    readonly namespace: string,
  ) {}

  /**
   * Signs in as a dev user through the OIDC login page: from the UI's sign-in page to the
   * provider's form, filled as a person does, and back to the UI's namespace page.
   */
  async signIn(email: string, password: string): Promise<void> {
    await this.page.goto(`${this.uiUrl}/namespaces/${encodeURIComponent(this.namespace)}/workflows`);
    await this.page.getByRole('button', { name: 'Continue to SSO' }).click();
    const form = this.page.getByLabel('E-mail');
    await form.waitFor({ state: 'visible' });
    await form.fill(email);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
    const ui = new URL(this.uiUrl).origin;
    const allow = this.page.getByRole('button', { name: 'Allow' });
    // The consent page appears on a user's first sign-in to the UI's client; afterwards the provider skips it.
    await Promise.race([
      allow.waitFor({ state: 'visible' }).then(() => allow.click()),
      this.page.waitForURL((u) => u.origin === ui),
    ]);
    await this.page.waitForURL((u) => u.origin === ui && !u.pathname.startsWith('/login'));
  }

  /**
   * Opens the workflow list filtered by a visibility query and returns the link to `workflowId`,
   * reloading while visibility catches up with the workflow's search attributes.
   */
  async findInList(query: string, workflowId: string, timeoutMs = 30_000): Promise<Locator> {
    const url = `${this.uiUrl}/namespaces/${encodeURIComponent(this.namespace)}/workflows?query=${encodeURIComponent(query)}`;
    const link = this.page.getByRole('link', { name: workflowId, exact: true }).first();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.page.goto(url);
      try {
        await link.waitFor({ state: 'visible', timeout: 5000 });
        return link;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(
            `the Temporal UI's workflow list filtered by ${query} did not show ${workflowId} within ${timeoutMs / 1000}s`,
            { cause: err },
          );
      }
    }
  }

  /** From the filtered list, opens the workflow's page. */
  async openFromList(query: string, workflowId: string): Promise<void> {
    await (await this.findInList(query, workflowId)).click();
    await this.page.getByTestId('workflow-id-heading').filter({ hasText: workflowId }).waitFor({ state: 'visible' });
  }

  /** On a workflow's page: More Actions → Send an Update; returns the open dialog. */
  async openUpdateDialog(): Promise<Locator> {
    const item = this.page.getByRole('menuitem', { name: 'Send an Update' });
    // The page re-renders while it loads the workflow (and may close a menu opened too early): retry.
    for (let attempt = 1; ; attempt++) {
      if (!(await item.isVisible())) await this.page.getByRole('button', { name: 'More Actions' }).click();
      try {
        await item.waitFor({ state: 'visible', timeout: 3000 });
        break;
      } catch (err) {
        if (attempt >= 5)
          throw new Error('the "More Actions" menu of the workflow page did not offer "Send an Update"', {
            cause: err,
          });
      }
    }
    await item.click();
    const dialog = this.page.getByRole('dialog', { name: 'Send an Update' });
    await dialog.waitFor({ state: 'visible' });
    return dialog;
  }

  /**
   * Fills the "Send an Update" dialog (update chosen from the list by name, JSON input typed
   * into the Data editor) and submits it. Returns the dialog, to read the outcome from.
   */
  async sendUpdate(name: string, input: unknown): Promise<Locator> {
    const dialog = await this.openUpdateDialog();
    await dialog.getByTestId('update-select-button').click();
    await dialog.getByRole('option', { name: new RegExp(`^${escapeRegExp(name)}\\b`) }).click();
    const editor = dialog.locator('[contenteditable="true"][data-language="json"]');
    await editor.click();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.press('Delete');
    // insertText, not typing: CodeMirror would auto-close brackets and quotes as they are typed.
    await this.page.keyboard.insertText(JSON.stringify(input));
    // Leave the editor first: on blur the UI reformats the JSON and the dialog grows, which would
    // move the Submit button between mouse down and up and swallow the click.
    await editor.blur();
    await dialog.getByTestId('confirm-modal-button').click();
    return dialog;
  }

  async screenshot(file: string): Promise<void> {
    await this.page.screenshot({ path: file, fullPage: true });
  }
}
