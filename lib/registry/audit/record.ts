/**
 * The audit record and its stored form. Pure: no I/O.
 *
 * A chained record is stored at `audit/<model>/<seq, 12 digits>.json` as the canonical JSON of
 * the record (keys sorted at every level, no whitespace) and a newline. Its hash is the SHA-256
 * of exactly those stored bytes; the next record carries it as `prevHash`.
 */
import { canonicalJson, sha256Hex } from '../../infra/hash';

export type AuditAction =
  | 'challenger-set'
  | 'approved'
  | 'rejected'
  | 'expired'
  | 'cancelled'
  | 'refused'
  | 'champion-moved'
  | 'challenger-removed'
  | 'rollback-requested'
  | 'rollback'
  /** A candidate failed its evaluation or shadow gates: nothing moved; the failing gates are the evidence. */
  | 'gate-failed';

/** A verified identity: the identity provider's subject, and the e-mail address it vouched for. */
export type AuditIdentity = { subject: string; email?: string };

/**
 * A requester as the server verified it at start, where `requestedBy` must equal the caller: a
 * person's e-mail, or a service's subject (the workflow does not learn a person's subject).
 */
export type AuditRequester = { subject?: string; email?: string };

export type AuditRecord = {
  model: string;
  action: AuditAction;
  /** Who acted, as a display name: a reviewer, the requester, or `mlo` for automatic steps. */
  actor: string;
  at: string;
  version?: string;
  previousChampion?: string | null;
  newChampion?: string;
  reason?: string;
  emergency?: boolean;
  evidence?: Record<string, string>;
  /** The promotion or rollback the event belongs to. */
  workflowId: string;
  /** The run that wrote the record: for a move of `champion`, the run of its `champion/<model>` child. */
  workflowRunId?: string;
  /** The verified identity that asked for the change (a promotion's or a rollback's requester). */
  requester?: AuditRequester;
  /** The verified identity that decided (approved, rejected or refused). */
  decider?: AuditIdentity;
};

/** The version of the stored record format. */
export const AUDIT_FORMAT = 1;

/** `prevHash` of the first record (seq 1) of every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** A record as the chain stores it: the audit record plus its place in the chain. */
export type ChainedAuditRecord = AuditRecord & {
  /** The stored format's version (AUDIT_FORMAT). */
  v: number;
  /** 1, 2, 3, … per model, without gaps. */
  seq: number;
  /** SHA-256 hex of the previous record's stored bytes; GENESIS_HASH for seq 1. */
  prevHash: string;
  /** The writer's key for this record: a retried append with the same key writes nothing new. */
  idempotencyKey: string;
};

/** The newest record of a chain: its seq and the SHA-256 hex of its stored bytes. */
export type AuditHead = { seq: number; hash: string };

const SEQ_DIGITS = 12;
const SEQ_NAME = /^(\d{12})\.json$/;
const HASH_HEX = /^[0-9a-f]{64}$/;
/** Model names become key prefixes: no `/`, nothing that could address another model's trail. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isAuditModelName(model: string): boolean {
  return MODEL_NAME.test(model) && !model.includes('..');
}

export function auditPrefix(model: string): string {
  return `audit/${model}/`;
}

/** The key of record `seq` of the model's chain. */
export function seqKey(model: string, seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1 || String(seq).length > SEQ_DIGITS)
    throw new RangeError(`audit sequence numbers run from 1 to ${'9'.repeat(SEQ_DIGITS)}, got ${seq}`);
  return `${auditPrefix(model)}${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

/** The seq of a chain key of the model, or undefined for any other key (legacy records, strays). */
export function parseSeqKey(model: string, key: string): number | undefined {
  const prefix = auditPrefix(model);
  if (!key.startsWith(prefix)) return undefined;
  const m = SEQ_NAME.exec(key.slice(prefix.length));
  if (!m?.[1]) return undefined;
  const seq = Number(m[1]);
  return seq >= 1 ? seq : undefined;
}

export function isHashHex(v: unknown): v is string {
  return typeof v === 'string' && HASH_HEX.test(v);
}

/** SHA-256 hex of stored bytes: the hash the chain links and the anchor name. */
export function hashBytes(bytes: Uint8Array): string {
  return sha256Hex(bytes);
}

/** The stored bytes of a chained record: canonical JSON and a newline. */
export function encodeRecord(record: ChainedAuditRecord): Uint8Array {
  return new TextEncoder().encode(`${canonicalJson(record)}\n`);
}

export type DecodedRecord = { ok: true; record: ChainedAuditRecord } | { ok: false; detail: string };

/**
 * Parses stored bytes as a chained record. Fails (with why) when the bytes are not UTF-8 JSON
 * of an object; checks of the fields against the key and the chain are the verifier's.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, detail: 'is not UTF-8 text' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, detail: `is not JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, detail: 'is not a JSON object' };
  return { ok: true, record: value as ChainedAuditRecord };
}

/** Whether the bytes are exactly what the writer stores for this parsed value. */
export function isCanonicalEncoding(bytes: Uint8Array, record: ChainedAuditRecord): boolean {
  const expected = encodeRecord(record);
  return expected.length === bytes.length && expected.every((b, i) => b === bytes[i]);
}
