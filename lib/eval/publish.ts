/**
 * Publishing a report: its files under a content-addressed S3 prefix
 * (`reports/<model>/<candidate version>/<hash of inputs>/<stage>/…`, so a retry rewrites the same
 * objects), the same files as artifacts of the candidate's MLflow run (`<stage>/…`), and the key
 * figures as metrics and tags of that run.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { hashOf } from '../infra/hash';
import type { MetricInput, MlflowClient } from '../registry/mlflow';
import { putObject, s3Uri } from '../infra/s3';

export type ReportFile = { name: string; body: string; contentType: string };

export function reportPrefix(
  bucket: string,
  model: string,
  version: string,
  inputs: unknown,
  stage: 'evaluation' | 'shadow',
): { key: string; uri: string; hash: string } {
  const hash = hashOf(inputs);
  const key = `reports/${model}/${version}/${hash}/${stage}/`;
  return { key, uri: s3Uri(bucket, key), hash };
}

/** The MLflow UI's page of a run. */
export function runUrl(uiUrl: string, experimentId: string, runId: string): string {
  return `${uiUrl.replace(/\/$/, '')}/#/experiments/${experimentId}/runs/${runId}`;
}

export async function publishReport(
  c: { s3: S3Client; mlflow: MlflowClient },
  o: {
    bucket: string;
    prefixKey: string;
    stage: 'evaluation' | 'shadow';
    files: ReportFile[];
    runArtifactUri: string;
    runId: string;
    metrics: Record<string, number | null>;
    tags: Record<string, string>;
    signal?: AbortSignal;
  },
): Promise<void> {
  for (const f of o.files) {
    await putObject(c.s3, o.bucket, `${o.prefixKey}${f.name}`, f.body, {
      contentType: f.contentType,
      signal: o.signal,
    });
  }
  for (const f of o.files) {
    await c.mlflow.uploadArtifact(o.runArtifactUri, `${o.stage}/${f.name}`, f.body, { signal: o.signal });
  }
  const metrics: MetricInput[] = Object.entries(o.metrics)
    .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
    .map(([key, value]) => ({ key, value }));
  await c.mlflow.logBatch(o.runId, { metrics, tags: o.tags }, { signal: o.signal });
}
