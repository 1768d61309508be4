/**
 * The audit chain's pure parts (keys, stored bytes, verification and its classification of
 * problems, the anchor's tag) and the writer's logic against an in-memory S3 and anchor.
 * The real versitygw and MLflow are exercised in test/integration/audit.test.ts.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import {
  AuditIntegrityError,
  AuditTrail,
  checkChain,
  championHistory,
  decodeRecord,
  encodeRecord,
  formatAnchor,
  GENESIS_HASH,
  hashBytes,
  isFailure,
  isLostRace,
  parseAnchor,
  parseSeqKey,
  seqKey,
  type AnchorState,
  type AuditAnchor,
  type AuditHead,
  type AuditProblem,
  type AuditRecord,
  type ChainEntry,
  type ChainedAuditRecord,
} from '../../lib/registry/audit';

const MODEL = 'fraud-detector';

function rec(i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    model: MODEL,
    action: i % 2 ? 'challenger-set' : 'champion-moved',
    actor: 'mlo',
    at: `2026-03-0${Math.min(i, 9)}T10:00:00.000Z`,
    version: String(i),
    ...(i % 2 ? {} : { previousChampion: String(i - 1), newChampion: String(i) }),
    workflowId: `promotion/${MODEL}/${i}`,
    ...extra,
  };
}

/** A well-formed chain of n records, as the writer would store it. */
function chain(n: number): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const bytes = encodeRecord({ ...rec(seq), v: 1, seq, prevHash: prev, idempotencyKey: `k${seq}` });
    out.push({ key: seqKey(MODEL, seq), seq, bytes });
    prev = hashBytes(bytes);
  }
  return out;
}

const headOf = (entries: ChainEntry[], seq = entries.length): AuditHead => {
  const e = entries.find((x) => x.seq === seq);
  if (!e?.bytes) throw new Error(`no record ${seq}`);
  return { seq, hash: hashBytes(e.bytes) };
};
const anchored = (head: AuditHead): AnchorState => ({ kind: 'anchored', head });
const kinds = (problems: AuditProblem[]) => problems.map((p) => [p.kind, p.seq]);
const decode = (bytes: Uint8Array | undefined) => {
  const d = decodeRecord(bytes ?? new Uint8Array());
  if (!d.ok) throw new Error(d.detail);
  return d.record;
};

describe('keys', () => {
  it('pads seq to 12 digits and parses only chain keys of the model', () => {
    expect(seqKey(MODEL, 1)).toBe('audit/fraud-detector/000000000001.json');
    expect(seqKey(MODEL, 123456789012)).toBe('audit/fraud-detector/123456789012.json');
    expect(() => seqKey(MODEL, 0)).toThrow(RangeError);
    expect(() => seqKey(MODEL, 1.5)).toThrow(RangeError);
    expect(() => seqKey(MODEL, 1e12)).toThrow(RangeError);
    expect(parseSeqKey(MODEL, 'audit/fraud-detector/000000000042.json')).toBe(42);
    expect(parseSeqKey(MODEL, 'audit/fraud-detector/000000000000.json')).toBeUndefined();
    expect(parseSeqKey(MODEL, 'audit/fraud-detector/2026-03-01T10-00-00-000Z-approved-0123456789ab.json')).toBe(
      undefined,
    );
    expect(parseSeqKey(MODEL, 'audit/fraud-detector/sub/000000000001.json')).toBeUndefined();
    expect(parseSeqKey(MODEL, 'audit/other/000000000001.json')).toBeUndefined();
    expect(parseSeqKey(MODEL, 'audit/fraud-detector/00000000001.json')).toBeUndefined();
    // lexicographic order of the keys is seq order
    const keys = [10, 9, 100, 1].map((s) => seqKey(MODEL, s)).sort();
    expect(keys.map((k) => parseSeqKey(MODEL, k))).toEqual([1, 9, 10, 100]);
  });
});

