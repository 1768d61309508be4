import type { ActivityDeps } from './deps';
import { notImplemented } from './not-implemented';
import type { FeatureSnapshotRef, StageInput } from './types';

export function featureActivities(_deps: ActivityDeps) {
  return {
    async backfillFeatures(_input: StageInput): Promise<FeatureSnapshotRef> {
      return notImplemented('feature backfill', 'point-in-time windowed features over day partitions');
    },
  };
}
