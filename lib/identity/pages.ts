/**
 * The dev provider's HTML pages: sign-in, consent, sign-out and errors. Server-rendered, one
 * inline style sheet, system fonts, no scripts and no external resource of any kind (the pages
 * must work with no internet and leak nothing). `PAGE_HEADERS` carries a CSP that enforces it.
 */
import { FORM_FIELDS, INTERACTION_ACTIONS, INTERACTION_PATH, PROMPT_ATTRIBUTE, type InteractionPrompt } from './shared';

/** Response headers of every page: no caching, no framing, nothing loaded from elsewhere. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // No form-action: a sign-in form's answer redirects to the client's own origin.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
};

export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--fg:#1d2330;--muted:#5b6475;--line:#d5d9e0;--accent:#2456d3;--bad:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1e232b;--fg:#e7eaf0;--muted:#9aa3b2;--line:#343b47;--accent:#7fa2ff;--bad:#ff8a80}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:min(380px,92vw);background:var(--card);border:1px solid var(--line);border-radius:10px;padding:28px 28px 20px}
h1{font-size:1.35em;margin:0 0 4px}
p{margin:8px 0}
.muted{color:var(--muted);font-size:.9em}
.dev{display:inline-block;font-size:.75em;font-weight:600;letter-spacing:.04em;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:1px 6px;margin-bottom:12px}
label{display:block;font-weight:600;margin:14px 0 4px}
input[type=email],input[type=password]{width:100%;padding:9px 10px;border:1px solid var(--line);border-radius:6px;background:transparent;color:inherit;font:inherit}
button{width:100%;margin-top:18px;padding:10px;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.secondary{background:transparent;color:var(--muted);border:1px solid var(--line);margin-top:8px}
.error{color:var(--bad);font-weight:600}
ul{padding-left:20px;margin:8px 0}
pre{white-space:pre-wrap;word-break:break-word;font-size:.85em}
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<span class="dev">mlo dev identity provider</span>
${body}
</main>
</body>
</html>
`;
}

function actionPath(uid: string, action: string): string {
  return `${INTERACTION_PATH}/${encodeURIComponent(uid)}/${action}`;
}

function interactionForm(uid: string, prompt: InteractionPrompt, action: string, inner: string): string {
  return `<form method="post" action="${escapeHtml(actionPath(uid, action))}" ${PROMPT_ATTRIBUTE}="${prompt}" autocomplete="off">
<input type="hidden" name="${FORM_FIELDS.uid}" value="${escapeHtml(uid)}">
${inner}
</form>`;
}

function abortForm(uid: string, label: string): string {
  return `<form method="post" action="${escapeHtml(actionPath(uid, INTERACTION_ACTIONS.abort))}">
<input type="hidden" name="${FORM_FIELDS.uid}" value="${escapeHtml(uid)}">
<button type="submit" class="secondary">${escapeHtml(label)}</button>
</form>`;
}

export function loginPage(opts: { uid: string; clientName: string; email?: string; error?: string }): string {
  const error = opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>
<p class="muted">to continue to <strong>${escapeHtml(opts.clientName)}</strong></p>
${error}
${interactionForm(
  opts.uid,
  'login',
  INTERACTION_ACTIONS.login,
  `<label for="email">E-mail</label>
<input id="email" type="email" name="${FORM_FIELDS.email}" value="${escapeHtml(opts.email ?? '')}" required autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="${FORM_FIELDS.password}" required>
<button type="submit">Sign in</button>`,
)}
${abortForm(opts.uid, 'Cancel')}
<p class="muted">Dev accounts only: see lib/identity/README.md.</p>`,
  );
}

export function consentPage(opts: { uid: string; clientName: string; email: string; scopes: string[] }): string {
  const items = opts.scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  return page(
    'Allow access',
    `<h1>Allow access</h1>
<p><strong>${escapeHtml(opts.clientName)}</strong> asks to act as <strong>${escapeHtml(opts.email)}</strong> and to see:</p>
<ul>${items || '<li>your identity</li>'}</ul>
${interactionForm(opts.uid, 'consent', INTERACTION_ACTIONS.consent, '<button type="submit">Allow</button>')}
${abortForm(opts.uid, 'Deny')}`,
  );
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'your user id',
  email: 'your e-mail address',
  profile: 'your name',
  groups: 'the groups you belong to',
  offline_access: 'access while you are away (a refresh token)',
};

export function errorPage(title: string, message: string, details: Record<string, string> = {}): string {
  const rows = Object.entries(details)
    .map(([k, v]) => `<pre><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</pre>`)
    .join('');
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${rows}`);
}

/** The sign-out question; `form` is oidc-provider's hidden form (id `op.logoutForm`). */
export function logoutPage(form: string, host: string): string {
  return page(
    'Sign out',
    `<h1>Sign out</h1>
<p>Sign out of the dev identity provider at ${escapeHtml(host)}?</p>
${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
  );
}

export function message(title: string, text: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`);
}
