/**
 * The audit chain against the real dev stack: versitygw's conditional create, MLflow's
 * `mlo.audit_head` anchor, concurrent writers, retries, and tampering by someone with bucket
 * access (a plain PutObject or DeleteObject, as an attacker would). Every test uses its own
 * model (`audit-test-<random>`) and removes its objects and registered model afterwards.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../cli';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client, getObjectBytes, listKeys } from '../../lib/infra/s3';
import {
  appendAudit,
  AuditIntegrityError,
  AuditTrail,
  decodeRecord,
  encodeRecord,
  MlflowAuditAnchor,
  readAudit,
  seqKey,
  verifiedChampionHistory,
  verifyAudit,
  type AuditRecord,
} from '../../lib/registry/audit';
import { MlflowClient, tagsOf } from '../../lib/registry/mlflow';
import { ModelTag } from '../../lib/registry/tags';

const cfg = loadConfig();
const bucket = cfg.s3.bucket;
const s3 = createS3Client(cfg.s3);
const mlflow = MlflowClient.fromConfig(cfg, { retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 } });
const anchor = new MlflowAuditAnchor(mlflow);
const trail = new AuditTrail({ s3, bucket, anchor });
const models: string[] = [];

afterAll(async () => {
  for (const model of models) {
    for (const { key } of await listKeys(s3, bucket, `audit/${model}/`))
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await mlflow.deleteRegisteredModel(model).catch(() => undefined);
  }
  s3.destroy();
});

/** A fresh model name; registered in MLflow (so the anchor can be set) unless told otherwise. */
async function newModel(register = true): Promise<string> {
  const model = `audit-test-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  models.push(model);
  if (register) await mlflow.createRegisteredModel(model, { tags: { owner: 'mlo-tests' } });
  return model;
}

function rec(model: string, i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    model,
    action: i % 2 ? 'challenger-set' : 'champion-moved',
    actor: i % 2 ? 'mlo' : 'alice@example.com',
    at: new Date(Date.UTC(2026, 2, 1, 10, i)).toISOString(),
    version: String(i),
    ...(i % 2 ? {} : { previousChampion: String(i - 1), newChampion: String(i) }),
    ...(i % 2 ? {} : { decider: { subject: 'u-alice', email: 'alice@example.com' } }),
    workflowId: `promotion/${model}/${i}`,
    ...extra,
  };
}

async function appendN(model: string, n: number) {
  const out = [];
  for (let i = 1; i <= n; i++) out.push(await trail.append(rec(model, i), { idempotencyKey: `wf/${model}/run/${i}` }));
  return out;
}

async function anchorTag(model: string): Promise<string | undefined> {
  return tagsOf(await mlflow.createRegisteredModel(model))[ModelTag.auditHead];
}

const kinds = (problems: { kind: string; seq?: number }[]) => problems.map((p) => [p.kind, p.seq]);

describe('versitygw', () => {
  it('honours If-None-Match: * — a second create of the same key fails with 412 PreconditionFailed', async () => {
    const model = await newModel(false);
    const key = seqKey(model, 1);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }));
    const err = await s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ServiceException);
    expect((err as S3ServiceException).name).toBe('PreconditionFailed');
    expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    expect(new TextDecoder().decode(await getObjectBytes(s3, bucket, key))).toBe('first');
  });
});

describe('AuditTrail against versitygw and MLflow', () => {
  it('appends 3 records at sequence keys, anchors the head in MLflow, and verifies', async () => {
    const model = await newModel();
    const appended = await appendN(model, 3);
    expect(appended.map((a) => [a.seq, a.created, a.anchor])).toEqual([
      [1, true, 'set'],
      [2, true, 'set'],
      [3, true, 'set'],
    ]);
    expect((await listKeys(s3, bucket, `audit/${model}/`)).map((k) => k.key).sort()).toEqual(
      [1, 2, 3].map((s) => seqKey(model, s)),
    );
    expect(JSON.parse((await anchorTag(model)) ?? '')).toEqual({ seq: 3, hash: appended[2]?.hash });
    const stored = decodeRecord(await getObjectBytes(s3, bucket, seqKey(model, 2)));
    expect(stored.ok && stored.record).toMatchObject({
      seq: 2,
      prevHash: appended[0]?.hash,
      idempotencyKey: `wf/${model}/run/2`,
      decider: { subject: 'u-alice', email: 'alice@example.com' },
      actor: 'alice@example.com',
    });
    const report = await verifyAudit(s3, bucket, model, anchor);
    expect(report).toMatchObject({ ok: true, records: 3, head: { seq: 3, hash: appended[2]?.hash }, problems: [] });
    expect(await verifiedChampionHistory(s3, bucket, model, anchor)).toEqual(['2']);
  });

  it('concurrent writers produce a contiguous chain with no lost record', async () => {
    const model = await newModel();
    const writers = [trail, new AuditTrail({ s3: createS3Client(cfg.s3), bucket, anchor })];
    const perWriter = 4;
    const results = await Promise.all(
      writers.map(async (w, wi) => {
        const out = [];
        for (let i = 0; i < perWriter; i++)
          out.push(await w.append(rec(model, 1 + wi, { reason: `w${wi}-${i}` }), { idempotencyKey: `w${wi}/${i}` }));
        return out;
      }),
    );
    writers[1]?.s3.destroy();
    const seqs = results.flat().map((r) => r.seq);
    expect(seqs.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const report = await verifyAudit(s3, bucket, model, anchor);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(8);
    // a slower writer may have anchored an older head last: a warning only, fixed by the next append
    expect(report.problems.every((p) => p.kind === 'unanchored')).toBe(true);
    const { records } = await trail.readVerified(model);
    expect(records.map((r) => r.idempotencyKey).sort()).toEqual(
      ['w0/0', 'w0/1', 'w0/2', 'w0/3', 'w1/0', 'w1/1', 'w1/2', 'w1/3'].sort(),
    );
    await trail.append(rec(model, 9), { idempotencyKey: 'after' });
    expect((await verifyAudit(s3, bucket, model, anchor)).problems).toEqual([]);
  });
});

describe('AuditTrail against versitygw and MLflow: lost races and retries', () => {
  it('a writer that loses the race for a seq (412 from versitygw) retries on the next one', async () => {
    const model = await newModel();
    await appendN(model, 1);
    const racing = createS3Client(cfg.s3);
    const statuses: number[] = [];
    let staged = false;
    racing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand' && !staged) {
          staged = true; // another writer takes seq 2 between this writer's read and its create
          await trail.append(rec(model, 2), { idempotencyKey: 'rival' });
        }
        try {
          return await next(args);
        } catch (err) {
          if (err instanceof S3ServiceException) statuses.push(err.$metadata.httpStatusCode ?? 0);
          throw err;
        }
      },
      { step: 'initialize', name: 'stageRival' },
    );
    try {
      const mine = await new AuditTrail({ s3: racing, bucket, anchor }).append(rec(model, 3), {
        idempotencyKey: 'mine',
      });
      expect(statuses).toEqual([412]);
      expect(mine).toMatchObject({ seq: 3, created: true, anchor: 'set' });
    } finally {
      racing.destroy();
    }
    expect(await verifyAudit(s3, bucket, model, anchor)).toMatchObject({ ok: true, records: 3, problems: [] });
  });

  it('a retried append with the same idempotency key writes nothing new', async () => {
    const model = await newModel();
    const first = await trail.append(rec(model, 1), { idempotencyKey: 'wf-1/run-1/activity-7' });
    await trail.append(rec(model, 2), { idempotencyKey: 'wf-1/run-1/activity-8' });
    const retry = await trail.append(
      { ...rec(model, 1), at: new Date().toISOString() }, // a retried activity stamps a new time
      { idempotencyKey: 'wf-1/run-1/activity-7' },
    );
    expect(retry).toMatchObject({ seq: 1, created: false, hash: first.hash, uri: first.uri });
    expect(await listKeys(s3, bucket, `audit/${model}/`)).toHaveLength(2);
    // the compatible appendAudit: the same record twice lands once
    const again = rec(model, 3);
    const u1 = await appendAudit(s3, bucket, again, { anchor });
    const u2 = await appendAudit(s3, bucket, again, { anchor });
    expect(u2).toBe(u1);
    expect(u1).toBe(`s3://${bucket}/${seqKey(model, 3)}`);
    expect((await verifyAudit(s3, bucket, model, anchor)).problems).toEqual([]);
  });
});

