/**
 * Every failure `type` string that ApplicationFailure carries across activities and workflows.
 * Workflows branch on these strings, never on error classes (minification and re-throws change
 * class names). Pure module: safe to import from workflow code.
 */
export const FailureType = {
  /** Bad input or a broken contract (spec, data, schema). Non-retryable. */
  BadInput: 'MloBadInput',
  /** A data gate (`data.gates`) failed on the run's feature snapshot: the run stops before training. Non-retryable. */
  DataGateFailed: 'MloDataGateFailed',
  /** A pipeline stage failed; wraps the cause. */
  StageFailed: 'MloStageFailed',
  /** `champion` no longer points where the promotion or rollback expected it: someone else moved it. */
  ChampionMoved: 'MloChampionMoved',
  /**
   * Another move of the model's `champion` held `champion/<model>` for longer than any move may
   * take: a person must look at that workflow. Non-retryable.
   */
  ChampionMoveBusy: 'MloChampionMoveBusy',
  /** Another promotion of the model is running and the spec says `when_busy: refuse`. */
  PromotionBusy: 'MloPromotionBusy',
  /** The trainer exited with its "try again" code (75): retried. */
  TrainerTransient: 'MloTrainerTransient',
  /** The trainer crashed (a signal or an unexpected exit code): retried. */
  TrainerCrashed: 'MloTrainerCrashed',
  /** The activity was cancelled (the run was cancelled, or the worker is shutting down). */
  Cancelled: 'MloCancelled',
} as const;
