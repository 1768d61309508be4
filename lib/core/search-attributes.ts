import { defineSearchAttributeKey } from '@temporalio/common';

/** mlo's custom search attributes (registered with the server by the dev stack). */
export const SA = {
  model: defineSearchAttributeKey('MloModel', 'KEYWORD'),
  stage: defineSearchAttributeKey('MloStage', 'KEYWORD'),
  candidateVersion: defineSearchAttributeKey('MloCandidateVersion', 'KEYWORD'),
  requestedBy: defineSearchAttributeKey('MloRequestedBy', 'KEYWORD'),
} as const;
