/**
 * mlo's OpenID Connect client. Provider-agnostic: it needs only discovery, the token endpoint, the
 * authorization endpoint and a JWKS, so it works with the dev provider and with Okta, Entra ID,
 * Auth0, Keycloak and the like (see lib/identity/README.md).
 *
 * - `discover(issuer)`: the provider's metadata;
 * - `clientCredentialsToken(...)`: service tokens for workers, cached and renewed before expiry;
 * - `loginWithPkce(...)`: `mlo login` (authorization code + PKCE over a loopback redirect), tokens
 *   cached in `~/.config/mlo/tokens.json` (0600); `userTokenSource()` reads and refreshes them, and
 *   `MLO_TOKEN` overrides both for automation;
 * - `devSignIn(email, password)`: DEV ONLY, signs a dev user in against the dev provider without a
 *   browser (drives its sign-in and consent pages over HTTP);
 * - `verifyAccessToken(token)`: checks an access token (signature, issuer, audience, expiry) and
 *   returns who it names.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { ConfigError, UnreachableError } from '../core/errors';
import { AuthError } from './errors';
import {
  CLIENT_IDS,
  CLI_REDIRECT_PATH,
  CLI_REDIRECT_URI,
  DEFAULT_OIDC_ISSUER,
  EMAIL_CLAIM,
  FORM_FIELDS,
  GROUPS_CLAIM,
  LOGIN_FAILED_STATUS,
  MLO_AUDIENCE,
  MLO_RESOURCE,
  PROMPT_ATTRIBUTE,
  SERVICE_CLIENTS,
  USER_SCOPES,
  devClientSecret,
  type ServiceClientId,
} from './shared';

// ---------------------------------------------------------------------------------------------
// Configuration

export type OidcClientConfig = {
  /** issuer URL, without a trailing slash (`MLO_OIDC_ISSUER`) */
  issuer: string;
  /** client id of interactive sign-in (`MLO_OIDC_CLIENT_ID`, default `mlo-cli`) */
  clientId: string;
  /** its secret, for a confidential client (`MLO_OIDC_CLIENT_SECRET`; none for `mlo-cli`) */
  clientSecret?: string;
  /** the `aud` an mlo access token must carry (`MLO_OIDC_AUDIENCE`, default `mlo`) */
  audience: string;
  /** RFC 8707 `resource` sent on requests (`MLO_OIDC_RESOURCE`, default `urn:mlo`; `none` sends none) */
  resource?: string;
  /** scopes of interactive sign-in (`MLO_OIDC_SCOPES`, space-separated) */
  scopes: string[];
  /** claim that holds the e-mail address (`MLO_OIDC_EMAIL_CLAIM`, default `email`) */
  emailClaim: string;
  /** claim that holds the groups (`MLO_OIDC_GROUPS_CLAIM`, default `groups`) */
  groupsClaim: string;
  /** token cache file (`MLO_TOKEN_CACHE`, default `$XDG_CONFIG_HOME/mlo/tokens.json` or `~/.config/mlo/tokens.json`) */
  tokenCacheFile: string;
  /** a bearer token that overrides sign-in, for automation (`MLO_TOKEN`) */
  token?: string;
};

type Env = Record<string, string | undefined>;

