/**
 * The workflow code, bundled once per test file. A worker created with `workflowsPath`
 * bundles workflows/ again (seconds of webpack each time); every worker of a file shares
 * this bundle instead. Vitest runs each file in its own module graph, so "once per module"
 * is once per file. Like the workers' bundle, it holds mlo's workflow interceptors.
 */
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../lib/infra/config';

let bundle: Promise<WorkflowBundle> | undefined;

/** For `Worker.create({ workflowBundle: await workflowBundle(), ... })`. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  }).then(({ code }) => ({ code }));
  return bundle;
}
