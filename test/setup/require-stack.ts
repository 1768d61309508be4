/**
 * Global setup of the integration project: the real dev stack must be up. A test that
 * needs Temporal, S3 or MLflow and finds none fails here, loudly; it never skips.
 */
import { Connection } from '@temporalio/client';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { HeadBucketCommand } from '@aws-sdk/client-s3';

export default async function requireStack(): Promise<void> {
  const cfg = loadConfig();
  const problems: string[] = [];
  try {
    const conn = await Connection.connect({ address: cfg.temporal.address, connectTimeout: '5s' });
    try {
      await conn.workflowService.getSystemInfo({});
    } finally {
      await conn.close();
    }
  } catch (err) {
    problems.push(`Temporal at ${cfg.temporal.address}: ${(err as Error).message}`);
  }
  const s3 = createS3Client(cfg.s3);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: cfg.s3.bucket }));
  } catch (err) {
    problems.push(`S3 bucket ${cfg.s3.bucket} at ${cfg.s3.endpoint}: ${(err as Error).name} ${(err as Error).message}`);
  } finally {
    s3.destroy();
  }
  try {
    const res = await fetch(`${cfg.mlflow.trackingUri}/health`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) problems.push(`MLflow at ${cfg.mlflow.trackingUri}: /health answered ${res.status}`);
  } catch (err) {
    problems.push(`MLflow at ${cfg.mlflow.trackingUri}: ${(err as Error).message}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `The integration tests need the real dev stack, and parts of it are not reachable:\n- ${problems.join('\n- ')}\nRun \`npm run stack -- up\` (or \`npm test\`, which does it for you).`,
    );
  }
}
