/**
 * The dev OpenID Connect provider: `oidc-provider` (a certified OP) configured for mlo, with its
 * own sign-in and consent pages, on the loopback interface only.
 *
 * What it issues:
 * - user access tokens: RS256 JWTs (`typ: at+jwt`) with `aud: "mlo"`, `sub`, `email`, `groups`,
 *   from the authorization-code flow (PKCE required for the public client `mlo-cli`);
 * - service access tokens: client credentials for `mlo-orchestrator`, `mlo-scheduler`,
 *   `mlo-registry`, `mlo-demo`, with `sub` = the client id and `groups: ["mlo-services"]`;
 * - ID tokens with `email`, `email_verified`, `name`, `groups` (scopes `email profile groups`);
 * - refresh tokens with `offline_access`.
 *
 * DEV ONLY: fixed users with deterministic passwords (lib/identity/dev-users.ts), in-process storage
 * (lib/identity/store.ts), one signing key kept in a local file. Production points mlo at a real
 * OpenID Connect provider instead (see lib/identity/README.md).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Provider, {
  errors as oidcErrors,
  type Account,
  type ClientMetadata,
  type Configuration,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { z } from 'zod';
import { ConfigError, StackError } from '../core/errors';
import { loadStackConfig } from '../infra/config';
import { DEV_USERS, PasswordBook, findDevUserBySub, type DevUser } from './dev-users';
import { loadOrCreateCookieKeys, loadOrCreateSigningKey } from './keys';
import { PAGE_HEADERS, consentPage, errorPage, loginPage, logoutPage, message } from './pages';
import {
  CLIENT_IDS,
  CLI_REDIRECT_PATH,
  SERVICE_CLIENTS,
  devClientSecret,
  type ServiceClientId,
  DEFAULT_OIDC_PORT,
  FORM_FIELDS,
  GROUPS,
  INTERACTION_ACTIONS,
  INTERACTION_PATH,
  LOGIN_FAILED_STATUS,
  MLO_AUDIENCE,
  MLO_RESOURCE,
  MLO_RESOURCE_SCOPE,
  USER_SCOPES,
} from './shared';
import { DevStore } from './store';

export type DevProviderConfig = {
  /** loopback address to listen on (127.0.0.1, ::1 or localhost) */
  host: string;
  /** 0 picks a free port */
  port: number;
  /** issuer URL; default `http://<host>:<port>` */
  issuer?: string;
  /** directory of the signing key, cookie keys and stored sessions (mode 0700, files 0600) */
  stateDir: string;
  /** port of the Temporal Web UI, for the `temporal-ui` redirect URIs */
  temporalUiPort: number;
  /** secret of `temporal-ui` */
  temporalUiSecret: string;
  /** secrets of the service clients */
  serviceSecrets: Record<ServiceClientId, string>;
  /** lifetime of user access tokens and ID tokens (seconds) */
  accessTokenTtlSeconds: number;
  /** lifetime of service (client-credentials) access tokens (seconds) */
  serviceTokenTtlSeconds: number;
  /** where log lines go (default stdout) */
  log: (line: string) => void;
};

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

const secret = (name: string) => z.string().min(16, `${name} must be at least 16 characters`);
const seconds = (name: string, dflt: number) =>
  z.coerce
    .number({ error: `${name} must be a number of seconds` })
    .int(`${name} must be a whole number of seconds`)
    .min(30, `${name} must be at least 30 seconds`)
    .max(86_400, `${name} must be at most 86400 seconds (a day)`)
    .default(dflt);

/**
 * Reads the provider's settings from the environment (validated with zod; every problem at once):
 * MLO_OIDC_PORT (7380), MLO_OIDC_HOST (127.0.0.1; loopback only), MLO_OIDC_ISSUER,
 * MLO_OIDC_STATE_DIR (<MLO_STACK_DIR>/oidc), MLO_TEMPORAL_UI_PORT (8233), MLO_UI_OIDC_CLIENT_SECRET,
 * MLO_<ORCHESTRATOR|SCHEDULER|REGISTRY|DEMO>_CLIENT_SECRET, MLO_OIDC_ACCESS_TOKEN_TTL (3600),
 * MLO_OIDC_SERVICE_TOKEN_TTL (900).
 */
