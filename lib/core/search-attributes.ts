import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * mlo's custom search attributes: the one definition. Workflows upsert them, the CLI and the
 * UI query by them, and the dev stack registers them with the server.
 */
export const SA = {
  model: defineSearchAttributeKey('MloModel', 'KEYWORD'),
  stage: defineSearchAttributeKey('MloStage', 'KEYWORD'),
  candidateVersion: defineSearchAttributeKey('MloCandidateVersion', 'KEYWORD'),
  requestedBy: defineSearchAttributeKey('MloRequestedBy', 'KEYWORD'),
} as const;

export type MloSearchAttributeKey = (typeof SA)[keyof typeof SA];

/** Every key, for registering them with a server. */
export const SEARCH_ATTRIBUTE_KEYS: MloSearchAttributeKey[] = Object.values(SA);

/** The `Name=Type` form the Temporal server's `--search-attribute` flag takes (e.g. `MloModel=Keyword`). */
export function searchAttributeFlag(key: MloSearchAttributeKey): string {
  const type = key.type
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m: string, _sep: string, c: string) => c.toUpperCase());
  return `${key.name}=${type}`;
}