describe('AuditTrail against versitygw and MLflow: tampering and gaps', () => {
  it("detects record 2's bytes overwritten without the condition", async () => {
    const model = await newModel();
    await appendN(model, 3);
    const key = seqKey(model, 2);
    const original = decodeRecord(await getObjectBytes(s3, bucket, key));
    if (!original.ok) throw new Error(original.detail);
    // as the writer would encode it: only the broken link shows it
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: encodeRecord({ ...original.record, actor: 'mallory', newChampion: '1' }),
      }),
    );
    let report = await verifyAudit(s3, bucket, model, anchor);
    expect(report.ok).toBe(false);
    expect(kinds(report.problems)).toEqual([['bad-link', 3]]);
    // a hand edit
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify({ ...original.record, actor: 'mallory' }, null, 2),
      }),
    );
    report = await verifyAudit(s3, bucket, model, anchor);
    expect(kinds(report.problems)).toEqual([
      ['changed', 2],
      ['bad-link', 3],
    ]);
    const err = await verifiedChampionHistory(s3, bucket, model, anchor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditIntegrityError);
    expect((err as Error).message).toContain(`the audit trail of ${model} fails verification (seq 2 changed`);
    expect((err as Error).message).toContain('Investigate the bucket before any rollback');
    expect((err as Error).message).toContain(`\`mlo audit --model ${model} --verify\``);
  });

  it('detects a rewritten newest record through the anchor, and refuses to append after it', async () => {
    const model = await newModel();
    await appendN(model, 3);
    const key = seqKey(model, 3);
    const original = decodeRecord(await getObjectBytes(s3, bucket, key));
    if (!original.ok) throw new Error(original.detail);
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: encodeRecord({ ...original.record, newChampion: '1' }) }),
    );
    expect(kinds((await verifyAudit(s3, bucket, model, anchor)).problems)).toEqual([['changed', 3]]);
    await expect(trail.append(rec(model, 4), { idempotencyKey: 'next' })).rejects.toBeInstanceOf(AuditIntegrityError);
    expect(await listKeys(s3, bucket, `audit/${model}/`)).toHaveLength(3);
  });

  it('detects a deleted middle record as a gap', async () => {
    const model = await newModel();
    await appendN(model, 3);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: seqKey(model, 2) }));
    const report = await verifyAudit(s3, bucket, model, anchor);
    expect(report.ok).toBe(false);
    expect(kinds(report.problems)).toEqual([['gap', 2]]);
    await expect(verifiedChampionHistory(s3, bucket, model, anchor)).rejects.toThrow(/seq 2 gap/);
  });
});

