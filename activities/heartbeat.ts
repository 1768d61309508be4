import { ApplicationFailure, Context } from '@temporalio/activity';
import { withActivityFailures } from '../lib/core/failures';
import { FailureType } from '../lib/core/failure-types';
import { isRetryable, MlflowError } from '../lib/registry/mlflow';

/** How often a heartbeating activity reports that it is alive; well under any heartbeatTimeout. */
const HEARTBEAT_EVERY_MS = 5_000;

/**
 * Runs `work` while heartbeating in the background, so that a worker that dies is noticed within
 * the activity's heartbeatTimeout and a cancellation (or a timed-out attempt) reaches
 * `Context.current().cancellationSignal`, which the MLflow client honours.
 */
export async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The boundary of an activity that talks to the registry: heartbeating, and what it throws as its
 * workflow must see it. Bad input is final, and so is an answer of MLflow that asking again cannot
 * change (a version or model that does not exist, a refused parameter, a denied permission): it
 * becomes a non-retryable MloBadInput naming the call, instead of being retried for the activity's
 * whole time budget. Outages stay retryable.
 */
export function registryActivity<T>(work: () => Promise<T>): Promise<T> {
  return heartbeating(() =>
    withActivityFailures(async () => {
      try {
        return await work();
      } catch (err) {
        throw finalMlflowAnswer(err) ?? err;
      }
    }),
  );
}

function finalMlflowAnswer(err: unknown): ApplicationFailure | undefined {
  if (!(err instanceof MlflowError) || err.status === undefined || isRetryable(err)) return undefined;
  return ApplicationFailure.create({
    type: FailureType.BadInput,
    nonRetryable: true,
    message: `MLflow refused ${err.method} ${err.endpoint} (HTTP ${err.status}): ${err.message}`,
  });
}
