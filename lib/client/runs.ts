/**
 * Starting and following trainAndPromote runs: shared by the CLI, the demo and schedules.
 * One workflow id per model and data window, so an identical request attaches to the run
 * in flight instead of starting a twin.
 */
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { TrainAndPromoteWorkflow } from '../core/definitions';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../infra/config';
import { BadInputError } from '../core/errors';
import { specHash, type ModelSpec } from '../spec/model-spec';
import { localSpecWithHash } from '../spec/deployed';
import { isDay } from '../core/windows';
import type { TrainAndPromoteInput } from '../core/definitions';
import { SA } from '../core/search-attributes';
import { runWorkflowId } from '../core/ids';

/**
 * A run's input: the model and the hash of its validated spec, never the spec itself (the
 * workers run the spec they deploy, and only if its hash is this one).
 */
export function runInput(
  cfg: Config,
  spec: ModelSpec,
  opts: { asOf?: string; trainFrom?: string; requestedBy: string },
): TrainAndPromoteInput {
  if (opts.asOf !== undefined && !isDay(opts.asOf))
    throw new BadInputError(`--to "${opts.asOf}" is not a day; use YYYY-MM-DD (the exclusive end of the data window)`);
  if (opts.trainFrom !== undefined && !isDay(opts.trainFrom))
    throw new BadInputError(`--from "${opts.trainFrom}" is not a day; use YYYY-MM-DD`);
  if (opts.trainFrom && opts.asOf && opts.trainFrom >= opts.asOf)
    throw new BadInputError(`--from ${opts.trainFrom} must be before --to ${opts.asOf}`);
  if (!/^[^\s@]+@[^\s@]+$|^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(opts.requestedBy))
    throw new BadInputError(
      `the requester "${opts.requestedBy}" is neither an e-mail address nor a service's subject; ` +
        'a run is requested by the signed-in identity (see `mlo whoami`)',
    );
  return {
    model: spec.name,
    specHash: specHash(spec),
    asOf: opts.asOf,
    trainFrom: opts.trainFrom,
    requestedBy: opts.requestedBy,
    queues: {
      cpu: cfg.taskQueues.cpu,
      gpu: cfg.taskQueues.gpu,
      features: cfg.taskQueues.features,
      evaluation: cfg.taskQueues.evaluation,
      cpuTraining: cfg.taskQueues.cpuTraining,
    },
  };
}

/**
 * The spec a run was started with, for display: the input's (runs started before the deployed
 * spec carried it), else this machine's copy when its hash is the run's; undefined otherwise.
 */
export function specOfRun(input: TrainAndPromoteInput, modelsDir?: string): ModelSpec | undefined {
  return input.spec ?? localSpecWithHash(input.model, input.specHash, modelsDir);
}

/** Starts the run, or attaches to the one already running for the same model and window. */
export async function startOrAttach(
  client: Client,
  cfg: Config,
  input: TrainAndPromoteInput & { asOf: string },
): Promise<{ handle: WorkflowHandle<TrainAndPromoteWorkflow>; attached: boolean; workflowId: string }> {
  const workflowId = runWorkflowId(input.model, input.asOf, input.trainFrom);
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    if (d.status.name === 'RUNNING')
      return { handle: client.workflow.getHandle<TrainAndPromoteWorkflow>(workflowId), attached: true, workflowId };
  } catch {
    /* not started yet */
  }
  const handle = await client.workflow.start<TrainAndPromoteWorkflow>('trainAndPromote', {
    taskQueue: cfg.taskQueues.orchestrator,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    staticSummary: `Train and promote ${input.model} on data up to ${input.asOf}, requested by ${input.requestedBy}`,
    typedSearchAttributes: [
      { key: SA.model, value: input.model },
      { key: SA.requestedBy, value: input.requestedBy },
    ],
  });
  return { handle, attached: false, workflowId };
}

export function temporalUiLink(cfg: Config, workflowId: string, runId?: string): string {
  const workflow = `workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}`;
  return `${cfg.temporal.uiUrl}/namespaces/${encodeURIComponent(cfg.temporal.namespace)}/${workflow}`;
}
