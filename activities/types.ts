/** Inputs and outputs of the stage activities: URIs and small summaries only, never data. */
import type { DateWindow } from '../workflows/definitions';

export type StageInput = {
  model: string;
  specUri: string;
  specHash: string;
  window: DateWindow;
  workflowId: string;
};

export type FeatureSnapshotRef = { manifestUri: string; hash: string; rows: number; partitions: number };
export type CandidateRef = { runId: string; version: string; onnxUri: string };
export type EvaluationSummary = { passed: boolean; reportUri: string; markdown: string };
export type ShadowSummary = { passed: boolean; reportUri: string; markdown: string };
export type PromotionDecision = { outcome: 'promoted' | 'rejected' | 'gate-failed' | 'expired' };
