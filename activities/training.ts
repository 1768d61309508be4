import type { ActivityDeps } from './deps';
import { notImplemented } from './not-implemented';
import type { CandidateRef, FeatureSnapshotRef, StageInput } from './types';

export function trainingActivities(_deps: ActivityDeps) {
  return {
    async trainCandidate(_input: StageInput & { snapshot: FeatureSnapshotRef }): Promise<CandidateRef> {
      return notImplemented('training dispatch', 'trainer contract, heartbeats and resume, MLflow lineage');
    },
  };
}
