/**
 * Names shared by the dev OIDC provider and mlo's OIDC client: the provider's own pages and
 * the client's `devSignIn` (which drives those pages without a browser) must agree on them,
 * and the Temporal server, the workers and the CLI must agree on the token's audience and claims.
 */

/** TCP port of the dev provider (`MLO_OIDC_PORT`). */
export const DEFAULT_OIDC_PORT = 7380;
/** The issuer the client library talks to unless `MLO_OIDC_ISSUER` says otherwise. */
export const DEFAULT_OIDC_ISSUER = `http://127.0.0.1:${DEFAULT_OIDC_PORT}`;

/**
 * The `aud` of every mlo access token. The Temporal server and the workers accept a token only
 * when its audience is this value.
 */
export const MLO_AUDIENCE = 'mlo';
/**
 * The RFC 8707 resource indicator that selects the mlo API at the dev provider. oidc-provider
 * accepts only absolute URIs as resource indicators, so the resource is `urn:mlo` and the
 * audience it maps to is `mlo`. Clients need not send it: the dev provider defaults to it.
 */
export const MLO_RESOURCE = 'urn:mlo';
/** The one scope of the mlo resource server (optional: tokens carry identity, not scopes). */
export const MLO_RESOURCE_SCOPE = 'mlo';

/** Default claim names: `email` (a string) and `groups` (an array of strings). */
export const EMAIL_CLAIM = 'email';
export const GROUPS_CLAIM = 'groups';

/** Groups the dev provider puts in tokens. */
export const GROUPS = {
  engineers: 'mlo-engineers',
  reviewers: 'mlo-reviewers',
  admins: 'mlo-admins',
  services: 'mlo-services',
} as const;

/** Scopes an interactive sign-in asks for (`offline_access` yields a refresh token). */
export const USER_SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'] as const;

/** Client ids of the dev provider. */
export const CLIENT_IDS = {
  temporalUi: 'temporal-ui',
  cli: 'mlo-cli',
  orchestrator: 'mlo-orchestrator',
  scheduler: 'mlo-scheduler',
  registry: 'mlo-registry',
  demo: 'mlo-demo',
} as const;

/** The loopback redirect registered for `mlo-cli`; any port is accepted (RFC 8252 section 7.3). */
export const CLI_REDIRECT_PATH = '/callback';
export const CLI_REDIRECT_URI = `http://127.0.0.1${CLI_REDIRECT_PATH}`;

/**
 * The dev provider's login and consent pages. Each page is `GET /interaction/<uid>`; its form posts
 * to `/interaction/<uid>/<action>` and carries the interaction uid as a hidden field.
 */
export const INTERACTION_PATH = '/interaction';
export const INTERACTION_ACTIONS = { login: 'login', consent: 'confirm', abort: 'abort' } as const;
export const FORM_FIELDS = { uid: 'uid', email: 'email', password: 'password' } as const;
/** `data-mlo-prompt` on the page's form names which step it is. */
export const PROMPT_ATTRIBUTE = 'data-mlo-prompt';
export type InteractionPrompt = 'login' | 'consent';
/** Status of the login page re-rendered after a wrong e-mail or password. */
export const LOGIN_FAILED_STATUS = 401;

/** Service clients (client-credentials grant) and the variable that holds each one's secret. */
export const SERVICE_CLIENTS = [
  { clientId: CLIENT_IDS.orchestrator, name: 'mlo workers', secretVariable: 'MLO_ORCHESTRATOR_CLIENT_SECRET' },
  { clientId: CLIENT_IDS.scheduler, name: 'mlo schedule sync', secretVariable: 'MLO_SCHEDULER_CLIENT_SECRET' },
  { clientId: CLIENT_IDS.registry, name: 'mlo registry writer', secretVariable: 'MLO_REGISTRY_CLIENT_SECRET' },
  { clientId: CLIENT_IDS.demo, name: 'mlo demo', secretVariable: 'MLO_DEMO_CLIENT_SECRET' },
] as const;
export type ServiceClientId = (typeof SERVICE_CLIENTS)[number]['clientId'];

/** The dev default of a client secret: `<client id>-dev-secret`. DEV ONLY: set the variable elsewhere. */
export function devClientSecret(clientId: string): string {
  return `${clientId}-dev-secret`;
}