describe('stored bytes', () => {
  it('are canonical JSON and a newline, whatever the key order, and hash as stored', () => {
    const a: ChainedAuditRecord = { ...rec(2), v: 1, seq: 2, prevHash: GENESIS_HASH, idempotencyKey: 'k' };
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as ChainedAuditRecord;
    const bytes = encodeRecord(a);
    expect(Buffer.from(encodeRecord(reordered)).equals(Buffer.from(bytes))).toBe(true);
    const text = new TextDecoder().decode(bytes);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf('"action"')).toBeLessThan(text.indexOf('"actor"'));
    expect(text).not.toContain(' ');
    expect(hashBytes(bytes)).toMatch(/^[0-9a-f]{64}$/);
    expect(decode(bytes)).toEqual(a);
  });

  it('keep verified identities beside the display actor', () => {
    const r: ChainedAuditRecord = {
      ...rec(2, {
        actor: 'alice@example.com',
        requester: { subject: 'u-1', email: 'bob@example.com' },
        decider: { subject: 'u-2', email: 'alice@example.com' },
      }),
      v: 1,
      seq: 1,
      prevHash: GENESIS_HASH,
      idempotencyKey: 'k',
    };
    expect(decode(encodeRecord(r))).toMatchObject({
      actor: 'alice@example.com',
      requester: { subject: 'u-1', email: 'bob@example.com' },
      decider: { subject: 'u-2' },
    });
  });

  it('decoding says why bytes are no record', () => {
    expect(decodeRecord(new Uint8Array([0xff, 0xfe]))).toMatchObject({ ok: false, detail: 'is not UTF-8 text' });
    expect(decodeRecord(new TextEncoder().encode('{"a":'))).toMatchObject({ ok: false });
    expect(decodeRecord(new TextEncoder().encode('[1]'))).toMatchObject({ ok: false, detail: 'is not a JSON object' });
  });
});

