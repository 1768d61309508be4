/**
 * `mlo train-and-promote`: validates the model spec, starts the run (or attaches to the one
 * already running for the same model and window) and follows it stage by stage.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { loadConfig, type Config } from '../../lib/infra/config';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { runInput, startOrAttach, temporalUiLink } from '../../lib/client/runs';
import { findModelSpec, type ModelSpec } from '../../lib/spec/model-spec';
import { STAGES, type TrainAndPromoteInput } from '../../lib/core/definitions';
import { SA } from '../../lib/core/search-attributes';
import { boolFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import {
  dayFlag,
  endDayFlag,
  JSON_FLAG,
  MODELS_DIR_FLAG,
  modelsDir,
  mustBeMe,
  noPositionals,
  requireFlag,
  signedIn,
  todayUtc,
  withTemporal,
  type Ctx,
} from '../context';
import { followRun, readRunInput, viewFor, windowsOf, type RunReport } from '../runs';
import { shellArg } from '../render';
import { computeRunPlan, planWindows, RUN_DAY_FLAGS } from './plan';
import { renderRunPlan } from '../../lib/features/plan';

/**
 * The run's plan (`mlo plan`), printed before the run starts or is attached to. It informs and
 * never blocks: the workers' planning activity decides, on the data as it is when the run plans.
 * A plan that cannot be made (S3 out of reach, no read access) is a note, not an error.
 */
async function printPlan(
  cfg: Config,
  spec: ModelSpec,
  asOf: string,
  trainFrom: string | undefined,
  info: (line: string) => void,
): Promise<void> {
  try {
    const plan = await computeRunPlan(cfg, spec, planWindows(spec, asOf, trainFrom));
    for (const line of renderRunPlan(plan)) info(line);
    if (plan.problems.length > 0)
      info('as the data stands, the run will fail with bad input when it plans its features (see the problems above)');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    info(`plan: not available (${why}); the run plans on the workers`);
  }
}

/** The run as it was just started (or found running): no stage has reported yet. */
function detachedReport(
  cfg: Config,
  d: WorkflowExecutionDescription,
  input: TrainAndPromoteInput,
  running: TrainAndPromoteInput | undefined,
  attached: boolean,
  spec: ModelSpec,
): RunReport {
  return {
    workflowId: d.workflowId,
    runId: d.runId,
    model: input.model,
    status: d.status.name,
    outcome: attached ? 'attached' : 'started',
    exitCode: EXIT_CODES.ok,
    requestedBy: running?.requestedBy ?? d.typedSearchAttributes.get(SA.requestedBy) ?? null,
    candidateVersion: null,
    stages: STAGES.map((stage) => ({ stage, status: 'pending' })),
    windows: windowsOf({ ...input, spec }, undefined, d.startTime),
    links: { temporal: temporalUiLink(cfg, d.workflowId, d.runId) },
    startedAt: d.startTime.toISOString(),
    closedAt: null,
    attached,
  };
}

/** Follows the run to its end; Ctrl-C stops following (exit 0), else the exit code is the run's. */
async function followToEnd(ctx: Ctx, workflowId: string, attached: boolean, json: boolean): Promise<ExitCode> {
  const { report, interrupted } = await followRun(ctx, workflowId, viewFor(json));
  report.attached = attached;
  if (interrupted) {
    const info = (line: string) => (json ? console.error(line) : console.log(line));
    info(`stopped following; the run goes on: mlo status ${shellArg(workflowId)} --follow`);
    if (json) console.log(JSON.stringify(report, null, 2));
    return EXIT_CODES.ok;
  }
  if (json) console.log(JSON.stringify(report, null, 2));
  return report.exitCode;
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'train-and-promote');
  if (boolFlag(args, 'wait') && boolFlag(args, 'detach'))
    throw new BadInputError('--wait and --detach exclude each other; pick one');
  const json = boolFlag(args, 'json');
  const model = requireFlag(args, 'model', 'train-and-promote', 'fraud-detector');
  const { spec } = findModelSpec(model, modelsDir(args));
  const asOf = endDayFlag(args, 'to', 'the as-of day, the exclusive end of the data') ?? todayUtc();
  const trainFrom = dayFlag(args, 'from', "the training window's first day");
  const cfg = loadConfig();
  // The run is requested by whoever starts it: the signed-in identity (rule `requested by caller`).
  const { tokens, me } = await signedIn();
  mustBeMe(args, 'requested-by', me, 'requested by caller', 'a run is requested by whoever starts it');
  const input = { ...runInput(cfg, spec, { asOf, trainFrom, requestedBy: me.name }), asOf };
  const info = (line: string) => (json ? console.error(line) : console.log(line));
  await printPlan(cfg, spec, asOf, trainFrom, info);

  return withTemporal(
    async (ctx) => {
      const { workflowId, attached } = await startOrAttach(ctx.client, cfg, input);
      const d = await ctx.client.workflow.getHandle(workflowId).describe();
      const running = attached ? await readRunInput(ctx, workflowId, d.runId) : input;
      if (attached) {
        const by = running?.requestedBy ?? d.typedSearchAttributes.get(SA.requestedBy);
        info(
          `attached to the running run ${workflowId} (started ${d.startTime.toISOString()}${by ? ` by ${by}` : ''}); ` +
            'no second run was started',
        );
      } else info(`started ${workflowId}`);
      if (!boolFlag(args, 'detach')) return followToEnd(ctx, workflowId, attached, json);

      const report = detachedReport(cfg, d, input, running, attached, spec);
      if (json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(`workflow id: ${workflowId}`);
        console.log(`temporal:    ${report.links.temporal}`);
        console.log(`follow it:   mlo status ${shellArg(workflowId)} --follow`);
      }
      return EXIT_CODES.ok;
    },
    cfg,
    tokens,
  );
}

export const trainAndPromoteCommand: Command = {
  name: 'train-and-promote',
  summary: 'train a model on a data window and take it through the gates to a reviewer',
  usage: 'mlo train-and-promote --model <name> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--wait | --detach] [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model spec to run (models/<name>.yaml)' },
    ...RUN_DAY_FLAGS,
    { name: 'wait', description: 'follow the run to its end (the default)' },
    { name: 'detach', description: 'print the workflow id and its Temporal UI link, and exit 0' },
    {
      name: 'requested-by',
      value: 'E-MAIL',
      description: 'no longer needed: the requester is you, the signed-in user; anyone else is refused',
    },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'The run is requested by you, the signed-in user (`mlo login`, or MLO_TOKEN), who may not approve it.',
    "It first prints the run's plan (as `mlo plan` does; on stderr with --json): windows, partitions to",
    'compute and reuse, lookback coverage, label maturity. The plan informs; the run decides.',
    'One workflow id per model and window (train-and-promote/<model>/[<from>..]<to>): an identical',
    'request while that run is running attaches to it ("attached to the running run …").',
    'Following: on a terminal a live view per stage is redrawn in place; otherwise one line per change;',
    'with --json one object on stdout at the end (see README, "The mlo command"). Ctrl-C stops',
    "following; the run goes on. At the approval step it prints the promotion's Temporal UI link and",
    'the `mlo approve` / `mlo reject` commands.',
    'Exit: 0 promoted (or detached), 2 bad input (also a stage failing with MloBadInput), 3 rejected or',
    'expired, 4 gate failed, 5 Temporal unreachable, 1 any other failure.',
  ],
  run,
};
