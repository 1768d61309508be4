/** What evaluation and shadow scoring share around their reports: where they go, and the summary they return. */
import type { GateResult } from '../lib/eval/gates';
import type { StageReportTarget } from '../lib/eval/publish';
import type { ScoredWindow } from '../lib/eval/window';
import type { ActivityDeps } from './deps';
import type { CandidateRef, EvaluationSummary, FeatureSnapshotRef, StageInput } from './types';

/** The candidate's report goes to the configured bucket and to its MLflow run. */
export function reportTarget(
  deps: ActivityDeps,
  input: StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef },
): StageReportTarget {
  return {
    s3: deps.s3,
    mlflow: deps.mlflow,
    bucket: deps.config.s3.bucket,
    mlflowUiUrl: deps.config.mlflow.uiUrl,
    codeVersion: deps.codeVersion,
    model: input.model,
    workflowId: input.workflowId,
    snapshot: input.snapshot,
    candidate: input.candidate,
  };
}

/** What a stage hands to promotion: the verdict, where the report is, and the reviewer's Markdown. */
export function stageSummary(
  published: { reportUri: string; mlflowRunUrl: string },
  result: { passed: boolean; gates: GateResult[] },
  scored: Pick<ScoredWindow, 'champion'>,
  markdown: string,
  metrics: Record<string, number | null>,
): EvaluationSummary {
  return {
    passed: result.passed,
    reportUri: published.reportUri,
    markdown,
    championVersion: scored.champion?.version ?? null,
    gates: result.gates.map((g) => ({ gate: g.gate, status: g.status, value: g.value, note: g.note })),
    metrics,
    mlflowRunUrl: published.mlflowRunUrl,
  };
}
