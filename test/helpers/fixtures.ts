/**
 * Stored workflow histories for the replay test. Tests that run a workflow to an interesting
 * end call `recordHistory`. Under `npm run record-fixtures` (MLO_RECORD_FIXTURES=1 and the release
 * name in MLO_FIXTURES_RELEASE) the history is written to
 * test/fixtures/histories/<release>/<name>.json (commit it) in the proto3 JSON form `historyFromJSON`
 * reads (the form `temporal workflow show --output json` prints), by test/helpers/show-history.ts
 * run to completion, so the file is there when this returns. An existing file is never replaced:
 * the call throws. Without MLO_RECORD_FIXTURES, nothing is written.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { HISTORIES_DIR, writeStoredHistory } from '../../scripts/stored-histories';

export { HISTORIES_DIR };

export function recordHistory(
  name: string,
  handle: WorkflowHandle,
  server: { address: string; namespace: string },
): void {
  if (process.env.MLO_RECORD_FIXTURES !== '1') return;
  const release = process.env.MLO_FIXTURES_RELEASE;
  if (!release)
    throw new Error('MLO_RECORD_FIXTURES=1 without MLO_FIXTURES_RELEASE: record with `npm run record-fixtures`');
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
  writeStoredHistory(release, name, json);
}
