/**
 * The dev OIDC provider and mlo's OIDC client, end to end, in-process: the provider listens on a
 * free loopback port with a temporary state directory; nothing of the dev stack is used (the
 * integration project's global setup still checks that the stack is up).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SignJWT,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
} from 'jose';
import {
  loadDevProviderConfig,
  startDevProvider,
  type DevProvider,
  type DevProviderConfig,
} from '../../lib/identity/dev-provider';
import { DEV_USERS, devPassword } from '../../lib/identity/dev-users';
import { AuthError } from '../../lib/identity/errors';
import { SIGNING_KEY_FILE } from '../../lib/identity/keys';
import {
  authorizeUrl,
  clientCredentialsToken,
  createPkce,
  devBrowser,
  devSignIn,
  discover,
  driveDevSignIn,
  loadOidcConfig,
  loginWithPkce,
  readCachedTokens,
  userTokenSource,
  verifyAccessToken,
  writeCachedTokens,
  type OidcClientConfig,
} from '../../lib/identity/oidc-client';
import { runTs, spawnTs } from '../helpers/spawn';
import { CLI_REDIRECT_URI, GROUPS, MLO_AUDIENCE, USER_SCOPES, devClientSecret } from '../../lib/identity/shared';

let tmp: string;
let cfg: DevProviderConfig;
let dev: DevProvider;
let client: OidcClientConfig;
const logs: string[] = [];

const alice = 'alice@example.com';

async function start(port: number): Promise<DevProvider> {
  return startDevProvider({ ...cfg, port });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-identity-'));
  cfg = {
    ...loadDevProviderConfig({ MLO_STACK_DIR: tmp, MLO_OIDC_STATE_DIR: path.join(tmp, 'oidc') }),
    port: 0,
    log: (l) => logs.push(l),
  };
  dev = await start(0);
  client = loadOidcConfig({ MLO_OIDC_ISSUER: dev.issuer, MLO_TOKEN_CACHE: path.join(tmp, 'config', 'tokens.json') });
});

afterAll(async () => {
  await dev?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A cookie header: the cookies of `header` updated by the response's Set-Cookie (later wins by name). */
