/**
 * One Temporal environment per test file: a real dev server (the stack's Temporal CLI
 * binary) on a random port with mlo's search attributes, torn down with the file.
 */
import path from 'node:path';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { SEARCH_ATTRIBUTE_KEYS } from '../../lib/core/search-attributes';

export function temporalCliPath(): string {
  const p = path.join(PROJECT_ROOT, '.tools', 'bin', 'temporal');
  if (!fs.existsSync(p))
    throw new Error(`the Temporal CLI is not at ${p}; run \`npm run stack -- up\` (it builds it) or \`npm test\``);
  return p;
}

export async function createTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      extraArgs: ['--log-level', 'error'],
    },
  });
}

/** A unique task queue / workflow id per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
