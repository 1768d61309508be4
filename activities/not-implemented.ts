import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../lib/failure-types';

/**
 * A stage that is not built yet fails loudly and for good, rather than returning
 * numbers that pretend to be results.
 */
export function notImplemented(stage: string, issue: string): never {
  throw ApplicationFailure.create({
    type: FailureType.NotImplemented,
    message: `the ${stage} stage is not implemented yet (${issue})`,
    nonRetryable: true,
  });
}