export function loadDevProviderConfig(env: Record<string, string | undefined> = process.env): DevProviderConfig {
  const e: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) e[k] = v === '' ? undefined : v;
  const problems: string[] = [];
  let stack: ReturnType<typeof loadStackConfig> | undefined;
  try {
    // MLO_OIDC_PORT is this provider's own (0 picks a free port), checked below.
    stack = loadStackConfig({ ...e, MLO_OIDC_PORT: undefined });
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else throw err;
  }
  const schema = z.object({
    MLO_OIDC_PORT: z.coerce
      .number({ error: 'MLO_OIDC_PORT must be a TCP port number' })
      .int('MLO_OIDC_PORT must be an integer')
      .min(0, 'MLO_OIDC_PORT must be between 0 and 65535 (0 picks a free port)')
      .max(65535, 'MLO_OIDC_PORT must be between 0 and 65535 (0 picks a free port)')
      .default(DEFAULT_OIDC_PORT),
    MLO_OIDC_HOST: z
      .string()
      .refine(
        (h) => LOOPBACK_HOSTS.has(h),
        'MLO_OIDC_HOST must be a loopback address (127.0.0.1, ::1 or localhost): the dev provider has public passwords and never listens beyond this machine',
      )
      .default('127.0.0.1'),
    MLO_OIDC_ISSUER: z
      .string()
      .refine((v) => {
        const u = URL.parse(v);
        return !!u && u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname.replace(/^\[|\]$/g, ''));
      }, 'MLO_OIDC_ISSUER must be an http:// URL on a loopback host for the dev provider, e.g. http://127.0.0.1:7380')
      .optional(),
    MLO_OIDC_STATE_DIR: z.string().min(1).optional(),
    MLO_UI_OIDC_CLIENT_SECRET: secret('MLO_UI_OIDC_CLIENT_SECRET').default(devClientSecret(CLIENT_IDS.temporalUi)),
    ...Object.fromEntries(
      SERVICE_CLIENTS.map((c) => [c.secretVariable, secret(c.secretVariable).default(devClientSecret(c.clientId))]),
    ),
    MLO_OIDC_ACCESS_TOKEN_TTL: seconds('MLO_OIDC_ACCESS_TOKEN_TTL', 3600),
    MLO_OIDC_SERVICE_TOKEN_TTL: seconds('MLO_OIDC_SERVICE_TOKEN_TTL', 900),
  });
  const parsed = schema.safeParse(e);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  if (problems.length > 0 || !parsed.success || !stack)
    throw new ConfigError('Invalid dev OIDC provider settings in the environment', problems);
  const c = parsed.data as z.infer<typeof schema> & Record<string, string>;
  const serviceSecrets = Object.fromEntries(SERVICE_CLIENTS.map((s) => [s.clientId, c[s.secretVariable]])) as Record<
    ServiceClientId,
    string
  >;
  return {
    host: c.MLO_OIDC_HOST,
    port: c.MLO_OIDC_PORT,
    issuer: c.MLO_OIDC_ISSUER?.replace(/\/$/, ''),
    stateDir: path.resolve(c.MLO_OIDC_STATE_DIR ?? path.join(stack.dir, 'oidc')),
    temporalUiPort: stack.temporalUiPort,
    temporalUiSecret: c.MLO_UI_OIDC_CLIENT_SECRET,
    serviceSecrets,
    accessTokenTtlSeconds: c.MLO_OIDC_ACCESS_TOKEN_TTL,
    serviceTokenTtlSeconds: c.MLO_OIDC_SERVICE_TOKEN_TTL,
    log: (line) => console.log(line),
  };
}

