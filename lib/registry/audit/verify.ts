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
  const entries = input.entries.filter((e) => e.seq >= fromSeq).sort((a, b) => a.seq - b.seq);
  const parsed = parseEntries(model, entries);
  const { hashes, links } = parsed;
  const newest = entries.at(-1)?.seq ?? 0;
  const problems: AuditProblem[] = [
    ...unchainedProblems(model, input.otherKeys ?? []),
    ...parsed.problems,
    ...gapProblems(entries, fromSeq, newest),
    ...linkProblems(links, hashes, fromSeq),
    ...anchorProblems({ model, anchor, entries, hashes, fromSeq, newest }),
  ];

  const head = hashes.has(newest) ? { seq: newest, hash: hashes.get(newest) ?? '' } : undefined;
  const report: AuditReport = {
    ok: !problems.some((p) => p.severity === 'error'),
    model,
    records: entries.length,
    ...(head ? { head } : {}),
    anchor,
    problems,
  };
  return { report, links };
}

/** Objects under the prefix at keys that are not chain keys: listed, never used for lineage. */
function unchainedProblems(model: string, otherKeys: string[]): AuditProblem[] {
  return [...otherKeys]
    .sort()
    .map((key) =>
      problem(
        'unchained',
        `${key} is not a chain record (audit/${model}/<seq>.json); it is listed, never used for lineage`,
        { key },
      ),
    );
}

/**
 * Reads each entry (sorted by seq): the hash of its stored bytes (also for records that do not
 * parse, so the link after them is still checked), and its record when it parses and its fields
 * agree with its key and model.
 */
function parseEntries(
  model: string,
  entries: ChainEntry[],
): { hashes: Map<number, string>; links: ChainLink[]; problems: AuditProblem[] } {
  const hashes = new Map<number, string>();
  const links: ChainLink[] = [];
  const problems: AuditProblem[] = [];
  for (const e of entries) {
    const at = { seq: e.seq, key: e.key };
    if (!e.bytes) {
      problems.push(problem('unreadable', `${e.key} is listed but could not be read`, at));
      continue;
    }
    const hash = hashBytes(e.bytes);
    hashes.set(e.seq, hash);
    const decoded = decodeRecord(e.bytes);
    if (!decoded.ok) {
      problems.push(problem('unreadable', `${e.key} ${decoded.detail}`, at));
      continue;
    }
    const r = decoded.record;
    const mismatch = fieldMismatch(e, r, model);
    if (mismatch) {
      problems.push(problem('changed', mismatch, at));
      continue;
    }
    if (!isCanonicalEncoding(e.bytes, r))
      problems.push(
        problem('changed', `${e.key} is not in the form the writer stores (canonical JSON): it was rewritten`, at),
      );
    links.push({ key: e.key, seq: e.seq, hash, record: r });
  }
  return { hashes, links, problems };
}

/** Why a decoded record does not belong at its key, or undefined when it does. */
function fieldMismatch(e: ChainEntry, r: ChainedAuditRecord, model: string): string | undefined {
  if (r.seq !== e.seq) return `${e.key} holds a record that says seq ${String(r.seq)}`;
  if (r.model !== model) return `${e.key} holds a record of model "${String(r.model)}"`;
  if (!isHashHex(r.prevHash)) return `${e.key} has no valid prevHash`;
  return undefined;
}

/** Contiguity: every seq from fromSeq to the newest one must be there; one problem per missing run. */
function gapProblems(entries: ChainEntry[], fromSeq: number, newest: number): AuditProblem[] {
  const present = new Set(entries.map((e) => e.seq));
  const problems: AuditProblem[] = [];
  for (let s = fromSeq; s <= newest; s++) {
    if (present.has(s)) continue;
    let end = s;
    while (end + 1 <= newest && !present.has(end + 1)) end++;
    const verb = s === end ? 'is' : 'are';
    problems.push(problem('gap', `${range(s, end)} of ${newest} ${verb} missing: deleted from the bucket`, { seq: s }));
    s = end;
  }
  return problems;
}

