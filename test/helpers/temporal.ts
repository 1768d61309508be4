/**
 * One Temporal environment per test file: a real server on a random port with mlo's search
 * attributes, torn down with the file. The server is mlo's own binary (server/, the one the dev
 * stack runs, built by `npm run stack -- up`), which takes the Temporal CLI's
 * `server start-dev …` command line; these ephemeral servers run with authentication off.
 */
import path from 'node:path';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_KEYS } from '../../lib/core/search-attributes';
import { SERVER_BINARY, TOOLS_BIN } from '../../lib/stack/tools';

export function temporalServerPath(): string {
  const p = path.join(TOOLS_BIN, SERVER_BINARY);
  if (!fs.existsSync(p))
    throw new Error(`mlo's Temporal server is not at ${p}; run \`npm run stack -- up\` (it builds it) or \`npm test\``);
  return p;
}

export async function createTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalServerPath() },
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      // Authentication off whatever MLO_AUTH says: these servers are the tests' own.
      extraArgs: ['--log-level', 'error', '--auth=false'],
    },
  });
}

/** A unique task queue / workflow id per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
