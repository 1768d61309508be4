/**
 * The workflow code, bundled once per test file. A worker created with `workflowsPath`
 * bundles workflows/ again (seconds of webpack each time); every worker of a file shares
 * this bundle instead. Vitest runs each file in its own module graph, so "once per module"
 * is once per file.
 */
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../lib/infra/config';

let bundle: Promise<WorkflowBundle> | undefined;

/** For `Worker.create({ workflowBundle: await workflowBundle(), ... })`. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }).then(
    ({ code }) => ({ code }),
  );
  return bundle;
}
