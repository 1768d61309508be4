/**
 * Types, queries, signals and updates shared by workflows, the workers and the CLI.
 * Pure: imported by workflow code, so no Node built-ins and no I/O here.
 */
import { defineQuery } from '@temporalio/workflow';
import type { FeatureSet } from '../lib/features/featureset';
import type { ModelSpec } from '../lib/spec';
import type { RunWindows } from '../lib/windows';

/** mlo's custom search attributes, registered with the Temporal server at stack start. */
export const SEARCH_ATTRIBUTES = {
  MloModel: 'Keyword',
  MloStage: 'Keyword',
  MloCandidateVersion: 'Keyword',
  MloRequestedBy: 'Keyword',
} as const;

export const STAGES = ['featureBackfill', 'training', 'evaluation', 'shadow', 'promotion'] as const;
export type StageName = (typeof STAGES)[number];

export type StageStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export type StageProgress = {
  stage: StageName;
  status: StageStatus;
  startedAt?: string;
  endedAt?: string;
  /** Free-form progress for the CLI: e.g. { done: 12, total: 60 } partitions. */
  progress?: { done: number; total: number; unit: string };
  /** Short summary of the stage's outcome or failure. */
  message?: string;
};

export type TaskQueues = { cpu: string; gpu: string };

export type TrainAndPromoteInput = {
  model: string;
  /** The validated model spec (small), and its content hash: the record of what ran. */
  spec: ModelSpec;
  specHash: string;
  /** The spec's features resolved at validation time (the workflow never reads files). */
  featureSet: FeatureSet;
  /**
   * The run's as-of day (YYYY-MM-DD, exclusive): every data window ends there. Absent for
   * scheduled runs: then it is the day of the schedule's nominal time.
   */
  asOf?: string;
  requestedBy: string;
  queues: TaskQueues;
};

export type TrainAndPromoteResult = {
  model: string;
  windows: RunWindows;
  outcome: 'promoted' | 'rejected' | 'gate-failed' | 'expired';
  candidateVersion?: string;
  stages: StageProgress[];
};

export const progressQuery = defineQuery<StageProgress[]>('progress');
