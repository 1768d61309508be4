import type { ActivityDeps } from './deps';
import { notImplemented } from './not-implemented';
import type { CandidateRef, EvaluationSummary, FeatureSnapshotRef, StageInput } from './types';

export function evaluationActivities(_deps: ActivityDeps) {
  return {
    async evaluateCandidate(_input: StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef }): Promise<EvaluationSummary> {
      return notImplemented('evaluation', 'out-of-time holdout, candidate vs champion, slices, gates');
    },
  };
}
