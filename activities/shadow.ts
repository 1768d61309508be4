import type { ActivityDeps } from './deps';
import { notImplemented } from './not-implemented';
import type { CandidateRef, ShadowSummary, StageInput } from './types';

export function shadowActivities(_deps: ActivityDeps) {
  return {
    async shadowScore(_input: StageInput & { candidate: CandidateRef }): Promise<ShadowSummary> {
      return notImplemented('shadow scoring', 'replay recent traffic through champion and candidate');
    },
  };
}
