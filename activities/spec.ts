/**
 * The deployed model spec (CPU pool): a run's reviewers, deadline, gates and trainer come from
 * the spec deployed with the workers, checked against the hash the run was started with, never
 * from the workflow's input.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import { FailureType } from '../lib/core/failure-types';
import { deployedSpecs, type DeployedSpec } from '../lib/spec/deployed';
import type { ActivityDeps } from './deps';

export type { DeployedSpec } from '../lib/spec/deployed';

export type DeployedSpecInput = { model: string; specHash: string };

/**
 * The model's deployed spec if its hash is `specHash`. Anything else (no such model, an invalid
 * spec, another hash) is a non-retryable BadInput failure naming the file and the fix.
 */
export function loadDeployed(deps: Pick<ActivityDeps, 'modelsDir'>, input: DeployedSpecInput): DeployedSpec {
  try {
    return deployedSpecs(deps.modelsDir).load(input.model, input.specHash);
  } catch (err) {
    if (err instanceof BadInputError)
      throw ApplicationFailure.create({ type: FailureType.BadInput, message: err.message, nonRetryable: true });
    throw err;
  }
}

export function specActivities(deps: ActivityDeps) {
  return {
    /** The validated spec and resolved feature set of the model as the workers deploy it. */
    async loadDeployedSpec(input: DeployedSpecInput): Promise<DeployedSpec> {
      return loadDeployed(deps, input);
    },
  };
}
