/**
 * The audit trail in S3: the one writer of each model's chain (AuditTrail.append), its
 * verification against the anchor, and lineage read only from a verified chain.
 *
 * Writing: read the anchor, list the chain, read and check the tail (the last records and every
 * record past the anchor), then create record head+1 with `If-None-Match: *`, so no record is
 * ever overwritten. A concurrent writer that won the seq answers 412 (409 on AWS while its write
 * is in flight): re-read and retry, a bounded number of times. A retried append with the same
 * idempotency key finds its record in the tail and writes nothing new. After the write the
 * anchor moves to the new head.
 *
 * The writer refuses to extend a tail that fails verification: appending after the newest
 * records were deleted, or after the head was rewritten, and then moving the anchor would erase
 * the evidence.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mapBounded } from '../../core/concurrency';
import { BadInputError } from '../../core/errors';
import { hashOf } from '../../infra/hash';
import { isNotFound, s3Uri } from '../../infra/s3';
import type { AuditAnchor } from './anchor';
import {
  AUDIT_FORMAT,
  auditPrefix,
  encodeRecord,
  GENESIS_HASH,
  hashBytes,
  isAuditModelName,
  parseSeqKey,
  seqKey,
  type AuditHead,
  type AuditRecord,
  type ChainedAuditRecord,
} from './record';
import {
  checkChain,
  describeProblems,
  type AnchorState,
  type AuditProblem,
  type AuditReport,
  type ChainEntry,
  type ChainLink,
} from './verify';

/** The audit trail of a model fails verification; nothing may be derived from it or appended to it. */
export class AuditIntegrityError extends BadInputError {
  constructor(
    readonly model: string,
    readonly problems: AuditProblem[],
    doing: string,
  ) {
    const errors = describeProblems(problems.filter((p) => p.severity === 'error'));
    super(
      `the audit trail of ${model} fails verification (${errors}); ${doing}. ` +
        `Investigate the bucket before any rollback — \`mlo audit --model ${model} --verify\``,
    );
    this.name = 'AuditIntegrityError';
  }
}

/** What an append did. */
export type AppendResult = {
  /** `s3://bucket/audit/<model>/<seq>.json` */
  uri: string;
  key: string;
  seq: number;
  /** SHA-256 hex of the record's stored bytes. */
  hash: string;
  record: ChainedAuditRecord;
  /** False when a record with the same idempotency key was already in the tail (nothing written). */
  created: boolean;
  /**
   * The anchor after the append: `set` (moved to this append's head), `current` (it already named
   * this head or a newer one), `no-model` (the registered model does not exist: unanchored),
   * `none` (the trail has no anchor).
   */
  anchor: 'set' | 'current' | 'no-model' | 'none';
};

export type AuditTrailOptions = {
  s3: S3Client;
  bucket: string;
  /** Where the head is anchored; without one the trail is unanchored (verification warns). */
  anchor?: AuditAnchor;
  /** How many of the newest records an append checks for its idempotency key. Default 20. */
  idempotencyWindow?: number;
  /** Appends that lose the race for a seq retry up to this many attempts in all. Default 10. */
  maxAttempts?: number;
  /** Parallel object reads while verifying. Default 8. */
  readConcurrency?: number;
};

const MAX_IDEMPOTENCY_KEY = 512;

/**
 * A model's audit chain in S3: the only writer of chain records, their verifier, and lineage
 * from verified records. One instance serves every model of the bucket.
 */
export class AuditTrail {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly anchor: AuditAnchor | undefined;
  private readonly window: number;
  private readonly maxAttempts: number;
  private readonly concurrency: number;

