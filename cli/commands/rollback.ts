/**
 * `mlo rollback`: starts the rollback workflow, which moves `champion` back to the previous
 * champion (or a named former champion) after a reviewer's approval, or at once with --emergency.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { loadConfig } from '../../lib/infra/config';
import { BadInputError, EXIT_CODES } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import { findModelSpec } from '../../lib/spec/model-spec';
import type { DecisionResult } from '../../lib/core/definitions';
import { type rollback, type RollbackInput } from '../../workflows/rollback';
import { boolFlag, stringFlag } from '../args';
import type { Command } from '../command';
import { JSON_FLAG, MODELS_DIR_FLAG, modelsDir, noPositionals, requester, requireFlag, withTemporal } from '../context';
import { decisionCommands, exitCodeFor, failureInfo } from '../runs';
import { rollbackWorkflowId } from '../../lib/core/ids';

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: "move a model's champion alias back to a former champion (reviewed, or --emergency)",
  usage:
    'mlo rollback --model <name> --reason "…" [--to-version N] [--emergency] [--requested-by <who>] [--wait] [--json]',
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
      value: 'WHO',
      description: 'recorded as the requester (may not approve)',
      default: '$MLO_USER or the OS user',
    },
    { name: 'wait', description: 'wait for the outcome; default: print the workflow id and exit' },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    "Workflow id rollback/<model> on the orchestrator queue; reviewers and deadline come from the model spec's",
    'promotion section. Unless --emergency, a reviewer decides with `mlo approve rollback/<model> --reviewer …`.',
    'With --wait: exit 0 rolled back, 3 rejected or expired, 2 bad input (e.g. no former champion), 1 other failures.',
  ],
  async run(args) {
    noPositionals(args, 'rollback');
    const json = boolFlag(args, 'json');
    const model = requireFlag(args, 'model', 'rollback', 'fraud-detector');
    const reason = requireFlag(args, 'reason', 'rollback', '"AUC dropped in production"');
    const toVersion = stringFlag(args, 'to-version');
    if (toVersion !== undefined && !/^[1-9]\d*$/.test(toVersion))
      throw new BadInputError(`--to-version "${toVersion}" is not a model version number, e.g. --to-version 3`);
    const { spec } = findModelSpec(model, modelsDir(args));
    const emergency = boolFlag(args, 'emergency');
    const requestedBy = requester(args);
    const cfg = loadConfig();
    const input: RollbackInput = {
      model: spec.name,
      toVersion,
      requestedBy,
      reason,
      emergency,
      reviewers: spec.promotion.reviewers,
      deadline: spec.promotion.deadline,
      cpuQueue: cfg.taskQueues.cpu,
    };
    const workflowId = rollbackWorkflowId(spec.name);
    const info = (line: string) => (json ? console.error(line) : console.log(line));
    return withTemporal(async ({ client }) => {
      let runId: string;
      try {
        const h = await client.workflow.start<typeof rollback>('rollback', {
          taskQueue: cfg.taskQueues.orchestrator,
          workflowId,
          args: [input],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          staticSummary: `Roll back ${spec.name}${toVersion ? ` to version ${toVersion}` : ''}${emergency ? ' (emergency)' : ''}, requested by ${requestedBy}: ${reason}`,
        });
        runId = h.firstExecutionRunId;
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new BadInputError(
            `a rollback of ${spec.name} is already running (${temporalUiLink(cfg, workflowId)}); decide it (mlo approve ${workflowId} --reviewer …) or wait for it`,
          );
        }
        throw err;
      }
      const link = temporalUiLink(cfg, workflowId, runId);
      info(`started ${workflowId}${emergency ? ' (emergency: no approval)' : ''}\n  temporal: ${link}`);
      const cmds = decisionCommands(workflowId);
      if (!emergency)
        info(
          `  a reviewer (${spec.promotion.reviewers.join(', ')}) decides:\n  approve: ${cmds.approve}\n  reject:  ${cmds.reject}`,
        );
      if (!boolFlag(args, 'wait')) {
        if (json)
          console.log(
            JSON.stringify(
              { workflowId, runId, outcome: 'started', emergency, links: { temporal: link }, exitCode: EXIT_CODES.ok },
              null,
              2,
            ),
          );
        return EXIT_CODES.ok;
      }
      try {
        const r: DecisionResult = await client.workflow.getHandle<typeof rollback>(workflowId, runId).result();
        const exitCode = exitCodeFor(r.outcome);
        if (json)
          console.log(
            JSON.stringify({ workflowId, runId, ...r, emergency, links: { temporal: link }, exitCode }, null, 2),
          );
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
    }, cfg);
  },
};
