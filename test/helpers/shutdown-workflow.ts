/** The worker-shutdown test's workflow: one short and one long activity at once, retried quickly. */
import { proxyActivities } from '@temporalio/workflow';
import type { Outcome, shutdownActivities } from './shutdown-activities';

export async function shortAndLong(
  taskQueue: string,
  shortMs: number,
  longSteps: number,
): Promise<{ short: Outcome; long: Outcome }> {
  const acts = proxyActivities<typeof shutdownActivities>({
    taskQueue,
    startToCloseTimeout: '2m',
    heartbeatTimeout: '5s',
    retry: { initialInterval: '500ms', backoffCoefficient: 1, maximumAttempts: 5 },
  });
  const [short, long] = await Promise.all([acts.short(shortMs), acts.long(longSteps, 250)]);
  return { short, long };
}

/** One activity that ignores cancellation. */
export async function stubborn(taskQueue: string, ms: number): Promise<Outcome> {
  const acts = proxyActivities<typeof shutdownActivities>({
    taskQueue,
    startToCloseTimeout: '2m',
    heartbeatTimeout: '5s',
    retry: { initialInterval: '500ms', backoffCoefficient: 1, maximumAttempts: 5 },
  });
  return acts.stubborn(ms);
}
