/**
 * Verification of a model's audit chain: the pure part. Given the keys found under
 * `audit/<model>/`, the bytes of the chain records and the anchor's state, it classifies every
 * problem. No I/O; the trail (trail.ts) lists, reads and calls it.
 *
 * What each check catches:
 * - contiguity from seq 1 (`gap`): a record deleted from the middle, or the oldest ones;
 * - each record's `prevHash` against the previous record's stored bytes (`bad-link`): an edited
 *   record (the link after it breaks), or a forged one;
 * - each record's own fields against its key and the canonical encoding (`changed`);
 * - the head against the anchor kept outside the bucket: anchor ahead of the newest record
 *   (`truncated`, the newest records were deleted), anchored hash ≠ record hash (`changed`).
 * Warnings, not failures: records past the anchor (`unanchored`: a writer stopped between the
 * write and the anchor; the next append re-anchors), a trail without an anchor, and objects at
 * keys that are not chain keys (`unchained`: legacy records, never used for lineage).
 */
import {
  decodeRecord,
  GENESIS_HASH,
  hashBytes,
  isCanonicalEncoding,
  isHashHex,
  type AuditHead,
  type ChainedAuditRecord,
} from './record';

export type AuditProblemKind =
  'gap' | 'changed' | 'bad-link' | 'anchor-mismatch' | 'truncated' | 'unchained' | 'unanchored' | 'unreadable';

export type AuditProblem = {
  seq?: number;
  key?: string;
  kind: AuditProblemKind;
  detail: string;
  /** `error` fails verification; `warning` is reported and does not. */
  severity: 'error' | 'warning';
};

/** What the anchor (the registered model's `mlo.audit_head` tag) says about the chain. */
export type AnchorState =
  | { kind: 'anchored'; head: AuditHead }
  /** The registered model exists and carries no anchor tag. */
  | { kind: 'absent' }
  /** The registered model does not exist (yet): nothing can be anchored. */
  | { kind: 'no-model' }
  /** The tag is there but is not `{"seq":N,"hash":"<sha256 hex>"}`. */
  | { kind: 'invalid'; raw: string; detail: string }
  /** No anchor was consulted. */
  | { kind: 'none' };

export type AuditReport = {
  ok: boolean;
  model: string;
  /** Chain records found (objects at sequence keys). */
  records: number;
  /** The newest chain record, when it could be read. */
  head?: AuditHead;
  anchor: AnchorState;
  problems: AuditProblem[];
};

/** An object at a chain key: its bytes, or undefined when it was listed but could not be read. */
export type ChainEntry = { key: string; seq: number; bytes: Uint8Array | undefined };

/** A chain record that parsed, with the hash of its stored bytes. */
export type ChainLink = { key: string; seq: number; hash: string; record: ChainedAuditRecord };

export type ChainCheck = {
  report: AuditReport;
  /** The records that parsed, oldest (lowest seq) first. Lineage only once `report.ok`. */
  links: ChainLink[];
};

const FAILURES: ReadonlySet<AuditProblemKind> = new Set([
  'gap',
  'changed',
  'bad-link',
  'anchor-mismatch',
  'truncated',
  'unreadable',
]);

/** Whether a problem of this kind fails verification (the others are warnings). */
export function isFailure(kind: AuditProblemKind): boolean {
  return FAILURES.has(kind);
}

function problem(kind: AuditProblemKind, detail: string, at: { seq?: number; key?: string } = {}): AuditProblem {
  return { ...at, kind, detail, severity: isFailure(kind) ? 'error' : 'warning' };
}

const short = (hash: string) => hash.slice(0, 12);

function range(from: number, to: number): string {
  return from === to ? `record ${from}` : `records ${from}-${to}`;
}

/**
 * Checks a chain. `fromSeq` (default 1) checks only the tail from that seq on: no gaps are
 * reported below it and the first record's link is not checked (its predecessor was not read).
 * The caller passes every chain entry it found at or above `fromSeq`, and `otherKeys`, the keys
 * under the prefix that are not chain keys.
 */