const httpUrl = (name: string, example: string) =>
  z.string().refine((v) => {
    const u = URL.parse(v);
    return !!u && (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
  }, `${name} must be an http(s) URL without query or fragment, e.g. ${example}`);

const claimName = (name: string) =>
  z.string().regex(/^[A-Za-z0-9_:./-]+$/, `${name} must be a claim name (letters, digits, '_', ':', '.', '/', '-')`);

/** The dev provider's issuer: `http://127.0.0.1:<MLO_OIDC_PORT>` (7380), where the dev stack runs it. */
function devIssuer(env: Env): string {
  const port = Number(env.MLO_OIDC_PORT);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? `http://127.0.0.1:${port}` : DEFAULT_OIDC_ISSUER;
}

/**
 * Reads the client configuration from the environment (validated with zod; every problem at once).
 * Defaults point at the dev provider of the local stack.
 */
export function loadOidcConfig(env: Env = process.env): OidcClientConfig {
  const e: Env = {};
  for (const [k, v] of Object.entries(env)) e[k] = v === '' ? undefined : v;
  const schema = z.object({
    MLO_OIDC_ISSUER: httpUrl('MLO_OIDC_ISSUER', DEFAULT_OIDC_ISSUER).default(devIssuer(e)),
    MLO_OIDC_CLIENT_ID: z.string().min(1).default(CLIENT_IDS.cli),
    MLO_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    MLO_OIDC_AUDIENCE: z.string().min(1).default(MLO_AUDIENCE),
    MLO_OIDC_RESOURCE: z
      .string()
      .refine(
        (v) => v === 'none' || !!URL.parse(v),
        'MLO_OIDC_RESOURCE must be an absolute URI (e.g. urn:mlo or https://mlo.example.com), or "none" to send no resource parameter',
      )
      .default(MLO_RESOURCE),
    MLO_OIDC_SCOPES: z
      .string()
      .regex(
        /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/,
        'MLO_OIDC_SCOPES must be space-separated scopes',
      )
      .default(USER_SCOPES.join(' ')),
    MLO_OIDC_EMAIL_CLAIM: claimName('MLO_OIDC_EMAIL_CLAIM').default(EMAIL_CLAIM),
    MLO_OIDC_GROUPS_CLAIM: claimName('MLO_OIDC_GROUPS_CLAIM').default(GROUPS_CLAIM),
    MLO_TOKEN_CACHE: z.string().min(1).optional(),
    MLO_TOKEN: z
      .string()
      .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'MLO_TOKEN must be a bearer token (no "Bearer " prefix, no spaces)')
      .optional(),
  });
  const parsed = schema.safeParse(e);
  if (!parsed.success)
    throw new ConfigError(
      'Invalid OpenID Connect settings in the environment',
      parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
    );
  const c = parsed.data;
  const configHome = e.XDG_CONFIG_HOME ?? path.join(e.HOME ?? os.homedir(), '.config');
  return {
    issuer: c.MLO_OIDC_ISSUER.replace(/\/+$/, ''),
    clientId: c.MLO_OIDC_CLIENT_ID,
    clientSecret: c.MLO_OIDC_CLIENT_SECRET,
    audience: c.MLO_OIDC_AUDIENCE,
    resource: c.MLO_OIDC_RESOURCE === 'none' ? undefined : c.MLO_OIDC_RESOURCE,
    scopes: c.MLO_OIDC_SCOPES.split(' '),
    emailClaim: c.MLO_OIDC_EMAIL_CLAIM,
    groupsClaim: c.MLO_OIDC_GROUPS_CLAIM,
    tokenCacheFile: path.resolve(c.MLO_TOKEN_CACHE ?? path.join(configHome, 'mlo', 'tokens.json')),
    token: c.MLO_TOKEN,
  };
}

/**
 * Client id and secret of an mlo service (`mlo-orchestrator`, `mlo-scheduler`, `mlo-registry`,
 * `mlo-demo`): the secret comes from `MLO_<NAME>_CLIENT_SECRET`; without it, the dev provider's
 * dev secret (so the dev stack works with no settings; set the variable everywhere else).
 */
export function serviceCredentials(
  clientId: ServiceClientId,
  env: Env = process.env,
): { clientId: string; clientSecret: string } {
  const service = SERVICE_CLIENTS.find((s) => s.clientId === clientId);
  if (!service) throw new ConfigError('Unknown mlo service client', [`${String(clientId)} is not a service client`]);
  const v = env[service.secretVariable];
  return { clientId, clientSecret: v ? v : devClientSecret(clientId) };
}

// ---------------------------------------------------------------------------------------------
// Discovery

const discoverySchema = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.string().url(),
  token_endpoint: z.string().url(),
  jwks_uri: z.string().url(),
  userinfo_endpoint: z.string().url().optional(),
  end_session_endpoint: z.string().url().optional(),
  revocation_endpoint: z.string().url().optional(),
  code_challenge_methods_supported: z.array(z.string()).optional(),
  grant_types_supported: z.array(z.string()).optional(),
  scopes_supported: z.array(z.string()).optional(),
});
export type DiscoveryDocument = z.infer<typeof discoverySchema>;

const DISCOVERY_TTL_MS = 15 * 60_000;
const HTTP_TIMEOUT_MS = 15_000;
const discoveryCache = new Map<string, { at: number; doc: Promise<DiscoveryDocument> }>();

function normalizeIssuer(issuer: string): string {
  return issuer.replace(/\/+$/, '');
}

async function httpFetch(service: string, address: string, url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UnreachableError(service, address, cause?.code ?? cause?.message ?? (err as Error).message);
  }
}

/**
 * The provider's OpenID Connect discovery document (`<issuer>/.well-known/openid-configuration`),
 * cached for 15 minutes. The document must name the same issuer.
 */
export async function discover(issuer: string): Promise<DiscoveryDocument> {
  const iss = normalizeIssuer(issuer);
  const hit = discoveryCache.get(iss);
  if (hit && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.doc;
  const doc = fetchDiscovery(iss);
  discoveryCache.set(iss, { at: Date.now(), doc });
  doc.catch(() => discoveryCache.delete(iss));
  return doc;
}

async function fetchDiscovery(issuer: string): Promise<DiscoveryDocument> {
  const url = `${issuer}/.well-known/openid-configuration`;
  const res = await httpFetch('OIDC provider', issuer, url, { headers: { accept: 'application/json' } });
  if (!res.ok)
    throw new AuthError(
      'protocol',
      `${url} answered HTTP ${res.status}: ${issuer} is not an OpenID Connect issuer. Check MLO_OIDC_ISSUER.`,
    );
  const parsed = discoverySchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success)
    throw new AuthError(
      'protocol',
      `${url} is not a valid OpenID Connect discovery document (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}). Check MLO_OIDC_ISSUER.`,
    );
  if (normalizeIssuer(parsed.data.issuer) !== issuer)
    throw new AuthError(
      'protocol',
      `${url} names the issuer ${parsed.data.issuer}, not ${issuer}. Set MLO_OIDC_ISSUER to exactly ${parsed.data.issuer}.`,
    );
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// Tokens

export type TokenSet = {
  accessToken: string;
  tokenType: string;
  /** epoch milliseconds */
  expiresAt: number;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
};

/** A source of bearer access tokens, valid when returned. */
export interface TokenSource {
  getAccessToken(): Promise<string>;
  /** Forgets the cached token (after the server refused it), so the next call gets a new one. */
  invalidate(): void;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().min(1),
  expires_in: z.coerce.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  id_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});

