/**
 * Global setup of the integration project: the real dev stack must be up. A test that
 * needs Temporal, S3, MLflow or the identity provider and finds none fails here, loudly; it
 * never skips.
 */
import { Connection } from '@temporalio/client';
import { loadConfig } from '../../lib/infra/config';
import { transportOptions } from '../../lib/infra/temporal';
import { createS3Client } from '../../lib/infra/s3';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { loadOidcConfig } from '../../lib/identity/oidc-client';

async function answers(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.ok ? undefined : `answered ${res.status}`;
  } catch (err) {
    return (err as Error).message;
  }
}

export default async function requireStack(): Promise<void> {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const cfg = loadConfig();
  const problems: string[] = [];
  try {
    // GetSystemInfo is the one call mlo's Temporal server answers without a token.
    const conn = await Connection.connect({ ...transportOptions(cfg.temporal), connectTimeout: '5s' });
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
  const mlflow = await answers(`${cfg.mlflow.trackingUri}/health`);
  if (mlflow) problems.push(`MLflow at ${cfg.mlflow.trackingUri}: ${mlflow}`);
  const issuer = loadOidcConfig().issuer;
  const oidc = await answers(`${issuer}/.well-known/openid-configuration`);
  if (oidc) problems.push(`the OIDC provider at ${issuer}: ${oidc}`);
  if (problems.length > 0) {
    throw new Error(
      `The integration tests need the real dev stack, and parts of it are not reachable:\n- ${problems.join('\n- ')}\nRun \`npm run stack -- up\` (or \`npm test\`, which does it for you).`,
    );
  }
}
