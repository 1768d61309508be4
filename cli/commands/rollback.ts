/**
 * `mlo rollback`: starts the rollback workflow, which moves `champion` back to the previous
 * champion (or a named former champion) after a reviewer's approval, or at once with --emergency.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../../lib/infra/config';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import { findModelSpec, specHash } from '../../lib/spec/model-spec';
import type { DecisionResult } from '../../lib/core/definitions';
import { type rollback, type RollbackInput } from '../../workflows/rollback';
import { boolFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import {
  JSON_FLAG,
  MODELS_DIR_FLAG,
  modelsDir,
  mustBeMe,
  noPositionals,
  requireFlag,
  signedIn,
  withTemporal,
} from '../context';
import { decisionCommands, exitCodeFor, failureInfo } from '../runs';
import { rollbackWorkflowId } from '../../lib/core/ids';

/**
 * The rollback the flags ask for, with the hash of the local model spec: the workers load their
 * deployed spec with it and take its reviewers and deadline from there.
 */
function rollbackRequest(args: ParsedArgs): {
  input: Omit<RollbackInput, 'cpuQueue' | 'requestedBy'>;
  reviewers: string[];
} {
  const model = requireFlag(args, 'model', 'rollback', 'fraud-detector');
  const reason = requireFlag(args, 'reason', 'rollback', '"AUC dropped in production"');
  const toVersion = stringFlag(args, 'to-version');
  if (toVersion !== undefined && !/^[1-9]\d*$/.test(toVersion))
    throw new BadInputError(`--to-version "${toVersion}" is not a model version number, e.g. --to-version 3`);
  const { spec } = findModelSpec(model, modelsDir(args));
  const input = {
    model: spec.name,
    specHash: specHash(spec),
    toVersion,
    reason,
    emergency: boolFlag(args, 'emergency'),
  };
  return { input, reviewers: spec.promotion.reviewers };
}

/** Starts the rollback workflow; a rollback of the model that is already running is bad input. */
async function startRollback(client: Client, cfg: Config, workflowId: string, input: RollbackInput): Promise<string> {
  const { model, toVersion, emergency, requestedBy, reason } = input;
  try {
    const h = await client.workflow.start<typeof rollback>('rollback', {
      taskQueue: cfg.taskQueues.orchestrator,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary:
        `Roll back ${model}${toVersion ? ` to version ${toVersion}` : ''}${emergency ? ' (emergency)' : ''}, ` +
        `requested by ${requestedBy}: ${reason}`,
    });
    return h.firstExecutionRunId;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BadInputError(
        `a rollback of ${model} is already running (${temporalUiLink(cfg, workflowId)}); ` +
          `decide it (a reviewer runs: mlo approve ${workflowId}) or wait for it`,
      );
    }
    throw err;
  }
}

/** Waits for the rollback's outcome and prints it; the exit code follows the outcome or the failure type. */
async function awaitRollback(
  client: Client,
  started: { workflowId: string; runId: string; emergency: boolean; link: string },
  json: boolean,
): Promise<ExitCode> {
  const { workflowId, runId, emergency, link } = started;
  try {
    const r: DecisionResult = await client.workflow.getHandle<typeof rollback>(workflowId, runId).result();
    const exitCode = exitCodeFor(r.outcome);
    if (json)
      console.log(JSON.stringify({ workflowId, runId, ...r, emergency, links: { temporal: link }, exitCode }, null, 2));
    else console.log(`${r.outcome === 'promoted' ? 'rolled back' : r.outcome}: ${r.message}`);
    return exitCode;
  } catch (err) {
    const f = failureInfo(err);
    const exitCode = exitCodeFor('failed', f.type);
    if (json)
      console.log(
        JSON.stringify(
          { workflowId, runId, outcome: 'failed', error: f, links: { temporal: link }, exitCode },
          null,
          2,
        ),
      );
    else console.log(`failed${f.type ? ` (${f.type})` : ''}: ${f.message} (exit ${exitCode})`);
    return exitCode;
  }
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'rollback');
  const json = boolFlag(args, 'json');
  const request = rollbackRequest(args);
  const cfg = loadConfig();
  const { tokens, me } = await signedIn();
  mustBeMe(args, 'requested-by', me, 'rollback', 'a rollback is requested by whoever starts it');
  const input: RollbackInput = { ...request.input, requestedBy: me.name, cpuQueue: cfg.taskQueues.cpu };
  const { emergency } = input;
  const { reviewers } = request;
  const workflowId = rollbackWorkflowId(input.model);
  const info = (line: string) => (json ? console.error(line) : console.log(line));
  return withTemporal(
    async ({ client }) => {
      const runId = await startRollback(client, cfg, workflowId, input);
      const link = temporalUiLink(cfg, workflowId, runId);
      info(`started ${workflowId}${emergency ? ' (emergency: no approval)' : ''}\n  temporal: ${link}`);
      const cmds = decisionCommands(workflowId);
      if (!emergency)
        info(`  a reviewer (${reviewers.join(', ')}) decides:\n  approve: ${cmds.approve}\n  reject:  ${cmds.reject}`);
      if (boolFlag(args, 'wait')) return awaitRollback(client, { workflowId, runId, emergency, link }, json);
      if (json) {
        const out = {
          workflowId,
          runId,
          outcome: 'started',
          emergency,
          links: { temporal: link },
          exitCode: EXIT_CODES.ok,
        };
        console.log(JSON.stringify(out, null, 2));
      }
      return EXIT_CODES.ok;
    },
    cfg,
    tokens,
  );
}

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: "move a model's champion alias back to a former champion (reviewed, or --emergency)",
  usage: 'mlo rollback --model <name> --reason "…" [--to-version N] [--emergency] [--wait] [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model to roll back' },
    { name: 'reason', value: 'TEXT', description: 'why (required; audited)' },
    {
      name: 'to-version',
      value: 'N',
      description: 'a version that once was champion',
      default: 'the champion before the current one',
    },
    { name: 'emergency', description: "move at once, without a reviewer's approval (audited as an emergency)" },
    {
      name: 'requested-by',
      value: 'E-MAIL',
      description: 'no longer needed: the requester is you, the signed-in user; anyone else is refused',
    },
    { name: 'wait', description: 'wait for the outcome; default: print the workflow id and exit' },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'Requested by you, the signed-in user: a reviewer of the model or an admin (--emergency: admins only, the',
    "server's `rollback` rule). Workflow id rollback/<model> on the orchestrator queue; reviewers and deadline come from the model spec's",
    'promotion section. Unless --emergency, a reviewer, signed in, decides with `mlo approve rollback/<model>`.',
    'With --wait: exit 0 rolled back, 3 rejected or expired, 2 bad input (e.g. no former champion), ' +
      '1 other failures.',
  ],
  run,
};
