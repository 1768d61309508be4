/**
 * `mlo audit --model m`: the model's audit trail from S3 (alias moves, approvals, rejections,
 * expiries, refusals, rollbacks), oldest first.
 */
import { loadConfig } from '../../lib/infra/config';
import { EXIT_CODES, UnreachableError } from '../../lib/core/errors';
import { readAudit, type AuditRecord } from '../../lib/registry/audit';
import { createS3Client } from '../../lib/infra/s3';
import { boolFlag } from '../args';
import type { Command } from '../command';
import { checkModelName, isConnectError, JSON_FLAG, noPositionals, requireFlag } from '../context';
import { table } from '../render';

/** One table row per record: when, what, who, which version, the champion move, why, where. */
export function auditRows(records: AuditRecord[]): string[][] {
  return records.map((r) => [
    r.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    `${r.action}${r.emergency ? ' (emergency)' : ''}`,
    r.actor,
    r.version ?? '',
    r.newChampion ? `${r.previousChampion ?? 'none'} → ${r.newChampion}` : '',
    (r.reason ?? '').replace(/\s+/g, ' '),
    r.workflowId,
  ]);
}

export const auditCommand: Command = {
  name: 'audit',
  summary: "show a model's audit trail: alias moves, approvals, rejections, refusals (oldest first)",
  usage: 'mlo audit --model <name> [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model whose trail to show (audit/<model>/ in the bucket)' },
    JSON_FLAG,
  ],
  details: ['--json prints the records as an array (lib/audit.ts AuditRecord), oldest first.'],
  async run(args) {
    noPositionals(args, 'audit');
    const model = checkModelName(requireFlag(args, 'model', 'audit', 'fraud-detector'));
    const cfg = loadConfig();
    const s3 = createS3Client(cfg.s3);
    let records: AuditRecord[];
    try {
      records = await readAudit(s3, cfg.s3.bucket, model);
    } catch (err) {
      if (isConnectError(err))
        throw new UnreachableError('S3', cfg.s3.endpoint, err instanceof Error ? err.message || err.name : String(err));
      throw err;
    } finally {
      s3.destroy();
    }
    if (boolFlag(args, 'json')) {
      console.log(JSON.stringify(records, null, 2));
      return EXIT_CODES.ok;
    }
    if (records.length === 0) {
      console.log(`no audit records for ${model} in s3://${cfg.s3.bucket}/audit/${model}/`);
      return EXIT_CODES.ok;
    }
    console.log(
      table(['AT (UTC)', 'ACTION', 'ACTOR', 'VERSION', 'CHAMPION', 'REASON', 'WORKFLOW'], auditRows(records)).join(
        '\n',
      ),
    );
    return EXIT_CODES.ok;
  },
};
