/**
 * Failure `type` strings carried by ApplicationFailure across activities and workflows.
 * Workflows branch on these strings, never on error classes (minification and
 * re-throws change class names). Pure module: safe to import from workflow code.
 */
export const FailureType = {
  /** Bad input or a broken contract (spec, data, schema). Non-retryable. */
  BadInput: 'MloBadInput',
  /** A dependency was unreachable or answered 5xx. Retryable. */
  Unavailable: 'MloUnavailable',
  /** A pipeline stage failed; wraps the cause. */
  StageFailed: 'MloStageFailed',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];
