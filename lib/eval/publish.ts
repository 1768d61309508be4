/**
 * Publishing a stage's report (evaluation or shadow scoring): its files under a content-addressed
 * S3 prefix (`reports/<model>/<candidate version>/<hash of inputs>/<stage>/…`, so a retry rewrites
 * the same objects), the same files as artifacts of the candidate's MLflow run (`<stage>/…`), and
 * the key figures and the verdict as metrics and tags of that run.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DayRange } from '../core/windows';
import { hashOf } from '../infra/hash';
import { putObject, s3Uri } from '../infra/s3';
import type { MetricInput, MlflowClient } from '../registry/mlflow';
import { RunTag } from '../registry/tags';
import { jsonNumbers, modelRef, type ReportContext } from './report';
import type { ScoredWindow } from './window';

export type ReportStage = 'evaluation' | 'shadow';

type ReportFile = { name: string; body: string; contentType: string };

/** The run tags a stage records its verdict in. */
const VERDICT_TAGS = {
  evaluation: {
    report: RunTag.evaluationReport,
    passed: RunTag.evaluationPassed,
    champion: RunTag.evaluationChampionVersion,
  },
  shadow: { report: RunTag.shadowReport, passed: RunTag.shadowPassed, champion: RunTag.shadowChampionVersion },
} as const;

function reportPrefix(
  bucket: string,
  model: string,
  version: string,
  inputs: unknown,
  stage: ReportStage,
): { key: string; uri: string; hash: string } {
  const hash = hashOf(inputs);
  const key = `reports/${model}/${version}/${hash}/${stage}/`;
  return { key, uri: s3Uri(bucket, key), hash };
}

/** The MLflow UI's page of a run. */
function runUrl(uiUrl: string, experimentId: string, runId: string): string {
  return `${uiUrl.replace(/\/$/, '')}/#/experiments/${experimentId}/runs/${runId}`;
}

/** Where the report goes and what it was computed from. */
export type StageReportTarget = {
  s3: S3Client;
  mlflow: MlflowClient;
  bucket: string;
  /** The MLflow UI, for links to the candidate's run. */
  mlflowUiUrl: string;
  codeVersion: string;
  model: string;
  workflowId: string;
  snapshot: { manifestUri: string; hash: string };
  candidate: { version: string; runId: string };
};

export type StageReportOptions<R extends ReportContext> = {
  stage: ReportStage;
  window: DayRange;
  scored: ScoredWindow;
  /** The stage's settings: with the models, snapshot, window and code they address the report. */
  settings: Record<string, unknown>;
  passed: boolean;
  metrics: Record<string, number | null>;
  /** The full report, around the context every report starts with. */
  build: (context: ReportContext) => R;
  markdown: (report: R) => string;
  plots: (report: R) => Record<string, string>;
  signal?: AbortSignal;
};

/**
 * Writes the report (JSON, Markdown, SVG plots) to S3 and to the candidate's MLflow run, logs its
 * metrics there and tags the run with the verdict.
 */
export async function publishStageReport<R extends ReportContext>(
  t: StageReportTarget,
  o: StageReportOptions<R>,
): Promise<{ report: R; reportUri: string; mlflowRunUrl: string }> {
  const { candidate: cd, champion: hd } = o.scored;
  const prefix = reportPrefix(
    t.bucket,
    t.model,
    t.candidate.version,
    {
      stage: o.stage,
      candidate: { version: t.candidate.version, sha256: cd.sha256 },
      champion: hd ? { version: hd.version, sha256: hd.sha256 } : null,
      snapshot: t.snapshot.hash,
      window: o.window,
      code: t.codeVersion,
      ...o.settings,
    },
    o.stage,
  );
  const run = await t.mlflow.getRun(t.candidate.runId, { signal: o.signal });
  const mlflowRunUrl = runUrl(t.mlflowUiUrl, run.info.experimentId, run.info.runId);
  const report = o.build(reportContext(t, o, prefix.uri, mlflowRunUrl));
  const reportUri = `${prefix.uri}report.json`;
  const tags = VERDICT_TAGS[o.stage];
  await publishFiles(t, {
    prefixKey: prefix.key,
    stage: o.stage,
    files: reportFiles(report, o.markdown(report), o.plots(report)),
    runArtifactUri: run.info.artifactUri,
    runId: run.info.runId,
    metrics: o.metrics,
    tags: {
      [tags.report]: reportUri,
      [tags.passed]: String(o.passed),
      [tags.champion]: hd?.version ?? 'none',
    },
    signal: o.signal,
  });
  return { report, reportUri, mlflowRunUrl };
}

function reportContext(
  t: StageReportTarget,
  o: Pick<StageReportOptions<ReportContext>, 'window' | 'scored'>,
  prefixUri: string,
  mlflowRunUrl: string,
): ReportContext {
  const { candidate: cd, champion: hd, championVersion } = o.scored;
  return {
    model: t.model,
    candidate: modelRef(cd, t.candidate.runId),
    champion: hd && championVersion ? modelRef(hd, championVersion.runId) : null,
    championNote: o.scored.championNote,
    snapshot: { manifestUri: t.snapshot.manifestUri, hash: t.snapshot.hash },
    window: { from: o.window.from, to: o.window.to, days: o.scored.parts.map((p) => p.day) },
    reportPrefix: prefixUri,
    mlflowRunUrl,
    codeVersion: t.codeVersion,
    workflowId: t.workflowId,
  };
}

/** report.json, report.md and the plots. */
function reportFiles(report: unknown, markdown: string, plots: Record<string, string>): ReportFile[] {
  return [
    { name: 'report.json', body: `${JSON.stringify(report, jsonNumbers, 2)}\n`, contentType: 'application/json' },
    { name: 'report.md', body: `${markdown}\n`, contentType: 'text/markdown; charset=utf-8' },
    ...Object.entries(plots).map(([name, body]) => ({ name, body, contentType: 'image/svg+xml' })),
  ];
}

async function publishFiles(
  c: { s3: S3Client; mlflow: MlflowClient; bucket: string },
  o: {
    prefixKey: string;
    stage: ReportStage;
    files: ReportFile[];
    runArtifactUri: string;
    runId: string;
    metrics: Record<string, number | null>;
    tags: Record<string, string>;
    signal?: AbortSignal;
  },
): Promise<void> {
  for (const f of o.files) {
    await putObject(c.s3, c.bucket, `${o.prefixKey}${f.name}`, f.body, {
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