describe('AuditTrail against versitygw and MLflow: the CLI, truncation, unanchored and legacy records', () => {
  it('`mlo audit --verify` exits 0 on an intact chain and 2 naming the problem after a record is deleted', async () => {
    const model = await newModel();
    await appendN(model, 3);
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    try {
      expect(await runCli(['audit', '--model', model, '--verify'])).toBe(0);
      expect(out.join('\n')).toContain(`${model}: 3 record(s), head seq 3`);
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: seqKey(model, 3) }));
      out.length = 0;
      expect(await runCli(['audit', '--model', model, '--verify'])).toBe(2);
      expect(out.join('\n')).toContain('FAILS verification');
      expect(out.join('\n')).toMatch(/error +(seq 3 )?truncated/);
    } finally {
      log.mockRestore();
    }
  });

  it('detects deleted newest records as truncation (via the anchor), and refuses to append after it', async () => {
    const model = await newModel();
    await appendN(model, 4);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: seqKey(model, 4) }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: seqKey(model, 3) }));
    const report = await verifyAudit(s3, bucket, model, anchor);
    expect(report.ok).toBe(false);
    expect(kinds(report.problems)).toEqual([['truncated', 4]]);
    expect(report.head?.seq).toBe(2);
    // an append would fill seq 3 and move the anchor, erasing the evidence: it refuses
    const err = await trail.append(rec(model, 5), { idempotencyKey: 'next' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditIntegrityError);
    expect((err as AuditIntegrityError).problems.map((p) => p.kind)).toEqual(['truncated']);
    expect(await listKeys(s3, bucket, `audit/${model}/`)).toHaveLength(2);
    expect(JSON.parse((await anchorTag(model)) ?? '{}')).toMatchObject({ seq: 4 });
  });

  it('before the model is registered the records are unanchored; the first append after registration anchors', async () => {
    const model = await newModel(false);
    const first = await trail.append(rec(model, 1), { idempotencyKey: 'a' });
    expect(first.anchor).toBe('no-model');
    let report = await verifyAudit(s3, bucket, model, anchor);
    expect(report).toMatchObject({ ok: true, records: 1, anchor: { kind: 'no-model' } });
    expect(kinds(report.problems)).toEqual([['unanchored', 1]]);
    await mlflow.createRegisteredModel(model);
    expect((await trail.append(rec(model, 2), { idempotencyKey: 'b' })).anchor).toBe('set');
    report = await verifyAudit(s3, bucket, model, anchor);
    expect(report).toMatchObject({ ok: true, records: 2, problems: [] });
  });

  it('legacy records are listed as unchained, shown by readAudit, never used for lineage', async () => {
    const model = await newModel();
    const legacy: AuditRecord = rec(model, 4, { at: '2026-01-01T00:00:00.000Z' });
    const legacyKey = `audit/${model}/2026-01-01T00-00-00-000Z-champion-moved-0123456789ab.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: legacyKey, Body: `${JSON.stringify(legacy)}\n` }));
    await appendN(model, 2);
    const report = await verifyAudit(s3, bucket, model, anchor);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'unchained', key: legacyKey })]);
    expect(await verifiedChampionHistory(s3, bucket, model, anchor)).toEqual(['2']);
    expect((await readAudit(s3, bucket, model)).map((r) => r.version)).toEqual(['4', '1', '2']);
  });
});