  constructor(opts: AuditTrailOptions) {
    this.s3 = opts.s3;
    this.bucket = opts.bucket;
    this.anchor = opts.anchor;
    this.window = Math.max(1, opts.idempotencyWindow ?? 20);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 10);
    this.concurrency = Math.max(1, opts.readConcurrency ?? 8);
  }

  /**
   * Appends a record to its model's chain and anchors the new head. Idempotent: when one of the
   * last `idempotencyWindow` records carries `idempotencyKey`, returns it and writes nothing
   * (the anchor is still brought up to the head). Throws AuditIntegrityError when the tail fails
   * verification, and an Error when `maxAttempts` appends in a row lost the race for a seq.
   */
  async append(record: AuditRecord, opts: { idempotencyKey: string }): Promise<AppendResult> {
    const model = checkedModel(record.model);
    const idempotencyKey = opts.idempotencyKey;
    if (!idempotencyKey || idempotencyKey.length > MAX_IDEMPOTENCY_KEY)
      throw new BadInputError(`an audit record needs an idempotency key of 1-${MAX_IDEMPOTENCY_KEY} characters`);

    for (let attempt = 1; ; attempt++) {
      const { anchorState, newest, links } = await this.verifiedTail(model);
      const head = links.at(-1);
      const existing = links.slice(-this.window).find((l) => l.record.idempotencyKey === idempotencyKey);
      if (existing && head)
        return this.result(
          existing,
          false,
          await this.moveAnchor(model, anchorState, { seq: head.seq, hash: head.hash }),
        );

      const chained: ChainedAuditRecord = {
        ...record,
        v: AUDIT_FORMAT,
        seq: newest + 1,
        prevHash: head?.hash ?? GENESIS_HASH,
        idempotencyKey,
      };
      const link = await this.create(chained, attempt);
      if (!link) {
        await sleep(Math.round(Math.random() * 25 * attempt));
        continue;
      }
      return this.result(link, true, await this.moveAnchor(model, anchorState, { seq: link.seq, hash: link.hash }));
    }
  }

  /**
   * Reads the anchor, lists the chain and checks its tail: the last `idempotencyWindow` records
   * and every record past the anchor. AuditIntegrityError when the tail fails verification.
   */
  private async verifiedTail(model: string): Promise<{ anchorState: AnchorState; newest: number; links: ChainLink[] }> {
    // The anchor first: it only ever names records already written, so the listing that follows
    // sees at least that far unless records were deleted.
    const anchorState = await this.readAnchor(model);
    const anchoredSeq = anchorState.kind === 'anchored' ? anchorState.head.seq : undefined;
    const startAfter = anchoredSeq === undefined ? 0 : Math.max(0, anchoredSeq - this.window);
    const seqs = (await this.listChain(model, startAfter)).seqs;
    const newest = seqs.at(-1) ?? 0;
    const fromSeq = Math.max(1, Math.min(newest - this.window + 1, anchoredSeq ?? Infinity));
    const entries = await this.readEntries(
      model,
      seqs.filter((s) => s >= fromSeq),
    );
    const { report, links } = checkChain({ model, entries, anchor: anchorState, fromSeq });
    if (!report.ok) throw new AuditIntegrityError(model, report.problems, 'nothing was appended');
    return { anchorState, newest, links };
  }

  /**
   * Creates the record at its seq's key, never overwriting: its link, or undefined when a
   * concurrent writer won that seq (an Error once `maxAttempts` attempts lost in a row).
   */
  private async create(chained: ChainedAuditRecord, attempt: number): Promise<ChainLink | undefined> {
    const model = chained.model;
    const key = seqKey(model, chained.seq);
    const bytes = encodeRecord(chained);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      );
    } catch (err) {
      if (!isLostRace(err)) throw err;
      if (attempt >= this.maxAttempts)
        throw new Error(
          `the audit trail of ${model}: ${attempt} appends in a row lost the race for the next record ` +
            'to concurrent writers; nothing was appended, try again',
          { cause: err },
        );
      return undefined;
    }
    return { key, seq: chained.seq, hash: hashBytes(bytes), record: chained };
  }

  /** Verifies the whole chain of the model against the anchor. */
  async verify(model: string): Promise<AuditReport> {
    return (await this.check(checkedModel(model))).report;
  }

  /** The chain's records, oldest first, once the chain verifies; AuditIntegrityError otherwise. */
  async readVerified(model: string): Promise<{ records: ChainedAuditRecord[]; report: AuditReport }> {
    const { report, links } = await this.check(checkedModel(model));
    if (!report.ok) throw new AuditIntegrityError(model, report.problems, 'no lineage can be read from it');
    return { records: links.map((l) => l.record), report };
  }

  /** Versions that held `champion`, oldest first, from the verified chain only. */
  async championHistory(model: string): Promise<string[]> {
    return championHistory((await this.readVerified(model)).records);
  }

  private async check(model: string) {
    const anchorState = await this.readAnchor(model);
    const { seqs, otherKeys } = await this.listChain(model, 0);
    const entries = await this.readEntries(model, seqs);
    return checkChain({ model, entries, otherKeys, anchor: anchorState });
  }

  private async readAnchor(model: string): Promise<AnchorState> {
    return this.anchor ? this.anchor.read(model) : { kind: 'none' };
  }

  /**
   * Moves the anchor to `head` unless it is already there or further: re-reads it right before
   * writing, so a slower writer rarely moves it back (if it does, verification warns
   * `unanchored` and the next append re-anchors).
   */
  private async moveAnchor(model: string, before: AnchorState, head: AuditHead): Promise<AppendResult['anchor']> {
    if (!this.anchor) return 'none';
    if (before.kind === 'anchored' && before.head.seq >= head.seq) return 'current';
    const now = await this.anchor.read(model);
    if (now.kind === 'no-model') return 'no-model';
    if (now.kind === 'anchored' && now.head.seq >= head.seq) return 'current';
    return (await this.anchor.write(model, head)) ? 'set' : 'no-model';
  }

  private result(link: ChainLink, created: boolean, anchor: AppendResult['anchor']): AppendResult {
    return {
      uri: s3Uri(this.bucket, link.key),
      key: link.key,
      seq: link.seq,
      hash: link.hash,
      record: link.record,
      created,
      anchor,
    };
  }

  /** The chain's seqs (ascending) after `startAfter`, and every other key under the prefix. */
  private async listChain(model: string, startAfter: number): Promise<{ seqs: number[]; otherKeys: string[] }> {
    const prefix = auditPrefix(model);
    const seqs: number[] = [];
    const otherKeys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ContinuationToken: token,
          StartAfter: token || startAfter < 1 ? undefined : seqKey(model, startAfter),
        }),
      );
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        const seq = parseSeqKey(model, o.Key);
        if (seq === undefined) otherKeys.push(o.Key);
        else seqs.push(seq);
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return { seqs: seqs.sort((a, b) => a - b), otherKeys };
  }

  private async readEntries(model: string, seqs: number[]): Promise<ChainEntry[]> {
    // checkChain orders the entries by seq, so the order reads finish in does not matter.
    return mapBounded(seqs, this.concurrency, async (seq) => {
      const key = seqKey(model, seq);
      return { key, seq, bytes: await getBytes(this.s3, this.bucket, key) };
    });
  }
}

