/**
 * The dev provider's secrets on disk: one RS256 signing key (a private JWK) and the keys that
 * sign its cookies, each made on first start and kept under the state directory with mode 0600,
 * so tokens and browser sessions stay valid across a restart.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { StackError } from '../core/errors';

export const SIGNING_KEY_FILE = 'signing-key.jwk.json';
export const COOKIE_KEYS_FILE = 'cookie-keys.json';

/** Creates the state directory (mode 0700) if it is missing. */
export function ensureStateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes a file readable by its owner only, atomically (write a temporary file, then rename). */
export function writePrivateFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

function readPrivateJson(file: string): unknown {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600); // tighten a copy that lost its mode
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new StackError(
      `${file} is not valid JSON (${(err as Error).message}). Delete it and restart the dev OIDC provider to make a new one (tokens it signed stop verifying).`,
    );
  }
}

/** An RSA private JWK with `kid`, `alg: RS256` and `use: sig`. */
export type SigningJwk = JWK & { kid: string; alg: 'RS256'; use: 'sig'; kty: 'RSA'; d: string };

function isSigningJwk(v: unknown): v is SigningJwk {
  const k = v as Partial<SigningJwk> | null;
  return (
    !!k &&
    k.kty === 'RSA' &&
    k.alg === 'RS256' &&
    typeof k.kid === 'string' &&
    typeof k.n === 'string' &&
    typeof k.e === 'string' &&
    typeof k.d === 'string'
  );
}

/** Loads `<dir>/signing-key.jwk.json`, or makes a 2048-bit RS256 key and saves it there. */
export async function loadOrCreateSigningKey(dir: string): Promise<{ jwk: SigningJwk; created: boolean }> {
  ensureStateDir(dir);
  const file = path.join(dir, SIGNING_KEY_FILE);
  if (fs.existsSync(file)) {
    const jwk = readPrivateJson(file);
    if (!isSigningJwk(jwk))
      throw new StackError(
        `${file} does not hold an RS256 private JWK. Delete it and restart the dev OIDC provider to make a new one.`,
      );
    return { jwk, created: false };
  }
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const exported = privateKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: exported.n, e: exported.e });
  const jwk = { ...exported, kty: 'RSA', kid, alg: 'RS256', use: 'sig' } as SigningJwk;
  writePrivateFile(file, `${JSON.stringify(jwk, null, 2)}\n`);
  return { jwk, created: true };
}

/** The public half of a signing JWK (what the JWKS endpoint publishes). */
export function publicJwk(jwk: SigningJwk): JWK {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

/** Loads `<dir>/cookie-keys.json` (random secrets for signed cookies), or makes it. */
export function loadOrCreateCookieKeys(dir: string): string[] {
  ensureStateDir(dir);
  const file = path.join(dir, COOKIE_KEYS_FILE);
  if (fs.existsSync(file)) {
    const keys = readPrivateJson(file);
    if (Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === 'string' && k.length >= 32))
      return keys as string[];
    throw new StackError(`${file} does not hold a list of cookie keys. Delete it and restart the dev OIDC provider.`);
  }
  const keys = [crypto.randomBytes(32).toString('base64url')];
  writePrivateFile(file, `${JSON.stringify(keys)}\n`);
  return keys;
}
