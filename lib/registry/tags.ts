/**
 * Every `mlo.*` MLflow tag, as typed constants: the lineage and decisions mlo records on runs,
 * model versions and registered models. Nothing else in mlo writes a tag key as a string literal.
 * Pure: no I/O.
 */

/**
 * Tags on MLflow runs: a training trial, a sweep's parent run, and the candidate's training run that
 * evaluation and shadow scoring publish their reports to. Lineage keys that a registered version
 * carries too have the same value in VersionTag.
 */
export const RunTag = {
  workflowId: 'mlo.workflow_id',
  workflowRunId: 'mlo.workflow_run_id',
  requestedBy: 'mlo.requested_by',
  trainerCommand: 'mlo.trainer_command',
  codeVersion: 'mlo.code_version',
  featureSnapshotHash: 'mlo.feature_snapshot_hash',
  specHash: 'mlo.spec_hash',
  /** The ONNX file the trainer wrote; the version registered from this run carries it too. */
  onnxUri: 'mlo.onnx_uri',
  /** A trial's idempotency key: the same trial attempt reuses its run. */
  trialKey: 'mlo.trial_key',
  /** A sweep's idempotency key, on the sweep's parent run. */
  sweepKey: 'mlo.sweep_key',
  trials: 'mlo.trials',
  bestTrial: 'mlo.best_trial',
  bestRunId: 'mlo.best_run_id',
  /** The trainer's result line (JSON), kept on the run for the registration step. */
  trialResult: 'mlo.trial_result',
  /** The checkpoint a resumed trial started from. */
  resumedFrom: 'mlo.resumed_from',
  /** The model version this run was registered as. */
  modelVersion: 'mlo.model_version',
  /** Evaluation and shadow scoring record their verdicts on the candidate's run. */
  evaluationReport: 'mlo.evaluation_report',
  evaluationPassed: 'mlo.evaluation_passed',
  evaluationChampionVersion: 'mlo.evaluation_champion_version',
  shadowReport: 'mlo.shadow_report',
  shadowPassed: 'mlo.shadow_passed',
  shadowChampionVersion: 'mlo.shadow_champion_version',
} as const;

/** Tags on registered model versions: lineage, the model's input and output, and promotion. */
export const VersionTag = {
  /** The registration's idempotency key: a retry finds the version instead of creating a second one. */
  registrationKey: 'mlo.registration_key',
  /**
   * The hash of everything training reads (snapshot, windows, trainer, parameters, seed, feature
   * columns, code version): a later run on identical inputs reuses the version instead of
   * training and registering a copy (lib/registry/inputs-key.ts).
   */
  inputsKey: 'mlo.inputs_key',
  /**
   * What became of the version as a candidate, latest first wins: `gate-failed`, `rejected`,
   * `expired`, `cancelled`, `promoted`. Absent while it is being evaluated or awaits a decision.
   */
  outcome: 'mlo.outcome',
  /** JSON array of the gates a gate-failed version failed: stage, gate, value, note. */
  failedGates: 'mlo.failed_gates',
  featureSnapshotHash: 'mlo.feature_snapshot_hash',
  featureManifestUri: 'mlo.feature_manifest_uri',
  specHash: 'mlo.spec_hash',
  codeVersion: 'mlo.code_version',
  trainerCommand: 'mlo.trainer_command',
  trainWindow: 'mlo.train_window',
  validationWindow: 'mlo.validation_window',
  holdoutWindow: 'mlo.holdout_window',
  labelCutoff: 'mlo.label_cutoff',
  workflowId: 'mlo.workflow_id',
  workflowRunId: 'mlo.workflow_run_id',
  requestedBy: 'mlo.requested_by',
  sweepRunId: 'mlo.sweep_run_id',
  /** The ONNX file in S3 that evaluation, shadow scoring and serving load. */
  onnxUri: 'mlo.onnx_uri',
  /** JSON array: the feature columns of the model's [N, F] input, in order. */
  inputColumns: 'mlo.input_columns',
  /** `<output>[<index>]`: where the positive-class probability is. */
  probabilityOutput: 'mlo.probability_output',
  awaitingApprovalIn: 'mlo.awaiting_approval_in',
  approvedBy: 'mlo.approved_by',
  rejected: 'mlo.rejected',
  promotedAt: 'mlo.promoted_at',
  previousChampion: 'mlo.previous_champion',
  replacedBy: 'mlo.replaced_by',
  emergency: 'mlo.emergency',
  /**
   * The intent of the `champion` move to this version, written before the alias moves (JSON
   * `{"move":"<workflow id>/<run id>/<activity id>","previous":"<version>"|null,"at":"<ISO>"}`):
   * a retried move that finds `champion` already here recognizes its own work by it.
   */
  championMove: 'mlo.champion_move',
} as const;

/** Tags on registered models. */
export const ModelTag = {
  owner: 'mlo.owner',
  /** The latest alias move (JSON): who moved `champion`, from and to which version, when. */
  lastAliasMove: 'mlo.last_alias_move',
  /** The audit trail's anchored head (JSON `{"seq":N,"hash":"<sha256 hex>"}`): see lib/registry/audit. */
  auditHead: 'mlo.audit_head',
} as const;

export type RunTagKey = (typeof RunTag)[keyof typeof RunTag];
export type VersionTagKey = (typeof VersionTag)[keyof typeof VersionTag];
export type ModelTagKey = (typeof ModelTag)[keyof typeof ModelTag];

/** The registry aliases mlo moves: serving loads `models:/<name>@champion`. */
export const ModelAlias = {
  champion: 'champion',
  /** The candidate awaiting a reviewer's decision. */
  challenger: 'challenger',
} as const;
