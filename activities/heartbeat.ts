import { Context } from '@temporalio/activity';

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