/** Turns a token endpoint response into a TokenSet (no `expires_in`: assume 5 minutes). */
export function parseTokenResponse(body: unknown, now = Date.now()): TokenSet {
  const parsed = tokenResponseSchema.safeParse(body);
  if (!parsed.success)
    throw new AuthError(
      'protocol',
      `the token endpoint's answer is not an OAuth token response (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`,
    );
  const t = parsed.data;
  if (t.token_type.toLowerCase() !== 'bearer')
    throw new AuthError('protocol', `the token endpoint issued a ${t.token_type} token; mlo needs Bearer tokens`);
  return {
    accessToken: t.access_token,
    tokenType: 'Bearer',
    expiresAt: now + (t.expires_in ?? 300) * 1000,
    refreshToken: t.refresh_token,
    idToken: t.id_token,
    scope: t.scope,
  };
}

type ClientAuth = { clientId: string; clientSecret?: string };

/** `application/x-www-form-urlencoded` encoding of a client id or secret for HTTP Basic (RFC 6749 2.3.1). */
function formEncode(v: string): string {
  return encodeURIComponent(v).replace(/%20/g, '+');
}

/**
 * POSTs to the token endpoint. A confidential client authenticates with HTTP Basic, a public
 * one sends its client_id. OAuth errors become AuthError('credentials-refused') with `fix` appended.
 */
/** A form POST from `client`: a confidential client authenticates with HTTP Basic, a public one names itself. */
function clientPost(client: ClientAuth, params: Record<string, string | undefined>): RequestInit {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, v);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (client.clientSecret !== undefined) {
    const basic = Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString('base64');
    headers.authorization = `Basic ${basic}`;
  } else {
    body.set('client_id', client.clientId);
  }
  return { method: 'POST', headers, body };
}

/**
 * Revokes a refresh token at the provider (RFC 7009), so that a copy of the token cache cannot
 * sign in again after `mlo logout`. False when the provider has no revocation endpoint.
 */
export async function revokeRefreshToken(config: OidcClientConfig, refreshToken: string): Promise<boolean> {
  const doc = await discover(config.issuer);
  if (!doc.revocation_endpoint) return false;
  const client = { clientId: config.clientId, clientSecret: config.clientSecret };
  const params = { token: refreshToken, token_type_hint: 'refresh_token' };
  const res = await httpFetch('OIDC provider', doc.issuer, doc.revocation_endpoint, clientPost(client, params));
  if (!res.ok)
    throw new AuthError(
      res.status >= 500 ? 'protocol' : 'credentials-refused',
      `${doc.issuer} refused to revoke the refresh token of client ${config.clientId}: HTTP ${res.status}`,
    );
  return true;
}

async function tokenRequest(
  doc: DiscoveryDocument,
  client: ClientAuth,
  params: Record<string, string | undefined>,
  fix: string,
): Promise<TokenSet> {
  const res = await httpFetch('OIDC provider', doc.issuer, doc.token_endpoint, clientPost(client, params));
  const json = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!res.ok) {
    const error = typeof json?.error === 'string' ? json.error : `HTTP ${res.status}`;
    const desc = typeof json?.error_description === 'string' ? ` (${json.error_description})` : '';
    throw new AuthError(
      res.status >= 500 ? 'protocol' : 'credentials-refused',
      `${doc.issuer} refused the ${params.grant_type ?? 'token'} request of client ${client.clientId}: ${error}${desc}. ${fix}`,
    );
  }
  return parseTokenResponse(json);
}

/** Seconds before expiry at which a token counts as stale: a minute, or half its lifetime if shorter. */
function isFresh(t: Pick<TokenSet, 'expiresAt'>, lifetimeMs: number, now = Date.now()): boolean {
  const skew = Math.min(60_000, Math.max(0, lifetimeMs) / 2);
  return t.expiresAt - skew > now;
}

/**
 * Service tokens (client-credentials grant), for workers and services. The token is cached and
 * renewed a minute before it expires (or at half its lifetime if shorter); concurrent callers share
 * one request. `resource` defaults to `MLO_OIDC_RESOURCE` (`urn:mlo`), `issuer` to `MLO_OIDC_ISSUER`.
 */
