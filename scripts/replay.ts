/**
 * Replays the stored histories in test/fixtures/histories against the current workflow code
 * and prints one JSON line: { replayed, failures: [{ workflowId, error }] }. Exit 1 on any
 * failure. (Run as its own process: protobufjs's JSON support needs one module instance.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { PROJECT_ROOT, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../lib/infra/config';

async function main(): Promise<number> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = path.join(PROJECT_ROOT, 'test', 'fixtures', 'histories');
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const histories = files.map((f) => {
    const json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as {
      events?: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[];
    };
    // Replay under the original workflow id: child workflow ids derive from it.
    const workflowId =
      json.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? f.replace(/\.json$/, '');
    return { workflowId, history: historyFromJSON(json) };
  });
  const failures: { workflowId: string; error: string }[] = [];
  let replayed = 0;
  for await (const r of Worker.runReplayHistories(
    {
      workflowsPath: WORKFLOWS_PATH,
      interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
      replayName: 'mlo-replay',
    },
    histories,
  )) {
    replayed++;
    if (r.error) failures.push({ workflowId: r.workflowId, error: r.error.message });
  }
  console.log(JSON.stringify({ replayed, files: files.length, failures }));
  return failures.length === 0 && replayed === files.length ? 0 : 1;
}

main().then(
  (c) => process.exit(c),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
