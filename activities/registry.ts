import type { ActivityDeps } from './deps';
import { notImplemented } from './not-implemented';
import type { CandidateRef, EvaluationSummary, PromotionDecision, ShadowSummary, StageInput } from './types';

export function registryActivities(_deps: ActivityDeps) {
  return {
    async promoteCandidate(
      _input: StageInput & { candidate: CandidateRef; evaluation: EvaluationSummary; shadow: ShadowSummary; requestedBy: string },
    ): Promise<PromotionDecision> {
      return notImplemented('promotion', 'reviewer approval and the champion alias');
    },
  };
}
