/**
 * The dev provider's users and how it checks their passwords.
 *
 * DEV ONLY: every password is `<local part of the e-mail>-dev-password`, written in this file
 * and in the README. The provider keeps only scrypt hashes (random salt per start) in memory and
 * compares them in constant time, so the checking code is the real thing even if the secrets are not.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { GROUPS } from './shared';

export type DevUser = {
  /** stable subject id (`sub`) */
  sub: string;
  email: string;
  name: string;
  groups: string[];
};

function user(local: string, name: string, groups: string[]): DevUser {
  return { sub: `dev-${local}`, email: `${local}@example.com`, name, groups };
}

/** The dev users: two engineers, three reviewers, an admin and an outsider in no group. */
export const DEV_USERS: readonly DevUser[] = Object.freeze([
  user('erin', 'Erin Engineer', [GROUPS.engineers]),
  user('frank', 'Frank Engineer', [GROUPS.engineers]),
  user('alice', 'Alice Reviewer', [GROUPS.reviewers]),
  user('bob', 'Bob Reviewer', [GROUPS.reviewers]),
  user('carol', 'Carol Reviewer', [GROUPS.reviewers]),
  user('olivia', 'Olivia Admin', [GROUPS.admins]),
  user('mallory', 'Mallory Outsider', []),
]);

/** The deterministic dev password of a dev user: `<local part>-dev-password`. DEV ONLY. */
export function devPassword(email: string): string {
  return `${email.split('@')[0] ?? email}-dev-password`;
}

export function findDevUserByEmail(email: string): DevUser | undefined {
  const e = email.trim().toLowerCase();
  return DEV_USERS.find((u) => u.email === e);
}

export function findDevUserBySub(sub: string): DevUser | undefined {
  return DEV_USERS.find((u) => u.sub === sub);
}

// scrypt parameters: N=2^14, r=8, p=1 (about 16 MiB and a few tens of ms per check).
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 } as const;
const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/** Hashes a password as `scrypt$N$r$p$<salt>$<hash>` (base64url fields). */
export async function hashPassword(password: string, salt: Buffer = crypto.randomBytes(16)): Promise<string> {
  const { N, r, p, keylen, maxmem } = SCRYPT;
  const hash = await scrypt(password.normalize('NFKC'), salt, keylen, { N, r, p, maxmem });
  return ['scrypt', N, r, p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Checks a password against a `hashPassword` string in constant time. False for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  if (!N || !r || !p || salt.length === 0 || expected.length === 0) return false;
  const actual = await scrypt(password.normalize('NFKC'), salt, expected.length, { N, r, p, maxmem: SCRYPT.maxmem });
  return crypto.timingSafeEqual(actual, expected);
}

/**
 * The provider's password book: scrypt hashes of the dev users' passwords, made once at start.
 * `check` spends the same scrypt work for an unknown e-mail as for a known one.
 */
export class PasswordBook {
  private constructor(
    private readonly entries: Map<string, { user: DevUser; hash: string }>,
    private readonly decoy: string,
  ) {}

  static async forDevUsers(users: readonly DevUser[] = DEV_USERS): Promise<PasswordBook> {
    const entries = await Promise.all(
      users.map(async (user) => [user.email, { user, hash: await hashPassword(devPassword(user.email)) }] as const),
    );
    return new PasswordBook(new Map(entries), await hashPassword(crypto.randomBytes(16).toString('hex')));
  }

  /** The user whose e-mail and password these are, or undefined. */
  async check(email: string, password: string): Promise<DevUser | undefined> {
    const entry = this.entries.get(email.trim().toLowerCase());
    const ok = await verifyPassword(password, entry?.hash ?? this.decoy);
    return ok && entry ? entry.user : undefined;
  }
}