/** The clients the dev provider knows. */
export function devClients(cfg: Pick<DevProviderConfig, 'temporalUiPort' | 'temporalUiSecret' | 'serviceSecrets'>) {
  const ui = [`http://127.0.0.1:${cfg.temporalUiPort}`, `http://localhost:${cfg.temporalUiPort}`];
  const clients: ClientMetadata[] = [
    {
      client_id: CLIENT_IDS.temporalUi,
      client_name: 'Temporal Web UI',
      client_secret: cfg.temporalUiSecret,
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ui.map((o) => `${o}/auth/sso/callback`),
      post_logout_redirect_uris: ui.map((o) => `${o}/`),
      // golang.org/x/oauth2 (the UI server) tries HTTP Basic first.
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: CLIENT_IDS.cli,
      client_name: 'mlo command line',
      application_type: 'native', // loopback redirects on any port (RFC 8252)
      token_endpoint_auth_method: 'none', // public: PKCE is required
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [`http://127.0.0.1${CLI_REDIRECT_PATH}`, `http://[::1]${CLI_REDIRECT_PATH}`],
    },
    ...SERVICE_CLIENTS.map((s): ClientMetadata => ({
      client_id: s.clientId,
      client_name: s.name,
      client_secret: cfg.serviceSecrets[s.clientId],
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
  ];
  return clients;
}

const SERVICE_CLIENT_IDS = new Set<string>(SERVICE_CLIENTS.map((s) => s.clientId));

function accountFor(user: DevUser): Account {
  return {
    accountId: user.sub,
    claims: () => ({
      sub: user.sub,
      email: user.email,
      email_verified: true,
      name: user.name,
      preferred_username: user.email,
      groups: [...user.groups],
    }),
  };
}

export type DevProvider = {
  /** the issuer URL (also the base URL) */
  issuer: string;
  port: number;
  /** the oidc-provider instance, for tests */
  provider: Provider;
  /** stops listening and writes stored sessions to disk */
  close(): Promise<void>;
};

/** Builds the oidc-provider configuration (exported for tests; `startDevProvider` is the way to run it). */
export function providerConfiguration(
  cfg: DevProviderConfig,
  deps: { jwks: Configuration['jwks']; cookieKeys: string[]; store: DevStore },
): Configuration {
  return {
    adapter: deps.store.adapter,
    clients: devClients(cfg),
    jwks: deps.jwks,
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    findAccount: (_ctx, sub) => {
      const user = findDevUserBySub(sub);
      return user ? accountFor(user) : undefined;
    },
    scopes: [...USER_SCOPES],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // ID tokens carry the claims of their scopes (email, groups) even when a userinfo endpoint exists.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    clientBasedCORS: () => false,
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false }, // replaced by the pages below: they check passwords
      clientCredentials: { enabled: true },
      dPoP: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.type = 'html';
          ctx.set(PAGE_HEADERS);
          ctx.body = logoutPage(form, ctx.host);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.set(PAGE_HEADERS);
          ctx.body = message('Signed out', 'You are signed out of the dev identity provider.');
        },
      },
      resourceIndicators: {
        enabled: true,
        // Every token request is for the mlo API unless it names another resource (there is none).
        defaultResource: () => MLO_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== MLO_RESOURCE)
            throw new oidcErrors.InvalidTarget(`unknown resource ${indicator}; the only resource is ${MLO_RESOURCE}`);
          return {
            scope: MLO_RESOURCE_SCOPE,
            audience: MLO_AUDIENCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Refresh tokens for every client allowed the refresh_token grant (temporal-ui, mlo-cli), with or
    // without offline_access (oidc-provider drops offline_access unless prompt=consent is sent, which
    // the Temporal UI does not send); they outlive the browser session and last 14 days.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: () => false,
    extraTokenClaims: (_ctx, token) => {
      if (token.kind === 'ClientCredentials')
        return { groups: token.clientId && SERVICE_CLIENT_IDS.has(token.clientId) ? [GROUPS.services] : [] };
      const user = token.accountId ? findDevUserBySub(token.accountId) : undefined;
      return user ? { email: user.email, groups: [...user.groups] } : undefined;
    },
    ttl: {
      AccessToken: cfg.accessTokenTtlSeconds,
      ClientCredentials: cfg.serviceTokenTtlSeconds,
      IdToken: cfg.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      Interaction: 15 * 60,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.set(PAGE_HEADERS);
      ctx.body = errorPage('Sign-in error', 'The identity provider could not complete this request.', {
        ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, String(v)])),
      });
    },
  };
}