describe('checkChain', () => {
  it('passes a well-formed, anchored chain', () => {
    const entries = chain(3);
    const { report, links } = checkChain({ model: MODEL, entries, anchor: anchored(headOf(entries)) });
    expect(report).toMatchObject({ ok: true, records: 3, head: headOf(entries), problems: [] });
    expect(links.map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(championHistory(links.map((l) => l.record))).toEqual(['2']);
  });

  it('passes an empty trail with no anchor', () => {
    const { report } = checkChain({ model: MODEL, entries: [], anchor: { kind: 'absent' } });
    expect(report).toMatchObject({ ok: true, records: 0, problems: [] });
    expect(report.head).toBeUndefined();
  });

  it('warns (does not fail) about records past the anchor and trails without one', () => {
    const entries = chain(4);
    const behind = checkChain({ model: MODEL, entries, anchor: anchored(headOf(entries, 2)) }).report;
    expect(behind.ok).toBe(true);
    expect(kinds(behind.problems)).toEqual([['unanchored', 3]]);
    expect(behind.problems[0]?.detail).toContain('records 3-4 are past the anchor');
    for (const anchor of [{ kind: 'no-model' }, { kind: 'absent' }, { kind: 'none' }] as AnchorState[]) {
      const r = checkChain({ model: MODEL, entries, anchor }).report;
      expect(r.ok).toBe(true);
      expect(r.problems.map((p) => [p.kind, p.severity])).toEqual([['unanchored', 'warning']]);
    }
  });
});

describe('checkChain: edits and deletions', () => {
  it('an edited middle record breaks the link after it; a non-canonical edit is also "changed"', () => {
    const entries = chain(3);
    const anchor = anchored(headOf(entries));
    const r2 = decode(entries[1]?.bytes);
    // canonical rewrite (as the writer would encode it): only the link gives it away
    const sneaky = entries.map((e) => (e.seq === 2 ? { ...e, bytes: encodeRecord({ ...r2, actor: 'mallory' }) } : e));
    const a = checkChain({ model: MODEL, entries: sneaky, anchor }).report;
    expect(a.ok).toBe(false);
    expect(kinds(a.problems)).toEqual([['bad-link', 3]]);
    expect(a.problems[0]?.detail).toContain('record 2 was changed after record 3 was written');
    // a hand edit (pretty-printed)
    const hand = entries.map((e) =>
      e.seq === 2 ? { ...e, bytes: new TextEncoder().encode(JSON.stringify({ ...r2, actor: 'mallory' }, null, 2)) } : e,
    );
    const b = checkChain({ model: MODEL, entries: hand, anchor }).report;
    expect(kinds(b.problems)).toEqual([
      ['changed', 2],
      ['bad-link', 3],
    ]);
  });

  it('a rewritten head shows only against the anchor', () => {
    const entries = chain(3);
    const anchor = anchored(headOf(entries));
    const r3 = decode(entries[2]?.bytes);
    const edited = entries.map((e) =>
      e.seq === 3 ? { ...e, bytes: encodeRecord({ ...r3, newChampion: '1', reason: 'x' }) } : e,
    );
    const r = checkChain({ model: MODEL, entries: edited, anchor }).report;
    expect(r.ok).toBe(false);
    expect(kinds(r.problems)).toEqual([['changed', 3]]);
    expect(r.problems[0]?.detail).toContain('but the anchor recorded');
    // without the anchor it would pass: that is what the anchor is for
    expect(checkChain({ model: MODEL, entries: edited, anchor: { kind: 'absent' } }).report.ok).toBe(true);
  });

  it('deleted middle or oldest records are gaps, one problem per run', () => {
    const entries = chain(6);
    const anchor = anchored(headOf(entries));
    const r = checkChain({ model: MODEL, entries: entries.filter((e) => ![1, 3, 4].includes(e.seq)), anchor }).report;
    expect(r.ok).toBe(false);
    expect(kinds(r.problems)).toEqual([
      ['gap', 1],
      ['gap', 3],
    ]);
    expect(r.problems[1]?.detail).toContain('records 3-4 of 6 are missing');
  });

  it('deleted newest records are truncation, as detectable as an edit', () => {
    const entries = chain(5);
    const anchor = anchored(headOf(entries));
    const r = checkChain({ model: MODEL, entries: entries.slice(0, 3), anchor }).report;
    expect(r.ok).toBe(false);
    expect(kinds(r.problems)).toEqual([['truncated', 5]]);
    expect(r.problems[0]?.detail).toContain('records 4-5 were deleted');
    expect(r.head?.seq).toBe(3);
    const all = checkChain({ model: MODEL, entries: [], anchor }).report;
    expect(kinds(all.problems)).toEqual([['truncated', 5]]);
    expect(all.problems[0]?.detail).toContain('all were deleted');
  });
});

describe('checkChain: misplaced records, legacy keys, bad anchors, tails', () => {
  it('records moved between keys or models, a bad genesis and unreadable bytes are failures', () => {
    const entries = chain(3);
    const anchor = anchored(headOf(entries));
    const r1 = decode(entries[0]?.bytes);
    const copied = entries.map((e) => (e.seq === 2 ? { ...e, bytes: entries[0]?.bytes } : e));
    expect(kinds(checkChain({ model: MODEL, entries: copied, anchor }).report.problems)).toEqual([
      ['changed', 2],
      ['bad-link', 3],
    ]);
    const otherModel = checkChain({ model: 'other-model', entries: chain(1), anchor: { kind: 'none' } }).report;
    expect(otherModel.problems.find((p) => p.kind === 'changed')?.detail).toContain('model "fraud-detector"');
    const badGenesis = entries.map((e) =>
      e.seq === 1 ? { ...e, bytes: encodeRecord({ ...r1, prevHash: 'a'.repeat(64) }) } : e,
    );
    expect(kinds(checkChain({ model: MODEL, entries: badGenesis, anchor }).report.problems)).toEqual([
      ['bad-link', 1],
      ['bad-link', 2],
    ]);
    const unreadable = entries.map((e) => (e.seq === 2 ? { ...e, bytes: undefined } : e));
    expect(kinds(checkChain({ model: MODEL, entries: unreadable, anchor }).report.problems)).toEqual([
      ['unreadable', 2],
    ]);
    // garbage still hashes: the link after it is checked too
    const garbage = entries.map((e) => (e.seq === 2 ? { ...e, bytes: new TextEncoder().encode('nope') } : e));
    expect(kinds(checkChain({ model: MODEL, entries: garbage, anchor }).report.problems)).toEqual([
      ['unreadable', 2],
      ['bad-link', 3],
    ]);
  });

  it('lists legacy keys as unchained warnings and never links them', () => {
    const entries = chain(2);
    const legacy = 'audit/fraud-detector/2026-03-01T10-00-00-000Z-approved-0123456789ab.json';
    const r = checkChain({ model: MODEL, entries, otherKeys: [legacy], anchor: anchored(headOf(entries)) });
    expect(r.report.ok).toBe(true);
    expect(r.report.problems).toEqual([
      expect.objectContaining({ kind: 'unchained', key: legacy, severity: 'warning' }),
    ]);
    expect(r.links).toHaveLength(2);
  });

  it('a malformed anchor fails verification', () => {
    const r = checkChain({ model: MODEL, entries: chain(1), anchor: parseAnchor('{"seq":"x"}') }).report;
    expect(r.ok).toBe(false);
    expect(kinds(r.problems)).toEqual([['anchor-mismatch', undefined]]);
  });

  it('checks only the tail from fromSeq: no gaps below, no link into it', () => {
    const entries = chain(30);
    const anchor = anchored(headOf(entries));
    const tail = entries.filter((e) => e.seq >= 11);
    expect(checkChain({ model: MODEL, entries: tail, anchor, fromSeq: 11 }).report.problems).toEqual([]);
    expect(kinds(checkChain({ model: MODEL, entries: tail, anchor }).report.problems)).toEqual([['gap', 1]]);
  });

  it('classifies failures and warnings', () => {
    expect(['gap', 'changed', 'bad-link', 'anchor-mismatch', 'truncated', 'unreadable'].every(isFailure as never)).toBe(
      true,
    );
    expect(isFailure('unchained')).toBe(false);
    expect(isFailure('unanchored')).toBe(false);
  });
});

describe('anchor tag', () => {
  it('round-trips and rejects what is not {seq, hash}', () => {
    const head = { seq: 7, hash: 'ab'.repeat(32) };
    expect(formatAnchor(head)).toBe(`{"seq":7,"hash":"${'ab'.repeat(32)}"}`);
    expect(parseAnchor(formatAnchor(head))).toEqual({ kind: 'anchored', head });
    expect(parseAnchor(undefined)).toEqual({ kind: 'absent' });
    for (const raw of [
      'nope',
      '{}',
      '{"seq":0,"hash":""}',
      `{"seq":1.5,"hash":"${'a'.repeat(64)}"}`,
      '{"seq":1,"hash":"AB"}',
    ])
      expect(parseAnchor(raw).kind).toBe('invalid');
  });
});

// ----- the writer, against an in-memory bucket and anchor --------------------------------------

class MemoryS3 {
  readonly objects = new Map<string, Uint8Array>();
  puts = 0;
  lostRaces = 0;
  /** Runs once before the next conditional put is applied (to stage a concurrent writer). */
  beforePut: (() => Promise<void>) | undefined;

  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof ListObjectsV2Command) {
      const { Prefix = '', StartAfter = '' } = cmd.input;
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(Prefix) && k > StartAfter).sort();
      return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
    }
    if (cmd instanceof GetObjectCommand) {
      const bytes = this.objects.get(cmd.input.Key ?? '');
      if (!bytes) throw new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'NoSuchKey' });
      return { Body: { transformToByteArray: async () => bytes } };
    }
    if (cmd instanceof PutObjectCommand) {
      const hook = this.beforePut;
      this.beforePut = undefined;
      if (hook) await hook();
      const key = cmd.input.Key ?? '';
      if (cmd.input.IfNoneMatch === '*' && this.objects.has(key)) {
        this.lostRaces++;
        throw new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
          message: 'At least one of the pre-conditions you specified did not hold',
        });
      }
      this.puts++;
      this.objects.set(key, cmd.input.Body as Uint8Array);
      return {};
    }
    throw new Error('unexpected command');
  }
}

