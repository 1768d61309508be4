/**
 * The audit trail: one immutable JSON object per event (decision, refusal, alias move) under
 * `audit/<model>/`, keyed by time and content so records sort chronologically and are never
 * overwritten. MLflow keeps no history of its aliases; this does.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { hashOf } from '../infra/hash';
import { getObjectBytes, listKeys, putObject, s3Uri } from '../infra/s3';

export type AuditAction =
  | 'challenger-set'
  | 'approved'
  | 'rejected'
  | 'expired'
  | 'refused'
  | 'champion-moved'
  | 'challenger-removed'
  | 'rollback-requested'
  | 'rollback';

export type AuditRecord = {
  model: string;
  action: AuditAction;
  /** Who acted: a reviewer, the requester, or `mlo` for automatic steps. */
  actor: string;
  at: string;
  version?: string;
  previousChampion?: string | null;
  newChampion?: string;
  reason?: string;
  emergency?: boolean;
  evidence?: Record<string, string>;
  workflowId: string;
  workflowRunId?: string;
};

function auditPrefix(model: string): string {
  return `audit/${model}/`;
}

/** Appends a record; the same record (e.g. from a retried activity) lands on the same key. */
export async function appendAudit(s3: S3Client, bucket: string, record: AuditRecord): Promise<string> {
  const at = record.at.replace(/[:.]/g, '-');
  const key = `${auditPrefix(record.model)}${at}-${record.action}-${hashOf(record, 12)}.json`;
  await putObject(s3, bucket, key, `${JSON.stringify(record)}\n`, { contentType: 'application/json' });
  return s3Uri(bucket, key);
}

export async function readAudit(s3: S3Client, bucket: string, model: string): Promise<AuditRecord[]> {
  const keys = (await listKeys(s3, bucket, auditPrefix(model))).map((k) => k.key).sort();
  const out: AuditRecord[] = [];
  for (const key of keys)
    out.push(JSON.parse(Buffer.from(await getObjectBytes(s3, bucket, key)).toString('utf8')) as AuditRecord);
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** Versions that held `champion`, oldest first, from the trail's alias moves. */
export function championHistory(records: AuditRecord[]): string[] {
  const out: string[] = [];
  for (const r of records)
    if ((r.action === 'champion-moved' || r.action === 'rollback') && r.newChampion) out.push(r.newChampion);
  return out;
}
