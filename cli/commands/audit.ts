/**
 * `mlo audit --model m`: the model's audit trail from S3 (alias moves, approvals, rejections,
 * expiries, refusals, rollbacks), oldest first. `--verify` checks the hash chain against its anchor
 * in MLflow and reports every gap, change or truncation.
 */
import { loadConfig, s3Where } from '../../lib/infra/config';
import { EXIT_CODES, UnreachableError, type ExitCode } from '../../lib/core/errors';
import {
  describeProblems,
  MlflowAuditAnchor,
  readAudit,
  verifyAudit,
  type AuditRecord,
  type AuditReport,
} from '../../lib/registry/audit';
import { MlflowClient } from '../../lib/registry/mlflow';
import type { Config } from '../../lib/infra/config';
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
  usage: 'mlo audit --model <name> [--verify] [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model whose trail to show (audit/<model>/ in the bucket)' },
    {
      name: 'verify',
      description: 'check the hash chain and its MLflow anchor; exit 2 on any gap, change or truncation',
    },
    JSON_FLAG,
  ],
  details: [
    '--json prints the records as an array (lib/registry/audit AuditRecord), oldest first; with --verify, the report.',
  ],
  async run(args) {
    noPositionals(args, 'audit');
    const model = checkModelName(requireFlag(args, 'model', 'audit', 'fraud-detector'));
    const cfg = loadConfig();
    if (boolFlag(args, 'verify')) return verifyCommand(cfg, model, boolFlag(args, 'json'));
    const s3 = createS3Client(cfg.s3);
    let records: AuditRecord[];
    try {
      records = await readAudit(s3, cfg.s3.bucket, model);
    } catch (err) {
      if (isConnectError(err))
        throw new UnreachableError('S3', s3Where(cfg.s3), err instanceof Error ? err.message || err.name : String(err));
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

/** `mlo audit --verify`: exit 0 when the chain verifies (warnings allowed), 2 when it does not. */
async function verifyCommand(cfg: Config, model: string, json: boolean): Promise<ExitCode> {
  const s3 = createS3Client(cfg.s3);
  let report: AuditReport;
  try {
    report = await verifyAudit(s3, cfg.s3.bucket, model, new MlflowAuditAnchor(MlflowClient.fromConfig(cfg)));
  } catch (err) {
    if (isConnectError(err))
      throw new UnreachableError('S3', s3Where(cfg.s3), err instanceof Error ? err.message || err.name : String(err));
    throw err;
  } finally {
    s3.destroy();
  }
  if (json) console.log(JSON.stringify(report, null, 2));
  else {
    const head = report.head ? `head seq ${report.head.seq} (${report.head.hash.slice(0, 12)}…)` : 'no chained records';
    console.log(`${model}: ${report.records} record(s), ${head}: ${report.ok ? 'verified' : 'FAILS verification'}`);
    for (const p of report.problems)
      console.log(`  ${p.severity === 'error' ? 'error  ' : 'warning'} ${describeProblems([p])}`);
  }
  return report.ok ? EXIT_CODES.ok : EXIT_CODES.badInput;
}