/** Verifies the model's chain; with no anchor the report warns that the trail is unanchored. */
export async function verifyAudit(
  s3: S3Client,
  bucket: string,
  model: string,
  anchor: AuditAnchor | undefined,
): Promise<AuditReport> {
  return new AuditTrail({ s3, bucket, anchor }).verify(model);
}

/**
 * Versions that held `champion`, oldest first, from the verified chain only (legacy records are
 * never used). Throws AuditIntegrityError naming the problems when the chain fails verification.
 */
export async function verifiedChampionHistory(
  s3: S3Client,
  bucket: string,
  model: string,
  anchor: AuditAnchor | undefined,
): Promise<string[]> {
  return new AuditTrail({ s3, bucket, anchor }).championHistory(model);
}

/** Versions that held `champion`, oldest first, from the records' alias moves, in the given order. */
export function championHistory(records: AuditRecord[]): string[] {
  const out: string[] = [];
  for (const r of records)
    if ((r.action === 'champion-moved' || r.action === 'rollback') && r.newChampion) out.push(r.newChampion);
  return out;
}

/**
 * Appends a record to the model's chain; returns its S3 URI. Without `idempotencyKey` the key is
 * the record's content hash, so the same record appended twice lands once. Without `anchor` the
 * trail stays unanchored. Prefer AuditTrail.append with a key stable across activity retries.
 */
export async function appendAudit(
  s3: S3Client,
  bucket: string,
  record: AuditRecord,
  opts: { anchor?: AuditAnchor; idempotencyKey?: string } = {},
): Promise<string> {
  const trail = new AuditTrail({ s3, bucket, anchor: opts.anchor });
  const idempotencyKey = opts.idempotencyKey ?? `content:${hashOf(record, 64)}`;
  return (await trail.append(record, { idempotencyKey })).uri;
}

/**
 * Every record under `audit/<model>/` (chain records and legacy ones), sorted by `at`, for
 * display. Unverified: never derive lineage from it (use verifiedChampionHistory).
 */
export async function readAudit(s3: S3Client, bucket: string, model: string): Promise<AuditRecord[]> {
  const prefix = auditPrefix(model);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  const read = await mapBounded(keys, 8, async (key) => {
    const bytes = await getBytes(s3, bucket, key);
    return bytes ? { key, record: JSON.parse(new TextDecoder().decode(bytes)) as AuditRecord } : undefined;
  });
  return read
    .filter((x) => x !== undefined)
    .sort(displayOrder)
    .map((x) => x.record);
}

function checkedModel(model: string): string {
  if (!isAuditModelName(model))
    throw new BadInputError(
      `"${model}" cannot name an audit trail (letters, digits, ".", "_" or "-", starting with a letter or digit)`,
    );
  return model;
}

/** The object's bytes, or undefined when it does not exist (any other failure throws). */
async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!out.Body) return new Uint8Array();
    return await out.Body.transformToByteArray();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A conditional create lost to another writer: 412, or 409 while the other write is in flight (AWS). */
export function isLostRace(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  const status = err.$metadata.httpStatusCode;
  return (
    status === 412 || status === 409 || err.name === 'PreconditionFailed' || err.name === 'ConditionalRequestConflict'
  );
}

/** By `at`, then seq (legacy records have none), then key, as reads finish in any order. */
function displayOrder(a: { key: string; record: AuditRecord }, b: { key: string; record: AuditRecord }): number {
  if (a.record.at < b.record.at) return -1;
  if (a.record.at > b.record.at) return 1;
  const seq = (r: AuditRecord) => (r as Partial<ChainedAuditRecord>).seq ?? 0;
  return seq(a.record) - seq(b.record) || (a.key < b.key ? -1 : 1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
