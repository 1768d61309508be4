/**
 * Types, queries, signals and updates shared by workflows, the workers and the CLI.
 * Pure: imported by workflow code, so no Node built-ins and no I/O here.
 */
import { defineQuery } from '@temporalio/workflow';

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

/** A day range, inclusive of `from`, exclusive of `to`, as ISO dates (YYYY-MM-DD). */
export type DateWindow = { from: string; to: string };

export type TrainAndPromoteInput = {
  model: string;
  /** Where the validated model spec lives, and its content hash (the workflow never reads files). */
  specUri: string;
  specHash: string;
  window: DateWindow;
  requestedBy: string;
  queues: TaskQueues;
};

export type TrainAndPromoteResult = {
  model: string;
  outcome: 'promoted' | 'rejected' | 'gate-failed' | 'expired';
  candidateVersion?: string;
  stages: StageProgress[];
};

export const progressQuery = defineQuery<StageProgress[]>('progress');
