/** Inputs and outputs of the stage activities: URIs and small summaries only, never data. */
import type { ModelSpec } from '../lib/spec';
import type { RunWindows } from '../lib/windows';

export type StageInput = {
  model: string;
  spec: ModelSpec;
  specHash: string;
  windows: RunWindows;
  workflowId: string;
};

export type FeatureSnapshotRef = { manifestUri: string; hash: string; rows: number; partitions: number; labeledRows: number; positives: number };
export type CandidateRef = { runId: string; version: string; onnxUri: string };
export type EvaluationSummary = { passed: boolean; reportUri: string; markdown: string };
export type ShadowSummary = { passed: boolean; reportUri: string; markdown: string };
export type PromotionDecision = { outcome: 'promoted' | 'rejected' | 'gate-failed' | 'expired' };
