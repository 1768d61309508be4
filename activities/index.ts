/**
 * Activities are built by one factory over injected clients, so the workers pass real
 * ones and tests pass their own. Workflows import only the type.
 */
import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { dataGateActivities } from './data-gates';
import { evaluationActivities } from './evaluation';
import { featureActivities } from './features';
import { registryActivities } from './registry';
import { shadowActivities } from './shadow';
import { specActivities } from './spec';
import { trainingActivities } from './training';

export type { ActivityDeps } from './deps';
export { buildDeps } from './build-deps';
export * from './types';

/**
 * How many listeners an activity's cancellation signal may hold before Node warns. An activity
 * passes its one signal to every S3 and MLflow call it makes, and the SDK's HTTP handlers add a
 * listener per call in flight (removed when the call ends): an evaluation reading partitions in
 * parallel holds dozens at once, past Node's default warning level of 10, which is meant for leaks.
 */
export const ACTIVITY_SIGNAL_LISTENERS = 1024;

/** Each activity raises its signal's listener warning level before it runs. */
export function withSignalCapacity<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  const out: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(acts)) {
    out[name] = (...args: never[]) => {
      const signal = activitySignal();
      if (signal) setMaxListeners(ACTIVITY_SIGNAL_LISTENERS, signal);
      return fn(...args);
    };
  }
  return out as T;
}

/** The running activity's cancellation signal; none when called outside an activity (a direct test call). */
function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function createActivities(deps: ActivityDeps) {
  return withSignalCapacity({
    ...featureActivities(deps),
    ...trainingActivities(deps),
    ...evaluationActivities(deps),
    ...shadowActivities(deps),
    ...registryActivities(deps),
    ...specActivities(deps),
    ...dataGateActivities(deps),
  });
}

/**
 * The CPU pool serves every activity: features, evaluation, shadow, registry, and training for
 * models on the CPU pool.
 */
export const createCpuActivities = createActivities;

/** Activities served by the GPU pool: training only. */
export function createGpuActivities(deps: ActivityDeps) {
  return withSignalCapacity({ ...trainingActivities(deps) });
}

export type Activities = ReturnType<typeof createActivities>;
