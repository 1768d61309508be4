/** Inputs and outputs of the stage activities: URIs and small summaries only, never data. */
import type { ModelSpec } from '../lib/spec/model-spec';
import type { RunWindows } from '../lib/core/windows';

export type StageInput = {
  model: string;
  spec: ModelSpec;
  specHash: string;
  windows: RunWindows;
  workflowId: string;
};

export type FeatureSnapshotRef = {
  manifestUri: string;
  hash: string;
  rows: number;
  partitions: number;
  labeledRows: number;
  positives: number;
};
export type CandidateRef = { runId: string; version: string; onnxUri: string };
/** One gate of the spec as judged by evaluation or shadow scoring. */
export type GateOutcome = { gate: string; status: 'pass' | 'fail' | 'n/a'; value: number | null; note: string };
/**
 * What evaluation and shadow scoring hand to promotion: the verdict, the report's URI, and a
 * Markdown summary (< 8 KB) for the reviewer. The other fields are optional so that older
 * histories and test doubles that set only the first three still fit.
 */
export type EvaluationSummary = {
  passed: boolean;
  /** s3:// URI of the full JSON report (report.md and the SVG plots sit next to it). */
  reportUri: string;
  markdown: string;
  /** The champion compared against, or null for none (first version). */
  championVersion?: string | null;
  gates?: GateOutcome[];
  /** Key figures, e.g. holdout_auc, holdout_auc_delta. */
  metrics?: Record<string, number | null>;
  /** The candidate's MLflow run in the MLflow UI. */
  mlflowRunUrl?: string;
};
export type ShadowSummary = EvaluationSummary;
