/**
 * What every scenario must leave behind, read from the real services directly (never through
 * the suite's fault proxies): at most one new model version, the expected aliases, no trainer
 * process of the suite, and an audit trail that verifies and agrees with MLflow's `champion`.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Config } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { MlflowClient } from '../../lib/registry/mlflow';
import { MlflowAuditAnchor, readAudit, verifyAudit, describeProblems } from '../../lib/registry/audit';
import { registryMlflowCredentials } from '../../lib/stack/secrets';
import { suiteTrainers } from './procs';
import { sleep } from './runs';

export type Check = { name: string; ok: boolean; detail: string };

export class Inspector {
  readonly mlflow: MlflowClient;
  readonly s3: S3Client;

  constructor(readonly cfg: Config) {
    const credentials = registryMlflowCredentials(cfg.stack);
    if (!credentials) throw new Error(`no registry credentials in ${cfg.stack.dir}/secrets.json`);
    this.mlflow = new MlflowClient({ trackingUri: cfg.mlflow.trackingUri, credentials });
    this.s3 = createS3Client(cfg.s3);
  }

  async versions(model: string): Promise<string[]> {
    const page = await this.mlflow.searchModelVersions({ filter: `name='${model}'` });
    return page.items.map((v) => v.version).sort((a, b) => Number(a) - Number(b));
  }

  async alias(model: string, alias: string): Promise<string | undefined> {
    return (await this.mlflow.getModelVersionByAlias(model, alias))?.version;
  }

  /** Checkpoint steps written under the model's checkpoint prefix, newest last. */
  async checkpointSteps(model: string): Promise<number[]> {
    const out = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.cfg.s3.bucket, Prefix: `checkpoints/${model}/` }),
    );
    return (out.Contents ?? [])
      .map((o) => /step-(\d+)\.txt$/.exec(o.Key ?? '')?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  close(): void {
    this.s3.destroy();
  }
}

/** At most one new version; exactly the candidate when the run reports one. */
export async function checkVersions(ins: Inspector, model: string, candidate: string | undefined): Promise<Check> {
  const versions = await ins.versions(model);
  const ok = versions.length <= 1 && (candidate === undefined || versions[0] === candidate);
  return { name: 'versions', ok, detail: `versions [${versions.join(', ')}], run's candidate ${candidate ?? 'none'}` };
}

/** `champion` on the promoted candidate, no `challenger` left. */
export async function checkAliases(ins: Inspector, model: string, champion: string | undefined): Promise<Check> {
  const [c, ch] = await Promise.all([ins.alias(model, 'champion'), ins.alias(model, 'challenger')]);
  return {
    name: 'aliases',
    ok: c === champion && ch === undefined,
    detail: `champion ${c ?? 'none'} (expected ${champion ?? 'none'}), challenger ${ch ?? 'none'}`,
  };
}

/** No trainer process of the suite is left (a few seconds' grace for one that is being stopped). */
export async function checkNoTrainers(tmpDir: string, graceMs = 10_000): Promise<Check> {
  const deadline = Date.now() + graceMs;
  let left = suiteTrainers(tmpDir);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(500);
    left = suiteTrainers(tmpDir);
  }
  return {
    name: 'trainers',
    ok: left.length === 0,
    detail: left.length === 0 ? 'none left' : left.map((p) => `pid ${p.pid}: ${p.cmdline.slice(0, 120)}`).join('; '),
  };
}

/**
 * The chain verifies against its MLflow anchor, it records exactly the promotions that happened
 * (one `champion-moved` to the champion) and its newest champion is MLflow's.
 */
export async function checkAudit(ins: Inspector, model: string): Promise<Check> {
  const report = await verifyAudit(ins.s3, ins.cfg.s3.bucket, model, new MlflowAuditAnchor(ins.mlflow));
  const records = await readAudit(ins.s3, ins.cfg.s3.bucket, model);
  const moves = records.filter((r) => r.action === 'champion-moved' || r.action === 'rollback');
  const champion = await ins.alias(model, 'champion');
  const last = moves.at(-1)?.newChampion;
  const problems = report.problems.filter((p) => p.severity === 'error');
  const ok = report.ok && problems.length === 0 && last === champion && moves.length === (champion ? 1 : 0);
  const detail =
    `${records.length} records [${records.map((r) => r.action).join(', ')}]; ` +
    `audited champion ${last ?? 'none'} vs MLflow ${champion ?? 'none'}` +
    (problems.length > 0 ? `; chain: ${describeProblems(problems)}` : '');
  return { name: 'audit', ok, detail };
}
