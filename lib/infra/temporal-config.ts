/**
 * Where mlo's Temporal connection settings come from: Temporal's environment configuration
 * (`@temporalio/envconfig`: a TOML profile and the `TEMPORAL_*` variables, as the `temporal` CLI and
 * every SDK read them), mlo's own `MLO_TEMPORAL_*` variables and the `mlo` flags, over the dev
 * stack's defaults. One precedence for every setting:
 *
 *   flag (`--temporal-address`, `--temporal-namespace`, `--temporal-profile`)
 *   > environment (`MLO_TEMPORAL_*`, then `TEMPORAL_*`)
 *   > profile (`TEMPORAL_CONFIG_FILE`, else ~/.config/temporalio/temporal.toml; profile `TEMPORAL_PROFILE`, else `default`)
 *   > the dev stack (127.0.0.1:`MLO_TEMPORAL_PORT`, namespace `default`, plaintext on loopback)
 *
 * The credential: a static API key (`TEMPORAL_API_KEY`, else the profile's `api_key`) when one is set,
 * for a frontend that takes API keys; otherwise mlo's OIDC access token (see temporal.ts). The user's
 * configuration file is only ever read, never written.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';

type Env = Record<string, string | undefined>;

/** Settings given on the command line (highest precedence). */
export type TemporalFlags = { address?: string; namespace?: string; profile?: string };

/** Which layer a setting came from (for `mlo doctor` and error messages). */
export type SettingSource = 'flag' | `env ${string}` | `profile ${string}` | 'dev stack';

export type TemporalConnectionConfig = {
  address: string;
  namespace: string;
  uiUrl: string;
  /** false: plaintext; true: TLS with the system's roots; an object: the profile's CA, server name, client pair */
  tls: boolean | TLSConfig;
  /** A static API key (TEMPORAL_API_KEY or the profile's api_key); when set it is sent instead of an OIDC token. */
  apiKey?: string;
  /** gRPC metadata of the profile (`grpc_meta`, TEMPORAL_GRPC_META_*) sent with every call */
  metadata?: Record<string, string>;
  /** The profile read (name and file), if any. */
  profile?: { name: string; file: string };
  sources: { address: SettingSource; namespace: SettingSource; tls: SettingSource; apiKey?: SettingSource };
};

const HOST_PORT = /^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;
const NAMESPACE = /^[A-Za-z0-9._-]+$/;

let cliFlags: TemporalFlags = {};

/** The `mlo` command line's connection flags; every later loadConfig() of this process applies them. */
export function setTemporalFlags(flags: TemporalFlags): void {
  cliFlags = { ...flags };
}

export function temporalFlags(): TemporalFlags {
  return cliFlags;
}

/** The configuration file envconfig reads: TEMPORAL_CONFIG_FILE, else the user's default location. */
export function temporalConfigFile(env: Env): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return path.resolve(env.TEMPORAL_CONFIG_FILE);
  if (process.platform === 'win32')
    return env.APPDATA ? path.join(env.APPDATA, 'temporalio', 'temporal.toml') : undefined;
  if (process.platform === 'darwin')
    return env.HOME ? path.join(env.HOME, 'Library', 'Application Support', 'temporalio', 'temporal.toml') : undefined;
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  const dir = base ?? (env.HOME ? path.join(env.HOME, '.config') : undefined);
  return dir ? path.join(dir, 'temporalio', 'temporal.toml') : undefined;
}

