/**
 * Activities of known length for the worker-shutdown test, run by a real worker process
 * (test/helpers/shutdown-worker.ts): `short` sleeps and finishes; `long` counts steps, heartbeats
 * each, resumes from the last heartbeat's step on a retry, and gives up its attempt when cancelled.
 */
import { CancelledFailure, Context } from '@temporalio/activity';

export type Outcome = { attempt: number; resumedFrom: number; steps: number };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new CancelledFailure('cancelled'));
    });
  });
}

export const shutdownActivities = {
  async short(ms: number): Promise<Outcome> {
    const ctx = Context.current();
    console.log(`short started (attempt ${ctx.info.attempt})`);
    await sleep(ms, ctx.cancellationSignal);
    console.log(`short finished (attempt ${ctx.info.attempt})`);
    return { attempt: ctx.info.attempt, resumedFrom: 0, steps: 1 };
  },

  /** Ignores cancellation: only the shutdown force time ends the worker holding it. */
  async stubborn(ms: number): Promise<Outcome> {
    console.log(`stubborn started (attempt ${Context.current().info.attempt})`);
    await new Promise((r) => setTimeout(r, ms));
    return { attempt: Context.current().info.attempt, resumedFrom: 0, steps: 1 };
  },

  async long(steps: number, stepMs: number): Promise<Outcome> {
    const ctx = Context.current();
    const resumedFrom = (ctx.info.heartbeatDetails as { step?: number } | undefined)?.step ?? 0;
    console.log(`long started (attempt ${ctx.info.attempt}) at step ${resumedFrom}`);
    for (let step = resumedFrom; step < steps; step++) {
      await sleep(stepMs, ctx.cancellationSignal);
      ctx.heartbeat({ step: step + 1 });
    }
    return { attempt: ctx.info.attempt, resumedFrom, steps };
  },
};
