/**
 * `mlo login`, `mlo logout` and `mlo whoami`: the signed-in user, whose identity the servers
 * check on every call (the requester of a run, the reviewer of a decision).
 */
import { EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import {
  clearCachedTokens,
  revokeRefreshToken,
  loadOidcConfig,
  loginWithPkce,
  readCachedTokens,
  userTokenSource,
} from '../../lib/identity/oidc-client';
import { boolFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import { identityOf, JSON_FLAG, noPositionals, type Me } from '../context';

function describeMe(me: Me): string[] {
  return [
    `subject: ${me.subject}`,
    `e-mail:  ${me.email ?? '(none: a service)'}`,
    `groups:  ${me.groups.length > 0 ? me.groups.join(', ') : '(none)'}`,
  ];
}

function meJson(me: Me, extra: Record<string, unknown>): string {
  const out = {
    subject: me.subject,
    email: me.email ?? null,
    groups: me.groups,
    expiresAt: me.expiresAt.toISOString(),
    ...extra,
  };
  return JSON.stringify(out, null, 2);
}

async function login(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'login');
  const config = loadOidcConfig();
  const json = boolFlag(args, 'json');
  const tokens = await loginWithPkce({
    config,
    openBrowser: boolFlag(args, 'no-browser') ? false : undefined,
    print: (line) => console.error(line),
  });
  const me = await identityOf({ getAccessToken: async () => tokens.accessToken, invalidate: () => undefined });
  if (json) console.log(meJson(me, { issuer: config.issuer, tokenCache: config.tokenCacheFile }));
  else {
    console.log(`signed in to ${config.issuer} as ${me.name}`);
    for (const l of describeMe(me)) console.log(`  ${l}`);
    console.log(`  tokens cached in ${config.tokenCacheFile} (mode 0600); \`mlo logout\` forgets them`);
  }
  return EXIT_CODES.ok;
}

async function logout(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'logout');
  const config = loadOidcConfig();
  const refreshToken = readCachedTokens(config)?.refreshToken;
  // Revoked first, so that a copy of the cache signs no one in; the cache goes either way.
  const revoked = refreshToken ? await revokeRefreshToken(config, refreshToken).catch((e: unknown) => e) : false;
  const had = clearCachedTokens(config);
  console.log(
    had
      ? `signed out of ${config.issuer}: removed the cached tokens from ${config.tokenCacheFile}`
      : `not signed in to ${config.issuer} (nothing cached in ${config.tokenCacheFile})`,
  );
  if (revoked === true) console.log('the refresh token was revoked at the provider');
  else if (revoked instanceof Error)
    console.error(
      `warning: could not revoke the refresh token at ${config.issuer} (${revoked.message}); ` +
        'it stays valid until it expires or an administrator revokes the session',
    );
  else if (refreshToken)
    console.log(`note: ${config.issuer} offers no revocation endpoint; the refresh token expires on its own`);
  if (config.token) console.log('note: MLO_TOKEN is set, and mlo keeps using it until you unset it');
  return EXIT_CODES.ok;
}

async function whoami(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'whoami');
  const config = loadOidcConfig();
  const me = await identityOf(userTokenSource(config));
  const source = config.token ? 'MLO_TOKEN' : config.tokenCacheFile;
  if (boolFlag(args, 'json')) console.log(meJson(me, { issuer: config.issuer, source }));
  else {
    console.log(me.name);
    for (const l of describeMe(me)) console.log(`  ${l}`);
    console.log(`  issuer:  ${config.issuer} (token from ${source}, valid until ${me.expiresAt.toISOString()})`);
    const cached = config.token ? undefined : readCachedTokens(config);
    if (cached?.refreshToken) console.log('  renewed with its refresh token when it expires');
  }
  return EXIT_CODES.ok;
}

export const loginCommand: Command = {
  name: 'login',
  summary: 'sign in (OpenID Connect, authorization code with PKCE in your browser); the tokens are cached',
  usage: 'mlo login [--no-browser] [--json]',
  flags: [
    { name: 'no-browser', description: 'only print the sign-in URL; open it in any browser on this machine' },
    JSON_FLAG,
  ],
  details: [
    'Listens on 127.0.0.1 on a free port for the redirect, prints the sign-in URL (and opens it in a browser),',
    'and caches the tokens in ~/.config/mlo/tokens.json (MLO_TOKEN_CACHE; mode 0600). Later commands use them',
    "and renew them with the refresh token. The provider is MLO_OIDC_ISSUER (default: the dev stack's,",
    'http://127.0.0.1:7380, whose dev users are in lib/identity/README.md). Automation sets MLO_TOKEN instead.',
  ],
  run: login,
};

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'forget the cached sign-in of `mlo login`',
  usage: 'mlo logout',
  flags: [],
  run: logout,
};

export const whoamiCommand: Command = {
  name: 'whoami',
  summary: 'show who you are signed in as: subject, e-mail, groups',
  usage: 'mlo whoami [--json]',
  flags: [JSON_FLAG],
  details: [
    "Verifies the token (MLO_TOKEN, else the cached sign-in) against the provider's keys. Exit 2 when not signed in.",
  ],
  run: whoami,
};
