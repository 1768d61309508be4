/**
 * Activities are built by one factory over injected clients, so the workers pass real
 * ones and tests pass their own. Workflows import only the type.
 */
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

export function createActivities(deps: ActivityDeps) {
  return {
    ...featureActivities(deps),
    ...trainingActivities(deps),
    ...evaluationActivities(deps),
    ...shadowActivities(deps),
    ...registryActivities(deps),
    ...specActivities(deps),
    ...dataGateActivities(deps),
  };
}

/**
 * The CPU pool serves every activity: features, evaluation, shadow, registry, and training for
 * models on the CPU pool.
 */
export const createCpuActivities = createActivities;

/** Activities served by the GPU pool: training only. */
export function createGpuActivities(deps: ActivityDeps) {
  return { ...trainingActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