/** Links: each record names the hash of the stored bytes before it (record 1 the genesis value). */
function linkProblems(links: ChainLink[], hashes: Map<number, string>, fromSeq: number): AuditProblem[] {
  const problems: AuditProblem[] = [];
  for (const l of links) {
    const at = { seq: l.seq, key: l.key };
    const named = short(l.record.prevHash);
    if (l.seq === 1) {
      if (l.record.prevHash !== GENESIS_HASH)
        problems.push(problem('bad-link', `record 1's prevHash ${named}… is not the genesis value`, at));
      continue;
    }
    if (l.seq === fromSeq) continue; // its predecessor was not read
    const prev = hashes.get(l.seq - 1);
    if (prev === undefined) continue; // a gap or an unreadable record, reported above
    if (l.record.prevHash !== prev)
      problems.push(
        problem(
          'bad-link',
          `record ${l.seq} names ${named}… as the hash of record ${l.seq - 1}, ` +
            `whose bytes hash to ${short(prev)}…: ` +
            `record ${l.seq - 1} was changed after record ${l.seq} was written, or record ${l.seq} was forged`,
          at,
        ),
      );
  }
  return problems;
}

/**
 * The anchor, kept outside the bucket, catches what the chain alone cannot: deleted or
 * rewritten newest records.
 */
function anchorProblems(input: {
  model: string;
  anchor: AnchorState;
  entries: ChainEntry[];
  hashes: Map<number, string>;
  fromSeq: number;
  newest: number;
}): AuditProblem[] {
  const { model, anchor, entries } = input;
  const count = entries.length;
  const noAnchor = (why: string): AuditProblem[] =>
    count > 0
      ? [
          problem(
            'unanchored',
            `${why}: the trail's ${count} record(s) cannot be checked against deletion of the newest ones`,
            { seq: entries[0]?.seq },
          ),
        ]
      : [];
  switch (anchor.kind) {
    case 'none':
      return noAnchor('no anchor was consulted');
    case 'no-model':
      return noAnchor(`registered model ${model} does not exist in MLflow, so the trail is not anchored`);
    case 'absent':
      return noAnchor(`registered model ${model} carries no anchor tag`);
    case 'invalid':
      return [problem('anchor-mismatch', `the anchor tag of ${model} is not {"seq":N,"hash":"…"}: ${anchor.detail}`)];
    case 'anchored':
      return anchoredHeadProblems({ ...input, head: anchor.head });
  }
}

/** The chain against an anchored head: records deleted past it, it rewritten, records written after it. */
function anchoredHeadProblems(input: {
  head: AuditHead;
  entries: ChainEntry[];
  hashes: Map<number, string>;
  fromSeq: number;
  newest: number;
}): AuditProblem[] {
  const { head, entries, hashes, fromSeq, newest } = input;
  const { seq, hash } = head;
  if (seq > newest) {
    const detail =
      newest === 0
        ? `the anchor names record ${seq} but the trail holds no chain records: all were deleted`
        : `the anchor names record ${seq} but the newest record is ${newest}: ${range(newest + 1, seq)} were deleted`;
    return [problem('truncated', detail, { seq })];
  }
  const problems: AuditProblem[] = [];
  if (seq >= fromSeq) {
    const actual = hashes.get(seq);
    if (actual !== undefined && actual !== hash)
      problems.push(
        problem(
          'changed',
          `record ${seq} hashes to ${short(actual)}… but the anchor recorded ${short(hash)}…: it was rewritten`,
          {
            seq,
            key: entries.find((e) => e.seq === seq)?.key,
          },
        ),
      );
  }
  if (newest > seq) {
    const verb = newest === seq + 1 ? 'is' : 'are';
    problems.push(
      problem(
        'unanchored',
        `${range(seq + 1, newest)} ${verb} past the anchor (record ${seq}): ` +
          'a writer stopped between writing and anchoring; the next append re-anchors',
        { seq: seq + 1 },
      ),
    );
  }
  return problems;
}

/** One line per problem, for messages and the CLI: `seq 3 bad-link: …`. */
export function describeProblems(problems: AuditProblem[]): string {
  return problems.map((p) => `${p.seq !== undefined ? `seq ${p.seq} ` : ''}${p.kind}: ${p.detail}`).join('; ');
}
