/**
 * The evaluation stages' errors at the activity boundary: bad input (a BadInputError from any
 * layer) becomes a non-retryable ApplicationFailure of type FailureType.BadInput; everything
 * else (S3 or MLflow outages) propagates and is retried by the activity's retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BadInputError } from '../core/errors';
import { FailureType } from '../core/failure-types';

export function badInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.BadInput, message, nonRetryable: true });
}

export async function withBadInputAsFailure<T>(stage: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BadInputError)
      throw ApplicationFailure.create({
        type: FailureType.BadInput,
        message: `${stage}: ${err.message}`,
        nonRetryable: true,
        cause: err,
      });
    throw err;
  }
}