function withCookies(header: string, res: Response): string {
  const jar = new Map<string, string>();
  for (const c of [...header.split('; '), ...res.headers.getSetCookie().map((l) => l.split(';')[0] ?? '')]) {
    const eq = c.indexOf('=');
    if (eq > 0) jar.set(c.slice(0, eq), c.slice(eq + 1));
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** GETs the authorization URL and follows the provider's redirects to the page it shows. */
async function openSignInPage(url: string): Promise<{ res: Response; html: string; pageUrl: URL; cookie: string }> {
  const first = await fetch(url, { redirect: 'manual' });
  expect(first.status).toBe(303);
  const pageUrl = new URL(first.headers.get('location') ?? '', url);
  const cookie = withCookies('', first);
  const res = await fetch(pageUrl, { headers: { cookie } });
  return { res, html: await res.text(), pageUrl, cookie };
}

function cliAuthorizeUrl(issuerDoc: { authorization_endpoint: string }, challenge: string | undefined): string {
  const u = new URL(
    authorizeUrl(issuerDoc, {
      clientId: 'mlo-cli',
      redirectUri: CLI_REDIRECT_URI,
      scopes: USER_SCOPES,
      state: 'st',
      nonce: 'nn',
      codeChallenge: challenge ?? 'x',
    }),
  );
  if (challenge === undefined) {
    u.searchParams.delete('code_challenge');
    u.searchParams.delete('code_challenge_method');
  }
  return u.toString();
}

describe('dev OIDC provider + client', () => {
  it('publishes discovery and a JWKS with one RS256 key; the key file is 0600', async () => {
    const doc = await discover(dev.issuer);
    expect(doc.issuer).toBe(dev.issuer);
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
    );
    const jwks = (await (await fetch(doc.jwks_uri)).json()) as { keys: { kty: string; alg: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    expect(jwks.keys[0]?.d).toBeUndefined();
    const st = fs.statSync(path.join(cfg.stateDir, SIGNING_KEY_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.statSync(cfg.stateDir).mode & 0o777).toBe(0o700);
  });

  it('devSignIn of a reviewer yields a JWT access token for mlo with e-mail and groups, verifiable against the JWKS', async () => {
    const tokens = await devSignIn(alice, devPassword(alice), { issuer: dev.issuer });
    expect(decodeProtectedHeader(tokens.accessToken)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    // Independently of our helper: jose straight against the published JWKS.
    const doc = await discover(dev.issuer);
    const { payload } = await jwtVerify(tokens.accessToken, createRemoteJWKSet(new URL(doc.jwks_uri)), {
      issuer: dev.issuer,
      audience: MLO_AUDIENCE,
    });
    expect(payload).toMatchObject({
      sub: 'dev-alice',
      aud: 'mlo',
      email: alice,
      groups: [GROUPS.reviewers],
      client_id: 'mlo-cli',
    });
    const who = await verifyAccessToken(tokens.accessToken, { config: client });
    expect(who).toMatchObject({ subject: 'dev-alice', email: alice, groups: ['mlo-reviewers'], clientId: 'mlo-cli' });
    // The ID token carries the same identity, for the client.
    expect(decodeJwt(tokens.idToken ?? '')).toMatchObject({
      sub: 'dev-alice',
      aud: 'mlo-cli',
      email: alice,
      email_verified: true,
      groups: ['mlo-reviewers'],
      name: 'Alice Reviewer',
    });
    expect(tokens.refreshToken).toBeTruthy();
  });

  it('every dev user signs in with their dev password and gets their groups', async () => {
    for (const u of DEV_USERS) {
      const tokens = await devSignIn(u.email, devPassword(u.email), { issuer: dev.issuer });
      const who = await verifyAccessToken(tokens.accessToken, { config: client });
      expect(who).toMatchObject({ subject: u.sub, email: u.email, groups: u.groups });
    }
  });

  it('refuses a wrong password: the sign-in page shows an error and no code is issued', async () => {
    const doc = await discover(dev.issuer);
    const { res, html, pageUrl, cookie } = await openSignInPage(cliAuthorizeUrl(doc, createPkce().challenge));
    expect(res.status).toBe(200);
    const uid = pageUrl.pathname.split('/')[2] ?? '';
    const post = await fetch(new URL(`/interaction/${uid}/login`, dev.issuer), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ uid, email: alice, password: 'not-her-password' }),
    });
    expect(post.status).toBe(401);
    expect(post.headers.get('location')).toBeNull();
    const page = await post.text();
    expect(page).toContain('Wrong e-mail or password');
    expect(page).not.toMatch(/code=/);
    expect(html).toContain('data-mlo-prompt="login"');

    await expect(devSignIn(alice, 'wrong', { issuer: dev.issuer })).rejects.toMatchObject({
      failure: 'credentials-refused',
    });
    await expect(
      devSignIn('nobody@example.com', devPassword('nobody@example.com'), { issuer: dev.issuer }),
    ).rejects.toBeInstanceOf(AuthError);
    // The form must name its interaction (CSRF guard).
    const forged = await fetch(new URL(`/interaction/${uid}/login`, dev.issuer), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ uid: 'other', email: alice, password: devPassword(alice) }),
    });
    expect(forged.status).toBe(400);
    expect(logs.some((l) => l.includes('sign-in refused'))).toBe(true);
  });

  it('pages load nothing from outside: no http(s) URL but the issuer in src/href, no @import or url()', async () => {
    const doc = await discover(dev.issuer);
    const origin = new URL(dev.issuer).origin;
    const { res, html, pageUrl, cookie } = await openSignInPage(cliAuthorizeUrl(doc, createPkce().challenge));
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const uid = pageUrl.pathname.split('/')[2] ?? '';
    const login = await fetch(new URL(`/interaction/${uid}/login`, dev.issuer), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ uid, email: alice, password: devPassword(alice) }),
    });
    expect(login.status).toBe(303);
    // Resume at the provider; mlo-cli is a native client, so the consent page follows.
    const jar = withCookies(cookie, login);
    const resume = await fetch(new URL(login.headers.get('location') ?? '', dev.issuer), {
      redirect: 'manual',
      headers: { cookie: jar },
    });
    const consentUrl = new URL(resume.headers.get('location') ?? '', dev.issuer);
    const consentCookie = withCookies(jar, resume);
    const consent = await (await fetch(consentUrl, { headers: { cookie: consentCookie } })).text();
    expect(consent).toContain('data-mlo-prompt="consent"');
    const expired = await (await fetch(new URL('/interaction/nope', dev.issuer))).text();
    const error = await (await fetch(new URL('/auth?client_id=nope', dev.issuer))).text();
    // With no session, oidc-provider's own auto-submitting sign-out form (an inline script): same origin only.
    const logout = await (await fetch(new URL('/session/end', dev.issuer))).text();
    expect(logout).toContain('/session/end/confirm');
    for (const url of logout.match(/https?:\/\/[^\s"'<>)]+/g) ?? []) expect(new URL(url).origin).toBe(origin);

    for (const page of [html, consent, expired, error]) {
      const refs = [...page.matchAll(/\b(?:src|href|action)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1] ?? '');
      for (const ref of refs) if (/^https?:/i.test(ref)) expect(new URL(ref).origin).toBe(origin);
      for (const url of page.match(/https?:\/\/[^\s"'<>)]+/g) ?? []) expect(new URL(url).origin).toBe(origin);
      expect(page).not.toMatch(/@import|url\(|<script|<link/i);
    }
  });

  it('client credentials for mlo-orchestrator: sub is the client id, groups mlo-services, aud mlo; cached until renewal', async () => {
    const source = clientCredentialsToken({
      clientId: 'mlo-orchestrator',
      clientSecret: devClientSecret('mlo-orchestrator'),
      issuer: dev.issuer,
    });
    const token = await source.getAccessToken();
    expect(await source.getAccessToken()).toBe(token);
    const who = await verifyAccessToken(token, { config: client });
    expect(who).toMatchObject({ subject: 'mlo-orchestrator', groups: ['mlo-services'], clientId: 'mlo-orchestrator' });
    expect(who.email).toBeUndefined();
    expect(who.claims.aud).toBe('mlo');
    const [a, b] = await Promise.all([source.getAccessToken(), source.getAccessToken()]);
    expect(a).toBe(b);
    source.invalidate();
    expect(await source.getAccessToken()).not.toBe(token);

    const wrong = clientCredentialsToken({
      clientId: 'mlo-scheduler',
      clientSecret: 'not-the-secret',
      issuer: dev.issuer,
    });
    await expect(wrong.getAccessToken()).rejects.toMatchObject({ failure: 'credentials-refused' });
    // A user-facing client cannot use the grant.
    const cli = clientCredentialsToken({
      clientId: 'temporal-ui',
      clientSecret: devClientSecret('temporal-ui'),
      issuer: dev.issuer,
    });
    await expect(cli.getAccessToken()).rejects.toBeInstanceOf(AuthError);
  });

  it('verifyAccessToken refuses forged, expired, tampered and wrong-audience tokens', async () => {
    const doc = await discover(dev.issuer);
    const jwk = JSON.parse(fs.readFileSync(path.join(cfg.stateDir, SIGNING_KEY_FILE), 'utf8')) as { kid: string };
    const realKey = await importJWK(jwk, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const claims = { email: alice, groups: ['mlo-reviewers'], client_id: 'mlo-cli' };
    const sign = (key: Parameters<SignJWT['sign']>[0], over: { aud?: string; exp?: number; iat?: number } = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid })
        .setIssuer(doc.issuer)
        .setSubject('dev-alice')
        .setAudience(over.aud ?? 'mlo')
        .setIssuedAt(over.iat ?? now)
        .setExpirationTime(over.exp ?? now + 600)
        .sign(key);

    // Sanity: a token signed with the real key verifies.
    await expect(verifyAccessToken(await sign(realKey), { config: client })).resolves.toMatchObject({
      subject: 'dev-alice',
    });

    const { privateKey: otherKey } = await generateKeyPair('RS256');
    await expect(verifyAccessToken(await sign(otherKey), { config: client })).rejects.toThrow(
      /signature does not verify/,
    );
    await expect(
      verifyAccessToken(await sign(realKey, { iat: now - 7200, exp: now - 3600 }), { config: client }),
    ).rejects.toThrow(/expired/);
    await expect(verifyAccessToken(await sign(realKey, { aud: 'someone-else' }), { config: client })).rejects.toThrow(
      /not for mlo/,
    );
    const real = (await devSignIn(alice, devPassword(alice), { issuer: dev.issuer })).accessToken;
    const [h, p, s] = real.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    const tampered = [
      h,
      Buffer.from(JSON.stringify({ ...payload, groups: ['mlo-admins'] })).toString('base64url'),
      s,
    ].join('.');
    await expect(verifyAccessToken(tampered, { config: client })).rejects.toMatchObject({ failure: 'token-invalid' });
    await expect(verifyAccessToken('not-a-jwt', { config: client })).rejects.toMatchObject({
      failure: 'token-invalid',
    });
    // An ID token is not an access token (its audience is the client).
    const idToken = (await devSignIn(alice, devPassword(alice), { issuer: dev.issuer })).idToken ?? '';
    await expect(verifyAccessToken(idToken, { config: client })).rejects.toMatchObject({ failure: 'token-invalid' });
  });

  it('mlo-cli requires PKCE: no challenge is refused, and a code exchange without the verifier fails', async () => {
    const doc = await discover(dev.issuer);
    const noChallenge = await fetch(cliAuthorizeUrl(doc, undefined), { redirect: 'manual' });
    const back = new URL(noChallenge.headers.get('location') ?? '', dev.issuer);
    expect(back.origin + back.pathname).toBe(CLI_REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('code')).toBeNull();

    const pkce = createPkce();
    const callback = await driveDevSignIn(cliAuthorizeUrl(doc, pkce.challenge), {
      email: alice,
      password: devPassword(alice),
    });
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();
    const exchange = (extra: Record<string, string>) =>
      fetch(doc.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: code ?? '',
          redirect_uri: CLI_REDIRECT_URI,
          client_id: 'mlo-cli',
          ...extra,
        }),
      });
    const without = await exchange({});
    expect(without.status).toBe(400);
    expect(await without.json()).toMatchObject({ error: 'invalid_grant' });
    // The code is single-use, and a wrong verifier fails as well.
    const pkce2 = createPkce();
    const cb2 = await driveDevSignIn(cliAuthorizeUrl(doc, pkce2.challenge), {
      email: alice,
      password: devPassword(alice),
    });
    const wrongVerifier = await fetch(doc.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: cb2.searchParams.get('code') ?? '',
        redirect_uri: CLI_REDIRECT_URI,
        client_id: 'mlo-cli',
        code_verifier: createPkce().verifier,
      }),
    });
    expect(wrongVerifier.status).toBe(400);
  });

  it('temporal-ui (confidential, HTTP Basic) gets an mlo access token and an ID token with e-mail and groups', async () => {
    const tokens = await devSignIn('bob@example.com', devPassword('bob@example.com'), {
      issuer: dev.issuer,
      clientId: 'temporal-ui',
      clientSecret: devClientSecret('temporal-ui'),
      redirectUri: `http://127.0.0.1:${cfg.temporalUiPort}/auth/sso/callback`,
      scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    });
    expect(decodeJwt(tokens.accessToken)).toMatchObject({
      aud: 'mlo',
      email: 'bob@example.com',
      groups: ['mlo-reviewers'],
    });
    expect(decodeJwt(tokens.idToken ?? '')).toMatchObject({
      aud: 'temporal-ui',
      email: 'bob@example.com',
      groups: ['mlo-reviewers'],
    });
    expect(tokens.refreshToken).toBeTruthy();
  });

  it('temporal-ui may sign in without PKCE, as a confidential client (the UI server sends a nonce, no challenge)', async () => {
    const doc = await discover(dev.issuer);
    const redirectUri = `http://127.0.0.1:${cfg.temporalUiPort}/auth/sso/callback`;
    const u = new URL(doc.authorization_endpoint);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'temporal-ui',
      redirect_uri: redirectUri,
      scope: 'openid profile email groups offline_access',
      state: 'st',
      nonce: 'n-1',
    }))
      u.searchParams.set(k, v);
    const callback = await driveDevSignIn(u.toString(), {
      email: 'olivia@example.com',
      password: devPassword('olivia@example.com'),
    });
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    const res = await fetch(doc.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`temporal-ui:${devClientSecret('temporal-ui')}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        redirect_uri: redirectUri,
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; id_token: string; refresh_token?: string };
    expect(decodeJwt(body.id_token)).toMatchObject({ nonce: 'n-1', aud: 'temporal-ui', groups: ['mlo-admins'] });
    expect(await verifyAccessToken(body.access_token, { config: client })).toMatchObject({ groups: ['mlo-admins'] });
    // The UI server refreshes with the refresh token (HTTP Basic again).
    const refreshed = await fetch(doc.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`temporal-ui:${devClientSecret('temporal-ui')}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token ?? '' }),
    });
    expect(refreshed.status).toBe(200);
    const r = (await refreshed.json()) as { access_token: string; id_token: string };
    expect(decodeJwt(r.access_token)).toMatchObject({ aud: 'mlo', email: 'olivia@example.com' });
    expect(decodeJwt(r.id_token)).toMatchObject({ email: 'olivia@example.com', groups: ['mlo-admins'] });
  });

  it('loginWithPkce works end to end with a fake browser; tokens are cached 0600 and refreshed; MLO_TOKEN overrides', async () => {
    const printed: string[] = [];
    const tokens = await loginWithPkce({
      config: client,
      openBrowser: devBrowser('carol@example.com', devPassword('carol@example.com')),
      print: (l) => printed.push(l),
      timeoutMs: 30_000,
    });
    expect(printed.join('\n')).toMatch(/redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/);
    expect(printed.join('\n')).toContain('code_challenge_method=S256');
    expect((await verifyAccessToken(tokens.accessToken, { config: client })).email).toBe('carol@example.com');
    expect(fs.statSync(client.tokenCacheFile).mode & 0o777).toBe(0o600);
    expect(readCachedTokens(client)?.accessToken).toBe(tokens.accessToken);

    const source = userTokenSource(client);
    expect(await source.getAccessToken()).toBe(tokens.accessToken);
    // A stale cached token is refreshed with the refresh token, and the cache is updated.
    writeCachedTokens(client, { ...tokens, expiresAt: Date.now() - 1000 });
    const refreshed = await source.getAccessToken();
    expect(refreshed).not.toBe(tokens.accessToken);
    expect((await verifyAccessToken(refreshed, { config: client })).subject).toBe('dev-carol');
    expect(readCachedTokens(client)?.accessToken).toBe(refreshed);

    const automation = userTokenSource({ ...client, token: 'given-token' });
    expect(await automation.getAccessToken()).toBe('given-token');
    const nobody = userTokenSource({ ...client, tokenCacheFile: path.join(tmp, 'none', 'tokens.json') });
    await expect(nobody.getAccessToken()).rejects.toThrow(/npx mlo login/);

    // A user who cancels: the login fails with sign-in-aborted, not a hang.
    const declined = loginWithPkce({
      config: client,
      cache: false,
      print: () => undefined,
      timeoutMs: 30_000,
      openBrowser: async (url) => {
        const page = await openSignInPage(url);
        const uid = page.pageUrl.pathname.split('/')[2] ?? '';
        const abort = await fetch(new URL(`/interaction/${uid}/abort`, dev.issuer), {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie: page.cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ uid }),
        });
        const jar = withCookies(page.cookie, abort);
        const resume = await fetch(new URL(abort.headers.get('location') ?? '', dev.issuer), {
          redirect: 'manual',
          headers: { cookie: jar },
        });
        await fetch(resume.headers.get('location') ?? '');
      },
    });
    await expect(declined).rejects.toMatchObject({ failure: 'sign-in-aborted' });
  });

  it('answers only requests addressed to its loopback host (DNS-rebinding guard)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: dev.port,
          path: '/.well-known/openid-configuration',
          headers: { host: 'evil.example' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
    });
    expect(status).toBe(421);
    expect((await fetch(new URL('/healthz', dev.issuer))).status).toBe(200);
  });

  it('dev-provider-main runs as a process: logs to stdout, serves, exits 0 on SIGTERM; bad settings exit 2', async () => {
    const p = spawnTs('lib/identity/dev-provider-main.ts', [], {
      MLO_OIDC_PORT: '0',
      MLO_OIDC_STATE_DIR: path.join(tmp, 'process'),
    });
    try {
      const re = /provider at (http:\/\/127\.0\.0\.1:\d+)/;
      await p.waitFor(re, 90_000);
      const issuer = re.exec(p.output())?.[1] ?? '';
      expect((await fetch(`${issuer}/healthz`)).status).toBe(200);
      expect(
        ((await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string }).issuer,
      ).toBe(issuer);
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
      expect(p.output()).toContain('oidc: stopped');
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
    const bad = await runTs('lib/identity/dev-provider-main.ts', [], { MLO_OIDC_HOST: '0.0.0.0' });
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('MLO_OIDC_HOST must be a loopback address');
  });

  it('tokens and refresh tokens survive a restart (same key, stored grants)', async () => {
    const tokens = await devSignIn('erin@example.com', devPassword('erin@example.com'), { issuer: dev.issuer });
    const port = dev.port;
    await dev.close();
    dev = await start(port);
    expect(dev.issuer).toBe(client.issuer);
    expect((await verifyAccessToken(tokens.accessToken, { config: client })).email).toBe('erin@example.com');
    const cfgFor = { ...client, tokenCacheFile: path.join(tmp, 'restart', 'tokens.json') };
    writeCachedTokens(cfgFor, { ...tokens, expiresAt: 0 });
    const renewed = await userTokenSource(cfgFor).getAccessToken();
    expect((await verifyAccessToken(renewed, { config: client })).subject).toBe('dev-erin');
  });
});
