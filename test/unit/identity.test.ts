/**
 * Pure parts of lib/identity: configuration, password hashing, PKCE, token parsing, claim
 * extraction, the token cache file, the signing key file and the provider's pages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, UnreachableError } from '../../lib/core/errors';
import { devClients, loadDevProviderConfig } from '../../lib/identity/dev-provider';
import {
  DEV_USERS,
  PasswordBook,
  devPassword,
  findDevUserByEmail,
  hashPassword,
  verifyPassword,
} from '../../lib/identity/dev-users';
import { AuthError, isAuthError } from '../../lib/identity/errors';
import { loadOrCreateCookieKeys, loadOrCreateSigningKey, publicJwk, SIGNING_KEY_FILE } from '../../lib/identity/keys';
import {
  authorizeUrl,
  clearCachedTokens,
  createPkce,
  discover,
  identityFromClaims,
  loadOidcConfig,
  parseTokenResponse,
  pkceChallenge,
  readCachedTokens,
  serviceCredentials,
  tokenCacheKey,
  userTokenSource,
  writeCachedTokens,
} from '../../lib/identity/oidc-client';
import { consentPage, errorPage, escapeHtml, loginPage, PAGE_HEADERS } from '../../lib/identity/pages';
import { DevStore } from '../../lib/identity/store';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-identity-unit-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadOidcConfig', () => {
  it('defaults point at the dev provider', () => {
    const c = loadOidcConfig({ HOME: '/home/u' });
    expect(c).toEqual({
      issuer: 'http://127.0.0.1:7380',
      clientId: 'mlo-cli',
      clientSecret: undefined,
      audience: 'mlo',
      resource: 'urn:mlo',
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      emailClaim: 'email',
      groupsClaim: 'groups',
      tokenCacheFile: '/home/u/.config/mlo/tokens.json',
      token: undefined,
    });
    expect(loadOidcConfig({ XDG_CONFIG_HOME: '/xdg' }).tokenCacheFile).toBe('/xdg/mlo/tokens.json');
  });

  it('reads a production provider from the environment; resource "none" sends none; blanks count as unset', () => {
    const c = loadOidcConfig({
      MLO_OIDC_ISSUER: 'https://login.example.com/oauth2/default/',
      MLO_OIDC_CLIENT_ID: '0oa1b2c3',
      MLO_OIDC_CLIENT_SECRET: 's3cret',
      MLO_OIDC_AUDIENCE: 'api://mlo',
      MLO_OIDC_RESOURCE: 'none',
      MLO_OIDC_SCOPES: 'openid email offline_access',
      MLO_OIDC_EMAIL_CLAIM: 'preferred_username',
      MLO_OIDC_GROUPS_CLAIM: 'roles',
      MLO_TOKEN: 'eyJ.abc.def',
      MLO_TOKEN_CACHE: '',
      HOME: '/h',
    });
    expect(c.issuer).toBe('https://login.example.com/oauth2/default');
    expect(c.resource).toBeUndefined();
    expect(c.scopes).toEqual(['openid', 'email', 'offline_access']);
    expect(c.emailClaim).toBe('preferred_username');
    expect(c.groupsClaim).toBe('roles');
    expect(c.token).toBe('eyJ.abc.def');
    expect(c.tokenCacheFile).toBe('/h/.config/mlo/tokens.json');
  });

  it('reports every bad value at once, naming each variable', () => {
    const err = configError(() =>
      loadOidcConfig({
        MLO_OIDC_ISSUER: 'ftp://idp',
        MLO_OIDC_RESOURCE: 'not a uri',
        MLO_OIDC_GROUPS_CLAIM: 'has space',
        MLO_TOKEN: 'Bearer abc',
      }),
    );
    const text = err.problems.join('\n');
    for (const v of ['MLO_OIDC_ISSUER', 'MLO_OIDC_RESOURCE', 'MLO_OIDC_GROUPS_CLAIM', 'MLO_TOKEN'])
      expect(text).toContain(v);
  });

  it('service credentials come from MLO_<NAME>_CLIENT_SECRET, with the dev secret as default', () => {
    expect(serviceCredentials('mlo-orchestrator', {})).toEqual({
      clientId: 'mlo-orchestrator',
      clientSecret: 'mlo-orchestrator-dev-secret',
    });
    expect(serviceCredentials('mlo-registry', { MLO_REGISTRY_CLIENT_SECRET: 'x'.repeat(20) }).clientSecret).toBe(
      'x'.repeat(20),
    );
  });
});

describe('loadDevProviderConfig', () => {
  it('defaults: port 7380 on 127.0.0.1, state under the stack dir, Temporal UI on 8233, dev secrets', () => {
    const c = loadDevProviderConfig({ MLO_STACK_DIR: '/tmp/stack' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 7380,
      issuer: undefined,
      stateDir: '/tmp/stack/oidc',
      temporalUiPort: 8233,
      temporalUiSecret: 'temporal-ui-dev-secret',
      accessTokenTtlSeconds: 3600,
      serviceTokenTtlSeconds: 900,
    });
    expect(c.serviceSecrets).toEqual({
      'mlo-orchestrator': 'mlo-orchestrator-dev-secret',
      'mlo-scheduler': 'mlo-scheduler-dev-secret',
      'mlo-registry': 'mlo-registry-dev-secret',
      'mlo-demo': 'mlo-demo-dev-secret',
    });
  });

  it('refuses a non-loopback host or issuer, short secrets and bad ports, all at once', () => {
    const err = configError(() =>
      loadDevProviderConfig({
        MLO_OIDC_HOST: '0.0.0.0',
        MLO_OIDC_ISSUER: 'http://idp.example.com:7380',
        MLO_OIDC_PORT: '99999',
        MLO_UI_OIDC_CLIENT_SECRET: 'short',
        MLO_TEMPORAL_UI_PORT: 'x',
      }),
    );
    const text = err.problems.join('\n');
    for (const v of [
      'MLO_OIDC_HOST',
      'MLO_OIDC_ISSUER',
      'MLO_OIDC_PORT',
      'MLO_UI_OIDC_CLIENT_SECRET',
      'MLO_TEMPORAL_UI_PORT',
    ])
      expect(text).toContain(v);
    expect(text).toContain('loopback');
  });

  it('registers the clients: temporal-ui (confidential), mlo-cli (public, native), four service clients', () => {
    const clients = devClients(loadDevProviderConfig({ MLO_TEMPORAL_UI_PORT: '18233' }));
    const byId = Object.fromEntries(clients.map((c) => [c.client_id, c]));
    expect(Object.keys(byId).sort()).toEqual(
      ['mlo-cli', 'mlo-demo', 'mlo-orchestrator', 'mlo-registry', 'mlo-scheduler', 'temporal-ui'].sort(),
    );
    expect(byId['temporal-ui']?.redirect_uris).toContain('http://127.0.0.1:18233/auth/sso/callback');
    expect(byId['mlo-cli']).toMatchObject({ token_endpoint_auth_method: 'none', application_type: 'native' });
    expect(byId['mlo-cli']?.client_secret).toBeUndefined();
    expect(byId['mlo-orchestrator']?.grant_types).toEqual(['client_credentials']);
  });
});

describe('dev users and passwords', () => {
  it('has the seven dev users with stable subjects and the documented groups', () => {
    expect(DEV_USERS.map((u) => [u.email, u.sub, u.groups])).toEqual([
      ['erin@example.com', 'dev-erin', ['mlo-engineers']],
      ['frank@example.com', 'dev-frank', ['mlo-engineers']],
      ['alice@example.com', 'dev-alice', ['mlo-reviewers']],
      ['bob@example.com', 'dev-bob', ['mlo-reviewers']],
      ['carol@example.com', 'dev-carol', ['mlo-reviewers']],
      ['olivia@example.com', 'dev-olivia', ['mlo-admins']],
      ['mallory@example.com', 'dev-mallory', []],
    ]);
    expect(devPassword('alice@example.com')).toBe('alice-dev-password');
    expect(findDevUserByEmail(' Alice@Example.com ')?.sub).toBe('dev-alice');
  });

  it('hashes with scrypt and a random salt; verifies in constant time; rejects malformed hashes', async () => {
    const a = await hashPassword('pw');
    const b = await hashPassword('pw');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('pw', a)).toBe(true);
    expect(await verifyPassword('pW', a)).toBe(false);
    expect(await verifyPassword('pw', 'plain')).toBe(false);
    expect(await verifyPassword('pw', 'scrypt$0$8$1$$')).toBe(false);
  });

  it('the password book knows each dev password and nothing else', async () => {
    const book = await PasswordBook.forDevUsers(DEV_USERS.slice(0, 2));
    expect((await book.check('erin@example.com', 'erin-dev-password'))?.sub).toBe('dev-erin');
    expect(await book.check('erin@example.com', 'frank-dev-password')).toBeUndefined();
    expect(await book.check('alice@example.com', 'alice-dev-password')).toBeUndefined(); // not in this book
    expect(await book.check('', '')).toBeUndefined();
  });
});

describe('PKCE and the authorization URL', () => {
  it('computes the RFC 7636 appendix B challenge', () => {
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
    const p = createPkce();
    expect(p.verifier).toMatch(/^[\w-]{43}$/);
    expect(p.challenge).toBe(pkceChallenge(p.verifier));
    expect(createPkce().verifier).not.toBe(p.verifier);
  });

  it('builds a code + S256 authorization request', () => {
    const u = new URL(
      authorizeUrl(
        { authorization_endpoint: 'https://idp/auth?x=1' },
        {
          clientId: 'mlo-cli',
          redirectUri: 'http://127.0.0.1:5555/callback',
          scopes: ['openid', 'email'],
          state: 's',
          nonce: 'n',
          codeChallenge: 'c',
          resource: 'urn:mlo',
        },
      ),
    );
    expect(Object.fromEntries(u.searchParams)).toEqual({
      x: '1',
      response_type: 'code',
      client_id: 'mlo-cli',
      redirect_uri: 'http://127.0.0.1:5555/callback',
      scope: 'openid email',
      state: 's',
      nonce: 'n',
      code_challenge: 'c',
      code_challenge_method: 'S256',
      resource: 'urn:mlo',
    });
  });
});

describe('token responses and claims', () => {
  it('parses a token response; refuses non-bearer and malformed answers', () => {
    expect(
      parseTokenResponse(
        { access_token: 'a', token_type: 'bearer', expires_in: 60, refresh_token: 'r', id_token: 'i' },
        1000,
      ),
    ).toEqual({
      accessToken: 'a',
      tokenType: 'Bearer',
      expiresAt: 61_000,
      refreshToken: 'r',
      idToken: 'i',
      scope: undefined,
    });
    expect(parseTokenResponse({ access_token: 'a', token_type: 'Bearer' }, 0).expiresAt).toBe(300_000);
    expect(() => parseTokenResponse({ access_token: 'a', token_type: 'DPoP' })).toThrow(AuthError);
    expect(() => parseTokenResponse({ token_type: 'Bearer' })).toThrow(/not an OAuth token response/);
  });

  it('extracts subject, e-mail and groups under configurable claim names', () => {
    const names = { emailClaim: 'email', groupsClaim: 'groups' };
    expect(
      identityFromClaims({ sub: 'u1', email: 'a@x', groups: ['g1', 'g2'], client_id: 'c', exp: 10 }, names),
    ).toEqual({ subject: 'u1', email: 'a@x', groups: ['g1', 'g2'], clientId: 'c', expiresAt: new Date(10_000) });
    expect(identityFromClaims({ sub: 'svc' }, names)).toMatchObject({ email: undefined, groups: [] });
    expect(
      identityFromClaims(
        { sub: 'u', upn: 'u@corp', roles: 'a b', azp: 'app' },
        { emailClaim: 'upn', groupsClaim: 'roles' },
      ),
    ).toMatchObject({ email: 'u@corp', groups: ['a', 'b'], clientId: 'app' });
    expect(() => identityFromClaims({ sub: 'u', groups: [1] }, names)).toThrow(/MLO_OIDC_GROUPS_CLAIM/);
    expect(() => identityFromClaims({ sub: 'u', email: 3 }, names)).toThrow(/MLO_OIDC_EMAIL_CLAIM/);
    expect(() => identityFromClaims({}, names)).toThrow(/no subject/);
  });

  it('AuthError carries its kind and the badInput exit code', () => {
    const e = new AuthError('not-signed-in', 'run `npx mlo login`');
    expect(e.code).toBe('AUTH');
    expect(e.exitCode).toBe(2);
    expect(isAuthError(e, 'not-signed-in')).toBe(true);
    expect(isAuthError(e, 'token-invalid')).toBe(false);
  });
});

describe('token cache', () => {
  it('keeps one entry per issuer and client in a 0600 file under a 0700 directory', async () => {
    const dir = tmpDir();
    const config = loadOidcConfig({ MLO_TOKEN_CACHE: path.join(dir, 'mlo', 'tokens.json') });
    const other = { ...config, clientId: 'other' };
    expect(readCachedTokens(config)).toBeUndefined();
    const t = { accessToken: 'a', tokenType: 'Bearer', expiresAt: Date.now() + 3_600_000, refreshToken: 'r' };
    writeCachedTokens(config, t);
    writeCachedTokens(other, { ...t, accessToken: 'b' });
    expect(readCachedTokens(config)).toEqual(t);
    expect(readCachedTokens(other)?.accessToken).toBe('b');
    expect(fs.statSync(config.tokenCacheFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(config.tokenCacheFile)).mode & 0o777).toBe(0o700);
    const file = JSON.parse(fs.readFileSync(config.tokenCacheFile, 'utf8')) as { tokens: Record<string, unknown> };
    expect(Object.keys(file.tokens)).toEqual([
      tokenCacheKey(config.issuer, 'mlo-cli'),
      tokenCacheKey(config.issuer, 'other'),
    ]);
    // A fresh cached token is served without asking the provider.
    expect(await userTokenSource(config).getAccessToken()).toBe('a');
    expect(clearCachedTokens(config)).toBe(true);
    expect(clearCachedTokens(config)).toBe(false);
    await expect(userTokenSource(config).getAccessToken()).rejects.toMatchObject({ failure: 'not-signed-in' });
    expect(tokenCacheKey('http://i/', 'c')).toBe('http://i#c');
  });

  it('MLO_TOKEN wins over the cache', async () => {
    const config = loadOidcConfig({ MLO_TOKEN: 'tok', MLO_TOKEN_CACHE: path.join(tmpDir(), 't.json') });
    expect(await userTokenSource(config).getAccessToken()).toBe('tok');
  });
});

describe('dev provider state', () => {
  it('makes the RS256 signing key once (0600) and loads the same key afterwards', async () => {
    const dir = path.join(tmpDir(), 'oidc');
    const first = await loadOrCreateSigningKey(dir);
    expect(first.created).toBe(true);
    expect(first.jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(fs.statSync(path.join(dir, SIGNING_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateSigningKey(dir);
    expect(again.created).toBe(false);
    expect(again.jwk.kid).toBe(first.jwk.kid);
    expect(publicJwk(first.jwk)).not.toHaveProperty('d');
    expect(loadOrCreateCookieKeys(dir)).toEqual(loadOrCreateCookieKeys(dir));
    fs.chmodSync(path.join(dir, SIGNING_KEY_FILE), 0o644);
    await loadOrCreateSigningKey(dir);
    expect(fs.statSync(path.join(dir, SIGNING_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('the store keeps sessions, grants and refresh tokens across instances, not codes', async () => {
    const dir = tmpDir();
    const a = new DevStore(dir);
    await a.adapter('Session').upsert('s1', { uid: 'u1', accountId: 'dev-bob' }, 3600);
    await a.adapter('RefreshToken').upsert('r1', { grantId: 'g1' }, 3600);
    await a.adapter('AuthorizationCode').upsert('c1', { grantId: 'g1' }, 60);
    await a.adapter('AuthorizationCode').consume('c1');
    expect((await a.adapter('AuthorizationCode').find('c1'))?.consumed).toBeTypeOf('number');
    a.flush();
    const b = new DevStore(dir);
    expect(await b.adapter('Session').findByUid('u1')).toMatchObject({ accountId: 'dev-bob' });
    expect(await b.adapter('RefreshToken').find('r1')).toBeDefined();
    expect(await b.adapter('AuthorizationCode').find('c1')).toBeUndefined();
    await b.adapter('RefreshToken').revokeByGrantId('g1');
    expect(await b.adapter('RefreshToken').find('r1')).toBeUndefined();
    await b.adapter('Session').upsert('gone', { uid: 'u2' }, -1);
    expect(await b.adapter('Session').find('gone')).toBeUndefined();
  });
});

describe('pages', () => {
  it('escape what they show and reference nothing outside', () => {
    const pages = [
      loginPage({
        uid: 'u"1',
        clientName: '<script>alert(1)</script>',
        email: 'a@x',
        error: 'Wrong e-mail or password.',
      }),
      consentPage({ uid: 'u1', clientName: 'Temporal Web UI', email: 'a@x', scopes: ['openid', 'groups', 'weird<'] }),
      errorPage('Oops', 'bad', { error: '<b>' }),
    ];
    for (const html of pages) {
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/@import|url\(|<script\b|<link\b/i);
    }
    expect(pages[0]).toContain('&lt;script&gt;');
    expect(pages[0]).toContain('value="u&quot;1"');
    expect(pages[0]).toContain('data-mlo-prompt="login"');
    expect(pages[1]).toContain('data-mlo-prompt="consent"');
    expect(pages[1]).toContain('weird&lt;');
    expect(escapeHtml(`<a href="x">'&`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;');
    expect(PAGE_HEADERS['content-security-policy']).toContain("default-src 'none'");
  });
});

describe('an unreachable provider', () => {
  it('is an UnreachableError that says how to start the stack', async () => {
    const err = await discover('http://127.0.0.1:1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toMatch(
      /OIDC provider is unreachable at http:\/\/127\.0\.0\.1:1.*npm run stack -- up/s,
    );
  });
});