function isLoopback(hostPort: string): boolean {
  const host = hostPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function definedEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

function readSource(src: ConfigDataSource | undefined, what: string, problems: string[]): Uint8Array | undefined {
  if (!src) return undefined;
  if ('data' in src) return typeof src.data === 'string' ? new TextEncoder().encode(src.data) : src.data;
  try {
    return new Uint8Array(fs.readFileSync(src.path));
  } catch (err) {
    problems.push(
      `${what}: cannot read "${src.path}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
    return undefined;
  }
}

function boolEnv(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  return undefined;
}

/**
 * Resolves the Temporal connection settings. Problems (a missing profile or file, an unreadable
 * certificate, a malformed address) are appended to `problems`, each naming the setting, its source
 * and the fix; the returned settings are then not to be used.
 */
export function resolveTemporalConfig(
  env: Env,
  stack: { temporalPort: number; temporalUiPort: number },
  problems: string[],
  flags: TemporalFlags = cliFlags,
): TemporalConnectionConfig {
  const e = definedEnv(env);
  const file = temporalConfigFile(e);
  const profileName = flags.profile ?? e.TEMPORAL_PROFILE;
  const profileWhere = `${profileName ?? 'default'}`;
  if (e.TEMPORAL_CONFIG_FILE && !fs.existsSync(file!))
    problems.push(
      `TEMPORAL_CONFIG_FILE: "${e.TEMPORAL_CONFIG_FILE}" does not exist; point it at a Temporal client configuration ` +
        '(TOML with [profile.<name>] tables) or unset it',
    );
  // The profile alone (file layer), then with the TEMPORAL_* variables over it (envconfig's own merge).
  let fromFile: ClientConfigProfile = {};
  let merged: ClientConfigProfile = {};
  const load = (disableEnv: boolean) =>
    loadClientConfigProfile({
      profile: profileName,
      overrideEnvVars: e,
      disableEnv,
      ...(file ? { configSource: { path: file } } : { disableFile: true }),
    });
  try {
    if (file && fs.existsSync(file)) fromFile = load(true);
    else if (profileName)
      problems.push(
        `${flags.profile ? '--temporal-profile' : 'TEMPORAL_PROFILE'} "${profileName}": there is no Temporal configuration ` +
          `file${file ? ` at ${file}` : ''}; set TEMPORAL_CONFIG_FILE to the file that holds the profile`,
      );
    merged = loadClientConfigProfile({ profile: profileName, overrideEnvVars: e, disableFile: true });
    merged = mergeProfiles(fromFile, merged);
  } catch (err) {
    const msg = (err as Error).message;
    problems.push(
      /not found in config data/.test(msg)
        ? `${flags.profile ? '--temporal-profile' : 'TEMPORAL_PROFILE'} "${profileName}": no [profile.${profileName}] in ${file}; ` +
            'name a profile of that file or add it'
        : `the Temporal configuration ${file ?? ''}: ${msg}; fix the TOML (see the README, "Temporal connection")`,
    );
  }
  const profileSource = (): SettingSource => `profile ${profileWhere} (${file})`;

  let address: string;
  let addressSource: SettingSource;
  if (flags.address) [address, addressSource] = [flags.address, 'flag'];
  else if (e.MLO_TEMPORAL_ADDRESS) [address, addressSource] = [e.MLO_TEMPORAL_ADDRESS, 'env MLO_TEMPORAL_ADDRESS'];
  else if (e.TEMPORAL_ADDRESS) [address, addressSource] = [e.TEMPORAL_ADDRESS, 'env TEMPORAL_ADDRESS'];
  else if (fromFile.address) [address, addressSource] = [fromFile.address, profileSource()];
  else [address, addressSource] = [`127.0.0.1:${stack.temporalPort}`, 'dev stack'];
  if (!HOST_PORT.test(address))
    problems.push(
      `${nameOf(addressSource, 'address')}: "${address}" must be host:port, e.g. temporal.example.com:7233`,
    );

  let namespace: string;
  let namespaceSource: SettingSource;
  if (flags.namespace) [namespace, namespaceSource] = [flags.namespace, 'flag'];
  else if (e.MLO_TEMPORAL_NAMESPACE)
    [namespace, namespaceSource] = [e.MLO_TEMPORAL_NAMESPACE, 'env MLO_TEMPORAL_NAMESPACE'];
  else if (e.TEMPORAL_NAMESPACE) [namespace, namespaceSource] = [e.TEMPORAL_NAMESPACE, 'env TEMPORAL_NAMESPACE'];
  else if (fromFile.namespace) [namespace, namespaceSource] = [fromFile.namespace, profileSource()];
  else [namespace, namespaceSource] = ['default', 'dev stack'];
  if (!NAMESPACE.test(namespace))
    problems.push(
      `${nameOf(namespaceSource, 'namespace')}: "${namespace}" may hold only letters, digits, ".", "_" and "-"`,
    );

  const apiKey = merged.apiKey || undefined;
  const apiKeySource: SettingSource | undefined = apiKey
    ? e.TEMPORAL_API_KEY
      ? 'env TEMPORAL_API_KEY'
      : profileSource()
    : undefined;

  // TLS: on or off, then with which material.
  const t = merged.tls;
  const mloTls = e.MLO_TEMPORAL_TLS;
  if (mloTls !== undefined && mloTls !== 'true' && mloTls !== 'false')
    problems.push(`MLO_TEMPORAL_TLS must be "true" or "false" (got "${mloTls}")`);
  if (
    boolEnv(e.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION) ||
    (t as { disableHostVerification?: boolean })?.disableHostVerification
  )
    problems.push(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION / disable_host_verification: not supported by mlo (the TypeScript SDK always ' +
        "verifies the server's name); set the server name (TEMPORAL_TLS_SERVER_NAME or tls.server_name) to the name in its certificate",
    );
  const hasMaterial = !!(t && (t.serverName || t.serverCACert || t.clientCert || t.clientKey));
  let enabled: boolean;
  let tlsSource: SettingSource;
  if (mloTls === 'true' || mloTls === 'false') [enabled, tlsSource] = [mloTls === 'true', 'env MLO_TEMPORAL_TLS'];
  else if (e.TEMPORAL_TLS !== undefined && boolEnv(e.TEMPORAL_TLS) !== undefined)
    [enabled, tlsSource] = [boolEnv(e.TEMPORAL_TLS)!, 'env TEMPORAL_TLS'];
  else if (t?.disabled !== undefined) [enabled, tlsSource] = [!t.disabled, profileSource()];
  else if (hasMaterial) [enabled, tlsSource] = [true, fromFile.tls ? profileSource() : 'env TEMPORAL_TLS_*'];
  else if (apiKey && !isLoopback(address)) [enabled, tlsSource] = [true, apiKeySource!];
  else [enabled, tlsSource] = [!isLoopback(address), 'dev stack'];
  if (e.TEMPORAL_TLS !== undefined && boolEnv(e.TEMPORAL_TLS) === undefined)
    problems.push(`TEMPORAL_TLS must be "true" or "false" (got "${e.TEMPORAL_TLS}")`);

  let tls: boolean | TLSConfig = enabled;
  if (enabled && hasMaterial && t) {
    const where = (field: string, envName: string) =>
      fromFile.tls && !e[envName] ? `${profileSource()}: tls.${field}` : envName;
    const ca = readSource(t.serverCACert, where('server_ca_cert_path', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'), problems);
    const crt = readSource(t.clientCert, where('client_cert_path', 'TEMPORAL_TLS_CLIENT_CERT_PATH'), problems);
    const key = readSource(t.clientKey, where('client_key_path', 'TEMPORAL_TLS_CLIENT_KEY_PATH'), problems);
    if (!!t.clientCert !== !!t.clientKey)
      problems.push(
        'the Temporal client certificate and key go together (tls.client_cert_* and tls.client_key_*, or ' +
          'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH): set both or neither',
      );
    tls = {
      ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    };
  }

  return {
    address,
    namespace,
    uiUrl: (e.MLO_TEMPORAL_UI_URL ?? `http://127.0.0.1:${stack.temporalUiPort}`).replace(/\/$/, ''),
    tls,
    ...(apiKey ? { apiKey } : {}),
    ...(merged.grpcMeta && Object.keys(merged.grpcMeta).length > 0 ? { metadata: merged.grpcMeta } : {}),
    ...(file && fs.existsSync(file) ? { profile: { name: profileWhere, file } } : {}),
    sources: {
      address: addressSource,
      namespace: namespaceSource,
      tls: tlsSource,
      ...(apiKeySource ? { apiKey: apiKeySource } : {}),
    },
  };
}

/** The TEMPORAL_* variables' profile over the file's (field by field; TLS table merged). */
function mergeProfiles(file: ClientConfigProfile, env: ClientConfigProfile): ClientConfigProfile {
  return {
    address: env.address ?? file.address,
    namespace: env.namespace ?? file.namespace,
    apiKey: env.apiKey ?? file.apiKey,
    tls: file.tls || env.tls ? { ...file.tls, ...env.tls } : undefined,
    grpcMeta: file.grpcMeta || env.grpcMeta ? { ...file.grpcMeta, ...env.grpcMeta } : undefined,
  };
}

function nameOf(source: SettingSource, field: string): string {
  if (source === 'flag') return `--temporal-${field}`;
  if (source.startsWith('env ')) return source.slice(4);
  if (source.startsWith('profile ')) return `${source}: ${field}`;
  return field;
}

/** One line saying where the connection settings came from (for `mlo doctor` and worker logs). */
export function describeTemporalConfig(t: TemporalConnectionConfig): string {
  const tls = t.tls === false ? 'plaintext' : t.tls === true ? 'TLS' : tlsWords(t.tls);
  const auth = t.apiKey ? `static API key (${t.sources.apiKey})` : 'OIDC access token';
  return `${t.address} namespace ${t.namespace}, ${tls}, ${auth}; address from ${t.sources.address}`;
}

function tlsWords(t: TLSConfig): string {
  const parts = [
    t.serverRootCACertificate ? 'own CA' : 'system CAs',
    ...(t.serverNameOverride ? [`server name ${t.serverNameOverride}`] : []),
    ...(t.clientCertPair ? ['client certificate (mTLS)'] : []),
  ];
  return `TLS (${parts.join(', ')})`;
}

/** The dev stack's profile: what `npm run stack -- up` writes to <stack dir>/temporal.toml. */
export function devStackProfileToml(stack: { temporalPort: number }, namespace = 'default'): string {
  return [
    "# Written by `npm run stack -- up`: the dev stack's Temporal client profile (Temporal environment",
    '# configuration). Processes the stack starts get TEMPORAL_CONFIG_FILE pointing here.',
    '[profile.default]',
    `address = "127.0.0.1:${stack.temporalPort}"`,
    `namespace = "${namespace}"`,
    '',
    '[profile.default.tls]',
    'disabled = true',
    '',
  ].join('\n');
}
