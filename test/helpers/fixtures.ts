/**
 * Stored workflow histories for the replay test. Tests that run a workflow to an interesting
 * end call `recordHistory`; with MLO_RECORD_FIXTURES=1 the history is written to
 * test/fixtures/histories/<name>.json (commit it) in the proto3 JSON form `historyFromJSON`
 * reads (the form `temporal workflow show --output json` prints), by test/helpers/show-history.ts
 * run to completion, so the file is there when this returns. Without it, nothing is written.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { PROJECT_ROOT } from '../../lib/infra/config';

export const HISTORIES_DIR = path.join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

export function recordHistory(
  name: string,
  handle: WorkflowHandle,
  server: { address: string; namespace: string },
): void {
  if (process.env.MLO_RECORD_FIXTURES !== '1') return;
  const json = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(PROJECT_ROOT, 'test', 'helpers', 'show-history.ts'),
      server.address,
      server.namespace,
      handle.workflowId,
    ],
    { cwd: PROJECT_ROOT, encoding: 'utf8' },
  );
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), json);
}