/**
 * Starts the dev provider: loads (or makes) the signing key, hashes the dev passwords, listens on
 * the loopback address, and serves OpenID Connect plus its own pages. Resolves once it listens.
 */
export async function startDevProvider(cfg: DevProviderConfig): Promise<DevProvider> {
  if (!LOOPBACK_HOSTS.has(cfg.host))
    throw new StackError(`the dev OIDC provider listens on loopback addresses only, not ${cfg.host}`);
  const { jwk, created } = await loadOrCreateSigningKey(cfg.stateDir);
  const cookieKeys = loadOrCreateCookieKeys(cfg.stateDir);
  const passwords = await PasswordBook.forDevUsers(DEV_USERS);
  const store = new DevStore(cfg.stateDir);
  const log = cfg.log;

  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end('starting');
  };
  const server = http.createServer((req, res) => handler(req, res));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new StackError(
              `port ${cfg.port} (dev OIDC provider) is already in use. Stop that process, or choose another port with MLO_OIDC_PORT=<port>.`,
            )
          : err,
      );
    server.once('error', onError);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const issuer = cfg.issuer ?? `http://${hostForUrl}:${port}`;

  const provider = new Provider(issuer, providerConfiguration(cfg, { jwks: { keys: [jwk] }, cookieKeys, store }));
  provider.on('server_error', (_ctx: KoaContextWithOIDC, err: Error) =>
    log(`oidc: server error: ${err.stack ?? err.message}`),
  );
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const o = ctx.oidc;
    const who = o.entities.Account?.accountId ?? o.client?.clientId ?? '?';
    log(
      `oidc: token issued: grant ${String(o.params?.grant_type)}, client ${o.client?.clientId ?? '?'}, subject ${who}`,
    );
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: Error) =>
    log(`oidc: token refused: client ${ctx.oidc?.client?.clientId ?? '?'}: ${describe(err)}`),
  );
  provider.on('authorization.error', (ctx: KoaContextWithOIDC, err: Error) =>
    log(`oidc: authorization refused: client ${ctx.oidc?.client?.clientId ?? '?'}: ${describe(err)}`),
  );

  const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, new URL(issuer).host]);
  const oidc = provider.callback();
  const interactions = interactionHandler(provider, passwords, log);
  handler = (req, res) => {
    // DNS-rebinding guard: answer only requests addressed to this loopback server.
    if (!allowedHosts.has(req.headers.host ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request: use the issuer URL\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
      return;
    }
    if (pathname.startsWith(`${INTERACTION_PATH}/`)) {
      interactions(req, res, pathname).catch((err: unknown) => {
        log(`oidc: interaction failed: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent)
          sendPage(res, 500, errorPage('Sign-in error', 'Something went wrong; start the sign-in again.'));
        else res.end();
      });
      return;
    }
    void oidc(req, res);
  };

  log(
    `oidc: dev OpenID Connect provider at ${issuer} (state ${cfg.stateDir}; signing key ${jwk.kid}${created ? ', new' : ''})`,
  );
  return {
    issuer,
    port,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        store.flush();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function describe(err: Error): string {
  const e = err as Error & { error?: string; error_description?: string };
  return e.error ? `${e.error}${e.error_description ? ` (${e.error_description})` : ''}` : e.message;
}

function sendPage(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, PAGE_HEADERS).end(html);
}

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type Exchange = { req: http.IncomingMessage; res: http.ServerResponse };
type InteractionContext = Exchange & { provider: Provider; uid: string; details: Interaction; clientName: string };

function expiredPage(res: http.ServerResponse): void {
  sendPage(
    res,
    400,
    errorPage(
      'Sign-in expired',
      'This sign-in has expired, was already completed, or was started in another browser. ' +
        'Go back to the application and sign in again.',
    ),
  );
}

/** The page of the interaction's current step: the login form or the consent form. */
function showStep({ res, uid, details, clientName }: InteractionContext): void {
  const prompt = details.prompt.name;
  if (prompt === 'login') return sendPage(res, 200, loginPage({ uid, clientName }));
  if (prompt === 'consent') {
    const user = details.session?.accountId ? findDevUserBySub(details.session.accountId) : undefined;
    const scope = details.params.scope;
    const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
    return sendPage(res, 200, consentPage({ uid, clientName, email: user?.email ?? '?', scopes }));
  }
  sendPage(res, 400, errorPage('Unsupported step', `The dev provider has no page for "${prompt}".`));
}

/** The login form: a wrong password shows the form again; a right one finishes the login step. */
async function submitLogin(
  ctx: InteractionContext,
  form: URLSearchParams,
  passwords: PasswordBook,
  log: (l: string) => void,
): Promise<void> {
  const { req, res, provider, uid, clientName } = ctx;
  const email = form.get(FORM_FIELDS.email) ?? '';
  const user = await passwords.check(email, form.get(FORM_FIELDS.password) ?? '');
  if (!user) {
    log(`oidc: sign-in refused for ${JSON.stringify(email.slice(0, 100))} (${clientName}): wrong e-mail or password`);
    const page = loginPage({ uid, clientName, email, error: 'Wrong e-mail or password.' });
    return sendPage(res, LOGIN_FAILED_STATUS, page);
  }
  log(`oidc: ${user.email} signed in (${clientName})`);
  const login = { login: { accountId: user.sub, amr: ['pwd'] } };
  await provider.interactionFinished(req, res, login, { mergeWithLastSubmission: false });
}

/** The consent form: grants what the client asked for and finishes the consent step. */
async function submitConsent({ req, res, provider, details }: InteractionContext): Promise<void> {
  const accountId = details.session?.accountId;
  const clientId = details.params.client_id;
  if (!accountId || typeof clientId !== 'string') return expiredPage(res);
  const grant =
    (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
    new provider.Grant({ accountId, clientId });
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
    grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** The interaction's details, or undefined (after answering "expired") when it is gone or another one. */
async function interactionOf(
  provider: Provider,
  { req, res }: Exchange,
  uid: string,
): Promise<Interaction | undefined> {
  let details: Interaction;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (!(err instanceof oidcErrors.SessionNotFound)) throw err;
    expiredPage(res);
    return undefined;
  }
  if (details.uid === uid) return details;
  expiredPage(res);
  return undefined;
}

/** `/interaction/<uid>` (GET: the page) and `/interaction/<uid>/<action>` (POST: the form). */
function interactionHandler(provider: Provider, passwords: PasswordBook, log: (l: string) => void) {
  const clientName = async (clientId: unknown) => {
    const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
    return client?.clientName ?? (typeof clientId === 'string' ? clientId : 'an application');
  };

  return async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> => {
    const [uid, action, ...rest] = pathname.slice(INTERACTION_PATH.length + 1).split('/');
    if (!uid || rest.length > 0) return sendPage(res, 404, errorPage('Not found', 'No such page.'));
    const details = await interactionOf(provider, { req, res }, uid);
    if (!details) return;
    const ctx: InteractionContext = {
      req,
      res,
      provider,
      uid,
      details,
      clientName: await clientName(details.params.client_id),
    };
    const prompt = details.prompt.name;

    if (req.method === 'GET' && action === undefined) return showStep(ctx);
    if (req.method !== 'POST' || action === undefined) {
      res.writeHead(405, { allow: action === undefined ? 'GET' : 'POST' }).end();
      return;
    }
    const form = await readForm(req);
    // CSRF: the form must name the interaction whose (SameSite, path-scoped) cookie came with it.
    if (!form || form.get(FORM_FIELDS.uid) !== uid) return expiredPage(res);

    if (action === INTERACTION_ACTIONS.abort) {
      log(`oidc: sign-in cancelled for ${ctx.clientName}`);
      const denied = { error: 'access_denied', error_description: 'the user cancelled the sign-in' };
      await provider.interactionFinished(req, res, denied, { mergeWithLastSubmission: false });
      return;
    }
    if (action === INTERACTION_ACTIONS.login && prompt === 'login') return submitLogin(ctx, form, passwords, log);
    if (action === INTERACTION_ACTIONS.consent && prompt === 'consent') return submitConsent(ctx);
    const outOfStep = `This form (${action}) does not match the current step (${prompt}).`;
    return sendPage(res, 400, errorPage('Out of step', outOfStep));
  };
}