class MemoryAnchor implements AuditAnchor {
  state: AnchorState = { kind: 'absent' };
  writes = 0;
  async read(): Promise<AnchorState> {
    return this.state;
  }
  async write(_model: string, head: AuditHead): Promise<boolean> {
    if (this.state.kind === 'no-model') return false;
    this.writes++;
    this.state = { kind: 'anchored', head };
    return true;
  }
}

function memoryTrail(opts: { window?: number } = {}) {
  const s3 = new MemoryS3();
  const anchor = new MemoryAnchor();
  const trail = new AuditTrail({
    s3: s3 as unknown as S3Client,
    bucket: 'b',
    anchor,
    idempotencyWindow: opts.window,
  });
  return { s3, anchor, trail };
}

describe('AuditTrail (in memory)', () => {
  it('chains appends from seq 1, anchors each head, and verifies', async () => {
    const { s3, anchor, trail } = memoryTrail();
    const results = [];
    for (let i = 1; i <= 3; i++) results.push(await trail.append(rec(i), { idempotencyKey: `k${i}` }));
    expect(results.map((r) => [r.seq, r.created, r.anchor])).toEqual([
      [1, true, 'set'],
      [2, true, 'set'],
      [3, true, 'set'],
    ]);
    expect(results[0]?.record.prevHash).toBe(GENESIS_HASH);
    expect(results[1]?.record.prevHash).toBe(results[0]?.hash);
    expect(anchor.state).toEqual({ kind: 'anchored', head: { seq: 3, hash: results[2]?.hash } });
    expect([...s3.objects.keys()].sort()).toEqual([1, 2, 3].map((s) => seqKey(MODEL, s)));
    expect(await trail.verify(MODEL)).toMatchObject({ ok: true, records: 3, problems: [] });
    expect(await trail.championHistory(MODEL)).toEqual(['2']);
  });

  it('a retried append with the same key writes nothing and brings the anchor up', async () => {
    const { s3, anchor, trail } = memoryTrail();
    const first = await trail.append(rec(1), { idempotencyKey: 'wf/run/1' });
    await trail.append(rec(2), { idempotencyKey: 'wf/run/2' });
    anchor.state = { kind: 'anchored', head: { seq: first.seq, hash: first.hash } }; // a crash before anchoring 2
    const again = await trail.append({ ...rec(1), at: '2026-04-01T00:00:00.000Z' }, { idempotencyKey: 'wf/run/1' });
    expect(again).toMatchObject({ seq: 1, created: false, hash: first.hash, anchor: 'set' });
    expect(s3.puts).toBe(2);
    expect(anchor.state).toMatchObject({ kind: 'anchored', head: { seq: 2 } });
  });

  it('looks for the key only in the last idempotencyWindow records', async () => {
    const { s3, trail } = memoryTrail({ window: 2 });
    await trail.append(rec(1), { idempotencyKey: 'old' });
    await trail.append(rec(2), { idempotencyKey: 'b' });
    await trail.append(rec(3), { idempotencyKey: 'c' });
    expect((await trail.append(rec(1), { idempotencyKey: 'old' })).created).toBe(true);
    expect(s3.puts).toBe(4);
  });
});

