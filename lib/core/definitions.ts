/**
 * Types, queries, signals and updates shared by workflows, the workers and the CLI.
 * Pure: imported by workflow code, so no Node built-ins and no I/O here.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FeatureSet } from '../features/featureset';
import type { ModelSpec } from '../spec/model-spec';
import type { RunWindows } from './windows';

export const STAGES = ['featureBackfill', 'training', 'evaluation', 'shadow', 'promotion'] as const;
export type StageName = (typeof STAGES)[number];

export type StageStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/**
 * What a running stage is waiting on, typed so that the CLI and the demo never decide a run's
 * state by matching message text.
 */
export type StagePhase = 'awaiting-approval' | 'waiting-for-promotion' | 'decided';

export type StageProgress = {
  stage: StageName;
  status: StageStatus;
  /** Set by stages that wait (promotion): what they wait on. */
  phase?: StagePhase;
  startedAt?: string;
  endedAt?: string;
  /** Free-form progress for the CLI: e.g. { done: 12, total: 60 } partitions. */
  progress?: { done: number; total: number; unit: string };
  /** Short summary of the stage's outcome or failure. */
  message?: string;
};

/**
 * Where a run's activities go. `cpu` takes registry calls, audit records and specs; the CPU pool's
 * heavy kinds have their own queues, so that each kind has its own slots: feature partitions,
 * evaluation and shadow scoring, CPU training. Runs started without them (and their histories)
 * send those to `cpu`.
 */
export type TaskQueues = { cpu: string; gpu: string; features?: string; evaluation?: string; cpuTraining?: string };

/**
 * A run's input. The model spec is not in it: the run loads the spec deployed with the workers
 * (activity `loadDeployedSpec`) and fails unless its hash is `specHash`, so no input can choose
 * a run's reviewers, deadline, gates or trainer.
 */
export type TrainAndPromoteInput = {
  model: string;
  /** The hash (`specHash`) of the model spec the run is started with, as the client validated it. */
  specHash: string;
  /**
   * The run's as-of day (YYYY-MM-DD, exclusive): every data window ends there. Absent for
   * scheduled runs: then it is the day of the schedule's nominal time.
   */
  asOf?: string;
  /** Optional start of the training window (YYYY-MM-DD); default: the spec's training.window.days. */
  trainFrom?: string;
  requestedBy: string;
  queues: TaskQueues;
  /**
   * Runs started before the deployed spec carried the spec and its features here; their stored
   * histories still replay with them. Runs that load the deployed spec ignore both.
   */
  spec?: ModelSpec;
  featureSet?: FeatureSet;
};

export type TrainAndPromoteResult = {
  model: string;
  windows: RunWindows;
  /** `already-champion`: a rerun on identical inputs found its version already champion; nothing ran after training. */
  outcome: 'promoted' | 'rejected' | 'gate-failed' | 'expired' | 'already-champion';
  candidateVersion?: string;
  message?: string;
  evaluationReport?: string;
  shadowReport?: string;
  stages: StageProgress[];
};

/** The workflow type `trainAndPromote`, as clients start it (they never import workflow code). */
export type TrainAndPromoteWorkflow = (input: TrainAndPromoteInput) => Promise<TrainAndPromoteResult>;

export const progressQuery = defineQuery<StageProgress[]>('progress');

// ---- promotion -------------------------------------------------------------------------

export type Approval = {
  /** The reviewer's e-mail; must be one of the model spec's reviewers. */
  reviewer: string;
  /** Optional: the candidate version the reviewer looked at; a mismatch is refused. */
  candidateVersion?: string;
  comment?: string;
};

export type Rejection = {
  reviewer: string;
  /** Why the candidate is rejected (required). */
  reason: string;
  candidateVersion?: string;
};

/**
 * Who called, as the Temporal server verified it (its `mlo-verified-identity` header on
 * decisions): the identity provider's subject and the e-mail it vouched for.
 */
export type VerifiedIdentity = { subject: string; email?: string };

/** A requester as the server checked it at start: a person's e-mail, or a service's subject. */
export type RequesterIdentity = { subject?: string; email?: string };

export type PromotionOutcome = 'promoted' | 'rejected' | 'expired';

export type DecisionResult = { outcome: PromotionOutcome; version: string; decidedBy: string; message: string };

export type Refusal = {
  at: string;
  via: 'signal' | 'update';
  /** `unknown`: a signal under a name that is no decision (e.g. `Approve`). */
  kind: 'approve' | 'reject' | 'unknown';
  /** The signal's name as sent, when it is no decision's name. */
  name?: string;
  reviewer: string;
  reason: string;
  /** The verified caller, when the server named one. */
  identity?: VerifiedIdentity;
};

export type PromotionState = {
  model: string;
  candidateVersion: string;
  requestedBy: string;
  reviewers: string[];
  deadline: string;
  status: 'preparing' | 'awaiting-approval' | 'moving-registry' | PromotionOutcome | 'failed';
  decision?: {
    kind: 'approve' | 'reject' | 'expire';
    reviewer: string;
    reason?: string;
    at: string;
    /** The verified identity of the reviewer, when the server named one. */
    identity?: VerifiedIdentity;
  };
  /** The refused decisions recorded (kept in this state and audited): at most REFUSAL_LIMITS.cap. */
  refusals: Refusal[];
  /** Refused decisions beyond the cap or the rate limit: counted, logged, not audited. */
  refusalsNotRecorded?: number;
  /** Recorded refusals whose audit record could not be written (the promotion goes on). */
  refusalsNotAudited?: number;
  summary: string;
};

export const approveUpdate = defineUpdate<DecisionResult, [Approval]>('approve');
export const rejectUpdate = defineUpdate<DecisionResult, [Rejection]>('reject');
/** The decisions as signals, under the updates' names (for clients without updates). */
export const approveSignal = defineSignal<[Approval]>('approve');
export const rejectSignal = defineSignal<[Rejection]>('reject');
/** The signals' former names, still accepted. */
export const legacyApproveSignal = defineSignal<[Approval]>('approveSignal');
export const legacyRejectSignal = defineSignal<[Rejection]>('rejectSignal');

/**
 * Refused decisions a promotion or rollback records (state and audit record) at most: `cap` in
 * all and `burst` per `windowMs`. Each recorded refusal grows the history and runs an audit
 * activity; the others are counted and logged only, and an update beyond them is refused
 * without reaching the history.
 */
export const REFUSAL_LIMITS = { cap: 20, burst: 5, windowMs: 60_000 } as const;
export const promotionStateQuery = defineQuery<PromotionState>('promotionState');
