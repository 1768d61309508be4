/**
 * The model spec a run uses: the one deployed with the workers, loaded by an activity and
 * checked against the hash the run was started with. Runs started before this existed carried
 * the spec, reviewers and deadline in their input; their stored histories take that path
 * (`patched` is false when replaying them), every new run takes the deployed spec.
 */
import { ApplicationFailure, isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeployedSpec } from '../activities/spec';
import { FailureType } from '../lib/core/failure-types';
import * as profiles from './activity-options';

export const DEPLOYED_SPEC_PATCH = 'deployed-spec';

/** Whether this execution takes its spec from the workers (true for every run started since). */
export function usesDeployedSpec(): boolean {
  return patched(DEPLOYED_SPEC_PATCH);
}

/**
 * The model's spec as the workers deploy it, if its hash is `specHash`. A missing, invalid or
 * different spec fails the workflow at once (non-retryable BadInput with the activity's message,
 * which names both hashes, the file and the fix).
 */
export async function loadDeployedSpec(cpuQueue: string, model: string, specHash: string): Promise<DeployedSpec> {
  if (typeof specHash !== 'string' || specHash === '')
    throw ApplicationFailure.create({
      type: FailureType.BadInput,
      nonRetryable: true,
      message: `the input names no specHash for ${model}; start it with the hash of the model spec (mlo does)`,
    });
  const acts = proxyActivities<Activities>(profiles.deployedSpec(cpuQueue));
  try {
    return await acts.loadDeployedSpec({ model, specHash });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const inner = innermost(err);
    if ((inner as { type?: string }).type !== FailureType.BadInput) throw err;
    throw ApplicationFailure.create({
      type: FailureType.BadInput,
      nonRetryable: true,
      message: inner.message,
      cause: err instanceof Error ? err : undefined,
    });
  }
}

function innermost(err: unknown): Error {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e : new Error(String(e));
}