export function checkChain(input: {
  model: string;
  entries: ChainEntry[];
  otherKeys?: string[];
  anchor: AnchorState;
  fromSeq?: number;
}): ChainCheck {
  const { model, anchor } = input;
  const fromSeq = input.fromSeq ?? 1;
  const problems: AuditProblem[] = [];

  for (const key of [...(input.otherKeys ?? [])].sort())
    problems.push(
      problem(
        'unchained',
        `${key} is not a chain record (audit/${model}/<seq>.json); it is listed, never used for lineage`,
        { key },
      ),
    );

  const entries = input.entries.filter((e) => e.seq >= fromSeq).sort((a, b) => a.seq - b.seq);
  const hashes = new Map<number, string>();
  const links: ChainLink[] = [];

  for (const e of entries) {
    if (!e.bytes) {
      problems.push(problem('unreadable', `${e.key} is listed but could not be read`, { seq: e.seq, key: e.key }));
      continue;
    }
    const hash = hashBytes(e.bytes);
    hashes.set(e.seq, hash);
    const decoded = decodeRecord(e.bytes);
    if (!decoded.ok) {
      problems.push(problem('unreadable', `${e.key} ${decoded.detail}`, { seq: e.seq, key: e.key }));
      continue;
    }
    const r = decoded.record;
    const at = { seq: e.seq, key: e.key };
    if (r.seq !== e.seq) {
      problems.push(problem('changed', `${e.key} holds a record that says seq ${String(r.seq)}`, at));
      continue;
    }
    if (r.model !== model) {
      problems.push(problem('changed', `${e.key} holds a record of model "${String(r.model)}"`, at));
      continue;
    }
    if (!isHashHex(r.prevHash)) {
      problems.push(problem('changed', `${e.key} has no valid prevHash`, at));
      continue;
    }
    if (!isCanonicalEncoding(e.bytes, r))
      problems.push(
        problem('changed', `${e.key} is not in the form the writer stores (canonical JSON): it was rewritten`, at),
      );
    links.push({ key: e.key, seq: e.seq, hash, record: r });
  }

  // Contiguity: every seq from fromSeq to the newest one must be there.
  const present = new Set(entries.map((e) => e.seq));
  const newest = entries.at(-1)?.seq ?? 0;
  for (let s = fromSeq; s <= newest; s++) {
    if (present.has(s)) continue;
    let end = s;
    while (end + 1 <= newest && !present.has(end + 1)) end++;
    problems.push(
      problem('gap', `${range(s, end)} of ${newest} ${s === end ? 'is' : 'are'} missing: deleted from the bucket`, {
        seq: s,
      }),
    );
    s = end;
  }

  // Links: each record names the hash of the stored bytes before it.
  for (const l of links) {
    if (l.seq === 1) {
      if (l.record.prevHash !== GENESIS_HASH)
        problems.push(
          problem('bad-link', `record 1's prevHash ${short(l.record.prevHash)}… is not the genesis value`, {
            seq: 1,
            key: l.key,
          }),
        );
      continue;
    }
    if (l.seq === fromSeq) continue; // its predecessor was not read
    const prev = hashes.get(l.seq - 1);
    if (prev === undefined) continue; // a gap or an unreadable record, reported above
    if (l.record.prevHash !== prev)
      problems.push(
        problem(
          'bad-link',
          `record ${l.seq} names ${short(l.record.prevHash)}… as the hash of record ${l.seq - 1}, whose bytes hash to ${short(prev)}…: record ${l.seq - 1} was changed after record ${l.seq} was written, or record ${l.seq} was forged`,
          { seq: l.seq, key: l.key },
        ),
      );
  }

  // The anchor, kept outside the bucket, catches what the chain alone cannot: deleted or
  // rewritten newest records.
  const count = entries.length;
  const noAnchor = (why: string) =>
    problems.push(
      problem(
        'unanchored',
        `${why}: the trail's ${count} record(s) cannot be checked against deletion of the newest ones`,
        { seq: entries[0]?.seq },
      ),
    );
  switch (anchor.kind) {
    case 'none':
      if (count > 0) noAnchor('no anchor was consulted');
      break;
    case 'no-model':
      if (count > 0) noAnchor(`registered model ${model} does not exist in MLflow, so the trail is not anchored`);
      break;
    case 'absent':
      if (count > 0) noAnchor(`registered model ${model} carries no anchor tag`);
      break;
    case 'invalid':
      problems.push(
        problem('anchor-mismatch', `the anchor tag of ${model} is not {"seq":N,"hash":"…"}: ${anchor.detail}`),
      );
      break;
    case 'anchored': {
      const { seq, hash } = anchor.head;
      if (seq > newest) {
        problems.push(
          problem(
            'truncated',
            newest === 0
              ? `the anchor names record ${seq} but the trail holds no chain records: all were deleted`
              : `the anchor names record ${seq} but the newest record is ${newest}: ${range(newest + 1, seq)} were deleted`,
            { seq },
          ),
        );
        break;
      }
      if (seq >= fromSeq) {
        const actual = hashes.get(seq);
        if (actual !== undefined && actual !== hash)
          problems.push(
            problem(
              'changed',
              `record ${seq} hashes to ${short(actual)}… but the anchor recorded ${short(hash)}…: it was rewritten`,
              { seq, key: entries.find((e) => e.seq === seq)?.key },
            ),
          );
      }
      if (newest > seq)
        problems.push(
          problem(
            'unanchored',
            `${range(seq + 1, newest)} ${newest === seq + 1 ? 'is' : 'are'} past the anchor (record ${seq}): a writer stopped between writing and anchoring; the next append re-anchors`,
            { seq: seq + 1 },
          ),
        );
      break;
    }
  }

  const head = hashes.has(newest) ? { seq: newest, hash: hashes.get(newest) ?? '' } : undefined;
  const report: AuditReport = {
    ok: !problems.some((p) => p.severity === 'error'),
    model,
    records: count,
    ...(head ? { head } : {}),
    anchor,
    problems,
  };
  return { report, links };
}

/** One line per problem, for messages and the CLI: `seq 3 bad-link: …`. */
export function describeProblems(problems: AuditProblem[]): string {
  return problems.map((p) => `${p.seq !== undefined ? `seq ${p.seq} ` : ''}${p.kind}: ${p.detail}`).join('; ');
}
