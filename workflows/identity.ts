/**
 * Verified identities in decisions. With authentication, mlo's Temporal server stamps the header
 * `mlo-verified-identity` (a `json/plain` payload `{"subject": "…", "email": "…"}`) on every
 * Update and Signal to `promotion/…` and `rollback/…`, replacing whatever the client sent. The
 * workflow interceptor (./interceptors.ts) hands it to the decision's handler under a symbol
 * key, which no payload can carry, so only the server can name the caller. Servers without
 * authentication send no header, and decisions name their reviewer in the payload as before.
 */
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { RequesterIdentity, VerifiedIdentity } from '../lib/core/definitions';

export const IDENTITY_HEADER = 'mlo-verified-identity';

/** What the server said about the caller: an identity, or why its header could not be read. */
export type VerifiedCaller = VerifiedIdentity | { error: string };

/** The key under which the interceptor attaches the verified caller to a decision's payload. */
export const VERIFIED = Symbol.for('mlo.verifiedCaller');

/** The updates whose header the interceptor reads (it reads every signal's). */
export const DECISION_UPDATES: readonly string[] = ['approve', 'reject'];

/** Reads the header's payload; a payload that is not the server's shape is an error, never an identity. */
export function readIdentityHeader(payload: Payload): VerifiedCaller {
  let value: unknown;
  try {
    value = defaultPayloadConverter.fromPayload(payload);
  } catch (err) {
    return { error: `header ${IDENTITY_HEADER} is not a JSON payload (${(err as Error).message})` };
  }
  const v = value as { subject?: unknown; email?: unknown } | null;
  if (!v || typeof v !== 'object' || typeof v.subject !== 'string' || v.subject === '')
    return { error: `header ${IDENTITY_HEADER} names no subject` };
  if (v.email !== undefined && typeof v.email !== 'string')
    return { error: `header ${IDENTITY_HEADER} has an e-mail that is not a string` };
  return v.email ? { subject: v.subject, email: v.email } : { subject: v.subject };
}

/** A decision's first argument with the verified caller attached (a non-object argument becomes `{}`). */
export function withVerifiedCaller(arg: unknown, caller: VerifiedCaller): Record<string | symbol, unknown> {
  const base = arg !== null && typeof arg === 'object' && !Array.isArray(arg) ? (arg as Record<string, unknown>) : {};
  return { ...base, [VERIFIED]: caller };
}

/** The verified caller the interceptor attached to a decision, if the server named one. */
export function verifiedCallerOf(arg: unknown): VerifiedCaller | undefined {
  if (arg === null || typeof arg !== 'object') return undefined;
  return (arg as Record<symbol, VerifiedCaller | undefined>)[VERIFIED];
}

/**
 * The requester as the server checked it at start (`requestedBy` equals the caller: a person's
 * e-mail, or a service's subject such as the scheduler's).
 */
export function requesterIdentity(requestedBy: string): RequesterIdentity {
  return requestedBy.includes('@') ? { email: requestedBy } : { subject: requestedBy };
}