describe('AuditTrail (in memory): lost races, refusals and bad input', () => {
  it('a lost race (412) re-reads the head and takes the next seq', async () => {
    const { s3, trail } = memoryTrail();
    await trail.append(rec(1), { idempotencyKey: 'a' });
    s3.beforePut = async () => {
      await trail.append(rec(2), { idempotencyKey: 'rival' });
    };
    const mine = await trail.append(rec(3), { idempotencyKey: 'mine' });
    expect(s3.lostRaces).toBe(1);
    expect(mine.seq).toBe(3);
    expect(mine.record.prevHash).toBe(hashBytes(s3.objects.get(seqKey(MODEL, 2)) ?? new Uint8Array()));
    expect(await trail.verify(MODEL)).toMatchObject({ ok: true, records: 3 });
  });

  it('a lost race on a retried key returns the winner, writing nothing', async () => {
    const { s3, trail } = memoryTrail();
    s3.beforePut = async () => {
      await trail.append(rec(1), { idempotencyKey: 'same' });
    };
    const r = await trail.append(rec(1), { idempotencyKey: 'same' });
    expect(r).toMatchObject({ seq: 1, created: false });
    expect(s3.puts).toBe(1);
  });

  it('gives up after maxAttempts lost races', async () => {
    const s3 = new MemoryS3();
    const trail = new AuditTrail({ s3: s3 as unknown as S3Client, bucket: 'b', maxAttempts: 2 });
    const rival = new AuditTrail({ s3: s3 as unknown as S3Client, bucket: 'b' });
    let n = 0;
    const stage = async () => {
      await rival.append(rec(9), { idempotencyKey: `rival-${n++}` });
      if (n < 5) s3.beforePut = stage;
    };
    s3.beforePut = stage;
    await expect(trail.append(rec(1), { idempotencyKey: 'mine' })).rejects.toThrow(/lost the race/);
  });

  it('without a registered model the records are written and left unanchored', async () => {
    const { anchor, trail } = memoryTrail();
    anchor.state = { kind: 'no-model' };
    expect((await trail.append(rec(1), { idempotencyKey: 'a' })).anchor).toBe('no-model');
    const report = await trail.verify(MODEL);
    expect(report.ok).toBe(true);
    expect(kinds(report.problems)).toEqual([['unanchored', 1]]);
    anchor.state = { kind: 'absent' }; // the model gets registered
    expect((await trail.append(rec(2), { idempotencyKey: 'b' })).anchor).toBe('set');
    expect((await trail.verify(MODEL)).problems).toEqual([]);
  });

  it('refuses to extend a truncated tail or a rewritten head (that would erase the evidence)', async () => {
    const { s3, trail } = memoryTrail();
    for (let i = 1; i <= 3; i++) await trail.append(rec(i), { idempotencyKey: `k${i}` });
    const head = s3.objects.get(seqKey(MODEL, 3)) ?? new Uint8Array();
    s3.objects.delete(seqKey(MODEL, 3));
    const err = await trail.append(rec(4), { idempotencyKey: 'k4' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditIntegrityError);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as AuditIntegrityError).problems.map((p) => p.kind)).toEqual(['truncated']);
    expect((err as Error).message).toMatch(
      /the audit trail of fraud-detector fails verification \(seq 3 truncated: .*nothing was appended/,
    );
    expect((err as Error).message).toContain('`mlo audit --model fraud-detector --verify`');
    s3.objects.set(seqKey(MODEL, 3), encodeRecord({ ...decode(head), actor: 'mallory' }));
    await expect(trail.append(rec(4), { idempotencyKey: 'k4' })).rejects.toThrow(/seq 3 changed/);
    await expect(trail.championHistory(MODEL)).rejects.toBeInstanceOf(AuditIntegrityError);
    expect(s3.puts).toBe(3);
  });

  it('rejects model names that are not a safe key prefix and empty idempotency keys', async () => {
    const { trail } = memoryTrail();
    await expect(trail.append(rec(1, { model: 'a/../b' }), { idempotencyKey: 'k' })).rejects.toBeInstanceOf(
      BadInputError,
    );
    await expect(trail.append(rec(1), { idempotencyKey: '' })).rejects.toBeInstanceOf(BadInputError);
  });

  it('treats 412 and 409 conditional failures as lost races, nothing else', () => {
    const e = (status: number, name: string) =>
      new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });
    expect(isLostRace(e(412, 'PreconditionFailed'))).toBe(true);
    expect(isLostRace(e(409, 'ConditionalRequestConflict'))).toBe(true);
    expect(isLostRace(e(403, 'AccessDenied'))).toBe(false);
    expect(isLostRace(new Error('x'))).toBe(false);
  });
});