export function clientCredentialsToken(opts: {
  clientId: string;
  clientSecret: string;
  resource?: string;
  scope?: string;
  issuer?: string;
}): TokenSource {
  const base = opts.issuer === undefined || !('resource' in opts) ? loadOidcConfig() : undefined;
  const issuer = normalizeIssuer(opts.issuer ?? base?.issuer ?? DEFAULT_OIDC_ISSUER);
  const resource = 'resource' in opts ? opts.resource : base?.resource;
  let current: { token: TokenSet; lifetimeMs: number } | undefined;
  let inflight: Promise<TokenSet> | undefined;
  const fix = `Check the client id and its secret (MLO_<SERVICE>_CLIENT_SECRET, e.g. ${SERVICE_CLIENTS[0].secretVariable}) against the OIDC provider's registration.`;
  return {
    async getAccessToken() {
      if (current && isFresh(current.token, current.lifetimeMs)) return current.token.accessToken;
      inflight ??= (async () => {
        try {
          const doc = await discover(issuer);
          const started = Date.now();
          const token = await tokenRequest(
            doc,
            { clientId: opts.clientId, clientSecret: opts.clientSecret },
            { grant_type: 'client_credentials', resource, scope: opts.scope },
            fix,
          );
          current = { token, lifetimeMs: token.expiresAt - started };
          return token;
        } finally {
          inflight = undefined;
        }
      })();
      return (await inflight).accessToken;
    },
    invalidate() {
      current = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Token cache (~/.config/mlo/tokens.json)

type CacheFile = { version: 1; tokens: Record<string, TokenSet> };

/** The cache entry's key: one sign-in per issuer and client. */
export function tokenCacheKey(issuer: string, clientId: string): string {
  return `${normalizeIssuer(issuer)}#${clientId}`;
}

function readCacheFile(file: string): CacheFile {
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CacheFile>;
    if (data.version === 1 && data.tokens && typeof data.tokens === 'object') return data as CacheFile;
  } catch {
    // missing or unreadable: an empty cache
  }
  return { version: 1, tokens: {} };
}

function writeCacheFile(file: string, data: CacheFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function readCachedTokens(config: OidcClientConfig): TokenSet | undefined {
  return readCacheFile(config.tokenCacheFile).tokens[tokenCacheKey(config.issuer, config.clientId)];
}

export function writeCachedTokens(config: OidcClientConfig, tokens: TokenSet): void {
  const data = readCacheFile(config.tokenCacheFile);
  data.tokens[tokenCacheKey(config.issuer, config.clientId)] = tokens;
  writeCacheFile(config.tokenCacheFile, data);
}

/** Forgets the cached sign-in for this issuer and client (`mlo logout`). True if there was one. */
export function clearCachedTokens(config: OidcClientConfig): boolean {
  const data = readCacheFile(config.tokenCacheFile);
  const key = tokenCacheKey(config.issuer, config.clientId);
  if (!(key in data.tokens)) return false;
  delete data.tokens[key];
  writeCacheFile(config.tokenCacheFile, data);
  return true;
}

const LOGIN_FIX = 'Run `npx mlo login` to sign in, or set MLO_TOKEN to a bearer token.';

/** Uses a refresh token; the new refresh token (rotation) replaces the old, or the old one is kept. */
export async function refreshTokens(config: OidcClientConfig, refreshToken: string): Promise<TokenSet> {
  const doc = await discover(config.issuer);
  const t = await tokenRequest(
    doc,
    { clientId: config.clientId, clientSecret: config.clientSecret },
    { grant_type: 'refresh_token', refresh_token: refreshToken, resource: config.resource },
    `Your sign-in has ended. ${LOGIN_FIX}`,
  );
  return { ...t, refreshToken: t.refreshToken ?? refreshToken };
}

/**
 * The signed-in user's access token for the CLI: `MLO_TOKEN` if set; otherwise the cached sign-in
 * of `mlo login`, refreshed with its refresh token when stale (the cache is updated). Throws
 * AuthError('not-signed-in') naming `npx mlo login` when there is neither.
 */
export function userTokenSource(config: OidcClientConfig = loadOidcConfig()): TokenSource {
  let inflight: Promise<string> | undefined;
  let forced = false;
  const get = async (): Promise<string> => {
    if (config.token) return config.token;
    const cached = readCachedTokens(config);
    if (!cached)
      throw new AuthError(
        'not-signed-in',
        `You are not signed in to ${config.issuer} (client ${config.clientId}). ${LOGIN_FIX}`,
      );
    if (!forced && isFresh(cached, 10 * 60_000)) return cached.accessToken;
    if (!cached.refreshToken)
      throw new AuthError('not-signed-in', `Your sign-in to ${config.issuer} has expired. ${LOGIN_FIX}`);
    let next: TokenSet;
    try {
      next = await refreshTokens(config, cached.refreshToken);
    } catch (err) {
      if (err instanceof AuthError && err.failure === 'credentials-refused') {
        clearCachedTokens(config);
        throw new AuthError(
          'not-signed-in',
          `Your sign-in to ${config.issuer} has expired or was revoked. ${LOGIN_FIX}`,
        );
      }
      throw err;
    }
    writeCachedTokens(config, next);
    forced = false;
    return next.accessToken;
  };
  return {
    getAccessToken() {
      inflight ??= get().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      forced = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Authorization code + PKCE

export type Pkce = { verifier: string; challenge: string; method: 'S256' };

/** A PKCE pair (RFC 7636): a 43-character verifier and its S256 challenge. */
export function createPkce(): Pkce {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier), method: 'S256' };
}

export function pkceChallenge(verifier: string): string {
  return crypto.createHash('sha256').update(verifier).digest('base64url');
}

const randomToken = () => crypto.randomBytes(24).toString('base64url');

/** The authorization request URL (response_type=code, S256 challenge). */
export function authorizeUrl(
  doc: Pick<DiscoveryDocument, 'authorization_endpoint'>,
  p: {
    clientId: string;
    redirectUri: string;
    scopes: readonly string[];
    state: string;
    nonce: string;
    codeChallenge: string;
    resource?: string;
  },
): string {
  const u = new URL(doc.authorization_endpoint);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', p.clientId);
  u.searchParams.set('redirect_uri', p.redirectUri);
  u.searchParams.set('scope', p.scopes.join(' '));
  u.searchParams.set('state', p.state);
  u.searchParams.set('nonce', p.nonce);
  u.searchParams.set('code_challenge', p.codeChallenge);
  u.searchParams.set('code_challenge_method', 'S256');
  if (p.resource) u.searchParams.set('resource', p.resource);
  return u.toString();
}

type CodeFlow = {
  config: Pick<OidcClientConfig, 'issuer' | 'clientId' | 'clientSecret' | 'resource'>;
  doc: DiscoveryDocument;
  redirectUri: string;
  pkce: Pkce;
  state: string;
  nonce: string;
};

/** Checks the redirect (state, error) and exchanges its code; the ID token's nonce is checked. */
async function finishCodeFlow(flow: CodeFlow, callback: URL): Promise<TokenSet> {
  const q = callback.searchParams;
  if (q.get('state') !== flow.state)
    throw new AuthError(
      'protocol',
      'the sign-in answer carries the wrong state (a stale or forged redirect); sign in again',
    );
  const error = q.get('error');
  if (error) {
    const desc = q.get('error_description');
    throw new AuthError(
      error === 'access_denied' ? 'sign-in-aborted' : 'credentials-refused',
      `The sign-in at ${flow.config.issuer} ended with ${error}${desc ? ` (${desc})` : ''}. Run \`npx mlo login\` again.`,
    );
  }
  const code = q.get('code');
  if (!code) throw new AuthError('protocol', 'the sign-in answer has neither a code nor an error; sign in again');
  const tokens = await tokenRequest(
    flow.doc,
    { clientId: flow.config.clientId, clientSecret: flow.config.clientSecret },
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: flow.redirectUri,
      code_verifier: flow.pkce.verifier,
      resource: flow.config.resource,
    },
    'Run `npx mlo login` again.',
  );
  if (tokens.idToken) await checkIdToken(flow, tokens.idToken);
  return tokens;
}

async function checkIdToken(flow: CodeFlow, idToken: string): Promise<void> {
  try {
    const { payload } = await jwtVerify(idToken, jwksFor(flow.doc.jwks_uri), {
      issuer: flow.doc.issuer,
      audience: flow.config.clientId,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_TOLERANCE_S,
    });
    if (payload.nonce !== flow.nonce) throw new Error('nonce mismatch');
  } catch (err) {
    throw new AuthError(
      'token-invalid',
      `the ID token from ${flow.doc.issuer} does not verify (${(err as Error).message}); sign in again`,
    );
  }
}

function defaultOpener(print: (line: string) => void): (url: string) => void {
  return (url) => {
    if (process.env.CI || (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && process.platform === 'linux'))
      return;
    const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
    try {
      const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
      child.on('error', () => print('(could not open a browser: open the URL above yourself)'));
      child.unref();
    } catch {
      print('(could not open a browser: open the URL above yourself)');
    }
  };
}

export type LoginOptions = {
  config?: OidcClientConfig;
  /**
   * Shows the authorization URL to the user. Default: try to open the system browser. A test
   * passes a function that drives the pages itself (e.g. `devBrowser(email, password)`);
   * `false` only prints the URL.
   */
  openBrowser?: ((url: string) => void | Promise<void>) | false;
  /** where to print the URL and progress (default stderr) */
  print?: (line: string) => void;
  /** give up after this long (default 5 minutes) */
  timeoutMs?: number;
  /** store the tokens in the token cache (default true) */
  cache?: boolean;
};

/**
 * `mlo login`: the authorization-code flow with PKCE for a native app (RFC 8252). Listens on
 * 127.0.0.1 on a free port, sends the user to the provider, receives the redirect on
 * `http://127.0.0.1:<port>/callback`, exchanges the code, checks the ID token, and caches the
 * tokens (mode 0600) for `userTokenSource()`.
 */
export async function loginWithPkce(opts: LoginOptions = {}): Promise<TokenSet> {
  const config = opts.config ?? loadOidcConfig();
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const doc = await discover(config.issuer);
  const pkce = createPkce();
  const state = randomToken();
  const nonce = randomToken();

  let settle!: { resolve: (t: TokenSet) => void; reject: (e: unknown) => void };
  const done = new Promise<TokenSet>((resolve, reject) => (settle = { resolve, reject }));
  const pending: { flow?: CodeFlow; finished: boolean } = { finished: false };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== CLI_REDIRECT_PATH || !pending.flow || pending.finished) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (url.searchParams.get('state') !== state) {
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end('unexpected state: this is not the sign-in mlo started\n');
      return;
    }
    pending.finished = true;
    finishCodeFlow(pending.flow, url).then(
      (tokens) => {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
          .end(
            callbackPage('Signed in', 'You are signed in to mlo. You can close this tab and return to the terminal.'),
          );
        settle.resolve(tokens);
      },
      (err: unknown) => {
        res
          .writeHead(400, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
          .end(callbackPage('Sign-in failed', err instanceof Error ? err.message : String(err)));
        settle.reject(err);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const redirectUri = `http://127.0.0.1:${port}${CLI_REDIRECT_PATH}`;
  pending.flow = { config, doc, redirectUri, pkce, state, nonce };
  const url = authorizeUrl(doc, {
    clientId: config.clientId,
    redirectUri,
    scopes: config.scopes,
    state,
    nonce,
    codeChallenge: pkce.challenge,
    resource: config.resource,
  });

  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const timer = setTimeout(
    () =>
      settle.reject(
        new AuthError(
          'sign-in-aborted',
          `No sign-in arrived within ${Math.round(timeoutMs / 1000)}s. Run \`npx mlo login\` again.`,
        ),
      ),
    timeoutMs,
  );
  try {
    print(`Sign in to mlo at ${config.issuer} by opening this URL in a browser:\n\n  ${url}\n`);
    const opener = opts.openBrowser === false ? undefined : (opts.openBrowser ?? defaultOpener(print));
    if (opener) Promise.resolve(opener(url)).catch((err: unknown) => settle.reject(err));
    const tokens = await done;
    if (opts.cache !== false) writeCachedTokens(config, tokens);
    return tokens;
  } finally {
    clearTimeout(timer);
    server.close();
    server.closeAllConnections();
  }
}

function callbackPage(title: string, text: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:32em;padding:0 1em}</style></head><body><h1>${esc(title)}</h1><p>${esc(text)}</p></body></html>`;
}

// ---------------------------------------------------------------------------------------------
// Dev sign-in without a browser (DEV ONLY)

/** A minimal cookie jar for one host: name + path, honouring Path, Max-Age and Expires. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(res: Response, requestUrl: URL): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cookiePath = requestUrl.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k = '', v = ''] = a.split('=');
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) cookiePath = v;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${name}\u0000${cookiePath}`;
      if (expired || value === '') this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path: cookiePath });
    }
  }

  header(url: URL): string {
    const matches = (p: string) =>
      url.pathname === p || url.pathname.startsWith(p.endsWith('/') ? p : `${p}/`) || p === '/';
    return [...this.cookies.values()]
      .filter((c) => matches(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

function formOf(html: string): { prompt: string; action: string; uid: string } | undefined {
  const form = new RegExp(`<form\\b[^>]*\\b${PROMPT_ATTRIBUTE}="([a-z]+)"[^>]*>`, 'i').exec(html);
  if (!form) return undefined;
  const action = /\baction="([^"]+)"/i.exec(form[0])?.[1];
  const uid = new RegExp(`name="${FORM_FIELDS.uid}" value="([^"]*)"`).exec(html.slice(form.index))?.[1];
  if (!action || uid === undefined) return undefined;
  const unescape = (s: string) =>
    s
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  return { prompt: form[1] ?? '', action: unescape(action), uid: unescape(uid) };
}

/**
 * DEV ONLY. Plays the browser's part of a sign-in at the dev provider: follows the authorization
 * URL, fills in its sign-in page with the e-mail and password, approves the consent page if one is
 * shown, and returns the URL the provider finally redirects to (the client's redirect_uri with
 * `code` and `state`, or with `error`) without following it. Works against the dev provider's own
 * pages only (their form names are shared constants).
 */
export async function driveDevSignIn(
  authorizationUrl: string,
  credentials: { email: string; password: string },
): Promise<URL> {
  const start = new URL(authorizationUrl);
  const jar = new CookieJar();
  let url = start;
  let init: { method: 'GET' | 'POST'; body?: URLSearchParams } = { method: 'GET' };
  let submittedLogin = false;
  for (let step = 0; step < 20; step++) {
    const headers: Record<string, string> = { accept: 'text/html' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (init.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await httpFetch('OIDC provider', start.origin, url.toString(), {
      method: init.method,
      headers,
      body: init.body,
      redirect: 'manual',
    });
    jar.store(res, url);
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const location = res.headers.get('location');
      if (!location) throw new AuthError('protocol', `${url.toString()} redirected without a Location`);
      const next = new URL(location, url);
      if (next.origin !== start.origin) return next; // the client's redirect_uri: done
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    if (submittedLogin && res.status === LOGIN_FAILED_STATUS)
      throw new AuthError(
        'credentials-refused',
        `The dev identity provider refused ${credentials.email}: wrong e-mail or password. Dev passwords are <local part>-dev-password (see lib/identity/README.md).`,
      );
    const form = res.ok ? formOf(html) : undefined;
    if (!form) {
      const text = html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 300);
      throw new AuthError(
        'protocol',
        `${url.toString()} answered HTTP ${res.status} without a dev sign-in form (${text}). devSignIn works only against the mlo dev provider.`,
      );
    }
    const body = new URLSearchParams({ [FORM_FIELDS.uid]: form.uid });
    if (form.prompt === 'login') {
      body.set(FORM_FIELDS.email, credentials.email);
      body.set(FORM_FIELDS.password, credentials.password);
      submittedLogin = true;
    } else if (form.prompt !== 'consent') {
      throw new AuthError('protocol', `the dev provider showed an unknown step "${form.prompt}"`);
    }
    url = new URL(form.action, url);
    init = { method: 'POST', body };
  }
  throw new AuthError('protocol', `the sign-in at ${start.origin} did not finish within 20 steps`);
}

/**
 * DEV ONLY. A fake browser for `loginWithPkce({ openBrowser })`: signs the user in with
 * `driveDevSignIn` and then delivers the redirect to the loopback listener, as a browser would.
 */
export function devBrowser(email: string, password: string): (url: string) => Promise<void> {
  return async (url) => {
    const callback = await driveDevSignIn(url, { email, password });
    const res = await fetch(callback, { redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    await res.arrayBuffer();
  };
}

/**
 * DEV ONLY. Signs a dev user in without a browser: the authorization-code flow with PKCE (client
 * `mlo-cli` by default), driven over plain HTTP against the dev provider's pages; the redirect's
 * code is taken from the Location header, never delivered. Returns the tokens (not cached). Throws
 * AuthError('credentials-refused') for a wrong password.
 */
export async function devSignIn(
  email: string,
  password: string,
  opts: {
    issuer?: string;
    clientId?: string;
    clientSecret?: string;
    redirectUri?: string;
    scopes?: readonly string[];
    resource?: string;
  } = {},
): Promise<TokenSet> {
  const base = opts.issuer === undefined || !('resource' in opts) ? loadOidcConfig() : undefined;
  const issuer = normalizeIssuer(opts.issuer ?? base?.issuer ?? DEFAULT_OIDC_ISSUER);
  const config = {
    issuer,
    clientId: opts.clientId ?? CLIENT_IDS.cli,
    clientSecret: opts.clientSecret,
    resource: 'resource' in opts ? opts.resource : base?.resource,
  };
  const doc = await discover(issuer);
  const flow: CodeFlow = {
    config,
    doc,
    redirectUri: opts.redirectUri ?? CLI_REDIRECT_URI,
    pkce: createPkce(),
    state: randomToken(),
    nonce: randomToken(),
  };
  const url = authorizeUrl(doc, {
    clientId: config.clientId,
    redirectUri: flow.redirectUri,
    scopes: opts.scopes ?? USER_SCOPES,
    state: flow.state,
    nonce: flow.nonce,
    codeChallenge: flow.pkce.challenge,
    resource: config.resource,
  });
  const callback = await driveDevSignIn(url, { email, password });
  return finishCodeFlow(flow, callback);
}

/**
 * DEV ONLY. A token source for a dev user, signed in with `devSignIn` when first asked; renewed
 * with its refresh token (or a new sign-in) a minute before the access token expires. For the demo
 * and the tests, which act as several dev users without a browser.
 */
export function devUserTokenSource(
  email: string,
  password: string,
  opts: { issuer?: string } = {},
): TokenSource & { tokens(): Promise<TokenSet> } {
  let current: TokenSet | undefined;
  let inflight: Promise<TokenSet> | undefined;
  const config = loadOidcConfig();
  const issuer = opts.issuer ?? config.issuer;
  const renew = async (): Promise<TokenSet> => {
    if (current?.refreshToken) {
      try {
        return await refreshTokens({ ...config, issuer }, current.refreshToken);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
      }
    }
    return devSignIn(email, password, { issuer });
  };
  const tokens = async (): Promise<TokenSet> => {
    if (current && isFresh(current, 10 * 60_000)) return current;
    inflight ??= renew()
      .then((t) => (current = t))
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  return {
    tokens,
    async getAccessToken() {
      return (await tokens()).accessToken;
    },
    invalidate() {
      if (current) current = { ...current, expiresAt: 0 };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Verification

export type VerifiedIdentity = {
  /** `sub`: a user id, or a service's client id */
  subject: string;
  /** the e-mail claim (absent for services) */
  email?: string;
  /** the groups claim (empty when absent) */
  groups: string[];
  /** `client_id` (or `azp`): the client the token was issued to */
  clientId?: string;
  expiresAt: Date;
  /** every claim of the token */
  claims: JWTPayload;
};

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLOCK_TOLERANCE_S = 5;
const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function jwksFor(uri: string): ReturnType<typeof createRemoteJWKSet> {
  let jwks = jwksCache.get(uri);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: HTTP_TIMEOUT_MS, cooldownDuration: 30_000 });
    jwksCache.set(uri, jwks);
  }
  return jwks;
}

/** Extracts the e-mail and groups under the configured claim names (pure; exported for tests). */
export function identityFromClaims(
  claims: JWTPayload,
  names: Pick<OidcClientConfig, 'emailClaim' | 'groupsClaim'>,
): Omit<VerifiedIdentity, 'claims'> {
  if (typeof claims.sub !== 'string' || claims.sub === '')
    throw new AuthError('token-invalid', 'the access token has no subject (sub); it is not a user or service token');
  const email = claims[names.emailClaim];
  if (email !== undefined && typeof email !== 'string')
    throw new AuthError(
      'token-invalid',
      `the access token's ${names.emailClaim} claim is not a string; check MLO_OIDC_EMAIL_CLAIM`,
    );
  const raw = claims[names.groupsClaim];
  let groups: string[];
  if (raw === undefined || raw === null) groups = [];
  else if (typeof raw === 'string') groups = raw.split(/[ ,]+/).filter(Boolean);
  else if (Array.isArray(raw) && raw.every((g) => typeof g === 'string')) groups = [...raw];
  else
    throw new AuthError(
      'token-invalid',
      `the access token's ${names.groupsClaim} claim is not a list of strings; check MLO_OIDC_GROUPS_CLAIM`,
    );
  const clientId =
    typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : undefined;
  return { subject: claims.sub, email, groups, clientId, expiresAt: new Date((claims.exp ?? 0) * 1000) };
}

/**
 * Verifies an access token (a JWT) against the issuer's JWKS: signature (asymmetric algorithms
 * only), issuer, audience (`MLO_OIDC_AUDIENCE`, `mlo`) and expiry (5 s leeway). Returns its
 * subject, e-mail and groups (claim names from the configuration). Throws AuthError('token-invalid').
 */
export async function verifyAccessToken(
  token: string,
  opts: { config?: OidcClientConfig; issuer?: string; audience?: string } = {},
): Promise<VerifiedIdentity> {
  const config = opts.config ?? loadOidcConfig();
  const issuer = normalizeIssuer(opts.issuer ?? config.issuer);
  const audience = opts.audience ?? config.audience;
  const doc = await discover(issuer);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, jwksFor(doc.jwks_uri), {
      issuer: doc.issuer,
      audience,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['sub', 'exp'],
    }));
  } catch (err) {
    throw verificationError(err, issuer, audience, doc.jwks_uri);
  }
  return { ...identityFromClaims(payload, config), claims: payload };
}

function verificationError(err: unknown, issuer: string, audience: string, jwksUri: string): Error {
  const again = 'Sign in again (`npx mlo login`), or get a new token.';
  if (err instanceof joseErrors.JWTExpired)
    return new AuthError(
      'token-invalid',
      `The access token expired at ${new Date(Number(err.payload.exp) * 1000).toISOString()}. ${again}`,
    );
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud')
      return new AuthError(
        'token-invalid',
        `The access token is not for ${audience} (aud ${JSON.stringify(err.payload.aud)}). Request it for the mlo resource, or set MLO_OIDC_AUDIENCE to the audience your provider issues.`,
      );
    if (err.claim === 'iss')
      return new AuthError(
        'token-invalid',
        `The access token was issued by ${String(err.payload.iss)}, not ${issuer}. Check MLO_OIDC_ISSUER.`,
      );
    return new AuthError('token-invalid', `The access token's ${err.claim} claim is invalid (${err.reason}). ${again}`);
  }
  if (
    err instanceof joseErrors.JWKSTimeout ||
    (err instanceof joseErrors.JOSEError && /fetch|network/i.test(err.message))
  )
    return new UnreachableError('OIDC provider', jwksUri, err.message);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey)
    return new AuthError(
      'token-invalid',
      `The access token's signature does not verify with ${issuer}'s keys (${jwksUri}): it was not issued by this provider, or was altered. ${again}`,
    );
  if (err instanceof joseErrors.JOSEError)
    return new AuthError(
      'token-invalid',
      `The access token is not a valid JWT from ${issuer} (${err.code}: ${err.message}). ${again}`,
    );
  if (err instanceof TypeError && /fetch/i.test(err.message))
    return new UnreachableError('OIDC provider', jwksUri, err.message);
  return err instanceof Error ? err : new Error(String(err));
}
