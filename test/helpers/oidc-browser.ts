/**
 * Signing in to the Temporal Web UI as a person does, in Chromium: the UI (auth on) sends an
 * unauthenticated browser to its `/login` page, whose "Continue to SSO" goes to the OIDC
 * provider's sign-in page; the person types e-mail and password, allows access, and the
 * provider redirects back to the UI, which from then on forwards the person's own tokens to the
 * Temporal server on every call.
 *
 * Every person gets a browser context of her own: the provider's session cookie is per host, not
 * per port, so one context would sign the next person in as the previous one.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { devPassword } from '../../lib/identity/dev-users';
import { TemporalUi } from '../browser/temporal-ui';

export type UiSession = { email: string; context: BrowserContext; page: Page; ui: TemporalUi };

const VIEWPORT = { width: 1400, height: 1000 };

/** A fresh browser context (no cookies) and page, as someone who has not signed in. */
export async function anonymousPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { context, page };
}

/** The UI's own sign-in page (`/login`, "Continue to SSO"), where it sends a browser without a session. */
export async function waitForUiLogin(page: Page, uiUrl: string): Promise<void> {
  await page.waitForURL((u) => u.origin === new URL(uiUrl).origin && u.pathname === '/login');
  await page.getByRole('button', { name: 'Continue to SSO' }).waitFor({ state: 'visible' });
}

/** From the UI's `/login`: Continue to SSO, and wait for the provider's own "Sign in" page. */
export async function continueToProvider(page: Page, issuer: string): Promise<void> {
  await page.getByRole('button', { name: 'Continue to SSO' }).click();
  await page.waitForURL((u) => u.origin === new URL(issuer).origin);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor({ state: 'visible' });
}

/**
 * Signs `email` in to the Temporal UI through the provider's pages (password: the dev user's)
 * and returns the session, on the UI's workflow list.
 */
export async function signInToTemporalUi(
  browser: Browser,
  opts: { uiUrl: string; namespace: string; issuer: string; email: string; password?: string },
): Promise<UiSession> {
  const { context, page } = await anonymousPage(browser);
  const ui = new URL(opts.uiUrl).origin;
  try {
    await page.goto(`${opts.uiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows`);
    await waitForUiLogin(page, opts.uiUrl);
    await continueToProvider(page, opts.issuer);
    await page.getByLabel('E-mail').fill(opts.email);
    await page.getByLabel('Password').fill(opts.password ?? devPassword(opts.email));
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The provider asks for consent the first time; then it redirects back to the UI.
    const allow = page.getByRole('button', { name: 'Allow' });
    const consent = allow.waitFor({ state: 'visible' });
    const back = page.waitForURL((u) => u.origin === ui && u.pathname !== '/login');
    // The loser of the race times out later: its rejection is not a failure.
    consent.catch(() => undefined);
    back.catch(() => undefined);
    await Promise.race([consent, back]);
    if (await allow.isVisible()) await allow.click();
    await page.waitForURL((u) => u.origin === ui && u.pathname !== '/login' && !u.pathname.startsWith('/auth/'));
    await page.getByRole('button', { name: 'Continue to SSO' }).waitFor({ state: 'detached' });
    return { email: opts.email, context, page, ui: new TemporalUi(page, opts.uiUrl, opts.namespace) };
  } catch (err) {
    await page.screenshot({ path: `/tmp/mlo-oidc-sign-in-${opts.email}-failed.png`, fullPage: true }).catch(() => {});
    await context.close();
    throw new Error(`signing ${opts.email} in to the Temporal UI at ${opts.uiUrl} through ${opts.issuer} failed`, {
      cause: err,
    });
  }
}
