/**
 * The activity boundary: how an activity's error becomes the ApplicationFailure its workflow sees.
 * Bad input and broken contracts (a BadInputError from any layer) become non-retryable
 * FailureType.BadInput failures, a cancelled piece of work becomes FailureType.Cancelled, and
 * everything else (S3 or MLflow outages, Temporal's own failures) passes through unchanged for the
 * activity's retry policy to retry. Pure: safe to import from workflow code.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BadInputError } from './errors';
import { FailureType } from './failure-types';

/** Work stopped because its activity was cancelled (the run was cancelled, or the worker is shutting down). */
export class CancelledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CancelledError';
  }
}

export type FailureOptions = {
  /** What failed, put before the message: `<context>: <message>`. */
  context?: string;
  /** Keep the original error as the failure's cause. */
  keepCause?: boolean;
};

/** The error as its workflow must see it; see the module comment for the rules. */
export function toActivityFailure(err: unknown, opts: FailureOptions = {}): unknown {
  const type =
    err instanceof BadInputError ? FailureType.BadInput : err instanceof CancelledError ? FailureType.Cancelled : null;
  if (type === null) return err;
  const e = err as Error;
  return ApplicationFailure.create({
    type,
    message: opts.context ? `${opts.context}: ${e.message}` : e.message,
    nonRetryable: true,
    cause: opts.keepCause ? e : undefined,
  });
}

/** Runs an activity's body and converts what it throws with `toActivityFailure`. */
export async function withActivityFailures<T>(fn: () => Promise<T>, opts: FailureOptions = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toActivityFailure(err, opts);
  }
}
