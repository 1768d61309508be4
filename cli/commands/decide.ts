/**
 * `mlo approve` and `mlo reject`: send the reviewer's decision as a Temporal Update to the
 * promotion (or rollback) workflow. The reviewer is the signed-in user: the Temporal server
 * accepts a decision only from a reviewer of the model whose e-mail is the payload's `reviewer`
 * (rules `reviewers`, `reviewer is caller`, `four eyes`); the workflow then decides, and records
 * a refusal in the audit trail. A refusal, by either, is printed as it is and exits 2.
 */
import { WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { errorChain } from '../../lib/core/causes';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import {
  approveUpdate,
  rejectUpdate,
  type Approval,
  type DecisionResult,
  type Rejection,
} from '../../lib/core/definitions';
import { boolFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import {
  checkModelName,
  isWorkflowIdArg,
  JSON_FLAG,
  mustBeMe,
  onePositional,
  requireFlag,
  signedIn,
  withTemporal,
  type Ctx,
} from '../context';
import { modelOfWorkflowId, promotionWorkflowId, rollbackWorkflowId } from '../../lib/core/ids';
import { FailureType } from '../../lib/core/failure-types';

/**
 * The workflow that takes the decision: a promotion or rollback id as given; for a
 * trainAndPromote run id, its model's promotion (which must belong to that run); for a model
 * name, its pending promotion, else its pending rollback.
 */
async function resolveDecisionTarget(ctx: Ctx, arg: string): Promise<string> {
  const running = async (id: string) => {
    try {
      const d = await ctx.client.workflow.getHandle(id).describe();
      return d.status.name === 'RUNNING' ? d : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };
  if (/^(promotion|rollback)\//.test(arg)) {
    if (!(await running(arg)))
      throw new BadInputError(
        `${arg} is not awaiting a decision (no such running workflow); see \`mlo list --pending\``,
      );
    return arg;
  }
  if (isWorkflowIdArg(arg)) {
    const model = modelOfWorkflowId(arg);
    if (!model)
      throw new BadInputError(
        `"${arg}" is not an mlo run id (train-and-promote/<model>/…, promotion/<model> or rollback/<model>)`,
      );
    const pid = promotionWorkflowId(model);
    const d = await running(pid);
    if (!d)
      throw new BadInputError(
        `no promotion of ${model} is awaiting a decision (${pid} is not running); see \`mlo status ${arg}\``,
      );
    const parent = d.parentExecution?.workflowId;
    if (parent && parent !== arg)
      throw new BadInputError(
        `the pending promotion of ${model} belongs to run ${parent}, not ${arg} (which waits for it to finish); ` +
          `decide that one: mlo approve ${parent} …`,
      );
    return pid;
  }
  const model = checkModelName(arg, 'the model');
  for (const id of [promotionWorkflowId(model), rollbackWorkflowId(model)]) if (await running(id)) return id;
  const ids = `neither ${promotionWorkflowId(model)} nor ${rollbackWorkflowId(model)} is running`;
  throw new BadInputError(`nothing of ${model} awaits a decision (${ids}); see \`mlo list --pending\``);
}

function refusalMessage(err: WorkflowUpdateFailedError): string {
  const chain = errorChain(err.cause);
  const e = chain.find((x) => x instanceof ApplicationFailure && x.message) ?? chain[chain.length - 1];
  return e ? e.message : err.message;
}

async function decide(kind: 'approve' | 'reject', args: ParsedArgs): Promise<ExitCode> {
  const cmd = kind;
  const arg = onePositional(
    args,
    cmd,
    'a run: the trainAndPromote workflow id, the promotion (or rollback) workflow id, or the model name',
  );
  if (kind === 'reject') requireFlag(args, 'reason', kind, '"recall on DE dropped"'); // bad input before signing in
  const { tokens, me } = await signedIn();
  mustBeMe(args, 'reviewer', me, 'reviewer is caller', 'a decision is recorded under the identity of whoever sends it');
  const reviewer = me.name;
  const payload = decisionPayload(kind, args, reviewer);
  const json = boolFlag(args, 'json');
  const info = (line: string) => (json ? console.error(line) : console.log(line));

  return withTemporal(
    async (ctx) => {
      const target = await resolveDecisionTarget(ctx, arg);
      const what = kind === 'approve' ? 'the approval' : 'the rejection';
      info(`sending ${what} by ${reviewer} to ${target} (${temporalUiLink(ctx.cfg, target)})`);
      let result: DecisionResult;
      try {
        result = await sendDecision(ctx.client.workflow.getHandle(target), kind, payload);
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) return refused(err, kind, target, reviewer, json);
        throw err;
      }
      if (json) {
        const out = {
          workflowId: target,
          decision: kind,
          reviewer,
          accepted: true,
          ...result,
          exitCode: EXIT_CODES.ok,
        };
        console.log(JSON.stringify(out, null, 2));
      } else console.log(`${result.outcome}: ${result.message}`);
      return EXIT_CODES.ok;
    },
    undefined,
    tokens,
  );
}

type Kind = 'approve' | 'reject';

/** The Update's argument: the approval (with an optional comment) or the rejection (with its reason). */
function decisionPayload(kind: Kind, args: ParsedArgs, reviewer: string): Approval | Rejection {
  const version = stringFlag(args, 'version');
  if (kind === 'approve')
    return {
      reviewer,
      ...(version ? { candidateVersion: version } : {}),
      ...(stringFlag(args, 'comment') ? { comment: stringFlag(args, 'comment') } : {}),
    };
  return {
    reviewer,
    reason: requireFlag(args, 'reason', kind, '"recall on DE dropped"'),
    ...(version ? { candidateVersion: version } : {}),
  };
}

/** Sends the decision as an Update and waits for the workflow's answer. */
async function sendDecision(h: WorkflowHandle, kind: Kind, payload: Approval | Rejection): Promise<DecisionResult> {
  const upd =
    kind === 'approve'
      ? await h.startUpdate(approveUpdate, {
          args: [payload as Approval],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        })
      : await h.startUpdate(rejectUpdate, {
          args: [payload as Rejection],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
  return upd.result();
}

/**
 * A decision the workflow refused: exit 2 with its message; a champion someone else moved meanwhile
 * exits 1. With --json, the refusal is also printed as an object.
 */
function refused(
  err: WorkflowUpdateFailedError,
  kind: Kind,
  target: string,
  reviewer: string,
  json: boolean,
): ExitCode {
  const message = refusalMessage(err);
  const refusedType = err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
  if (json) {
    const out = {
      workflowId: target,
      decision: kind,
      reviewer,
      accepted: false,
      message,
      exitCode: EXIT_CODES.badInput,
    };
    console.log(JSON.stringify(out, null, 2));
  }
  if (refusedType === FailureType.ChampionMoved) {
    console.error(`mlo ${kind}: ${message}`);
    return EXIT_CODES.internal;
  }
  // With --json the refusal is the one object printed: exit 2 without a second (error) object.
  if (json) {
    console.error(`mlo ${kind}: refused by ${target}: ${message}`);
    return EXIT_CODES.badInput;
  }
  throw new BadInputError(`refused by ${target}: ${message}`);
}

const common = [
  {
    name: 'reviewer',
    value: 'E-MAIL',
    description: 'no longer needed: the reviewer is you, the signed-in user; anyone else is refused',
  },
  {
    name: 'version',
    value: 'N',
    description: 'the candidate version you reviewed; refused if it is not the one pending',
  },
];
const targetHelp = [
  "You decide as the signed-in user (`mlo login`, or MLO_TOKEN): one of the model spec's promotion.reviewers.",
  '<run> is the trainAndPromote workflow id, the promotion workflow id (promotion/<model>), a rollback',
  'workflow id (rollback/<model>), or a model name (its pending promotion, else its pending rollback).',
  'The decision is a Temporal Update; the Temporal server and then the workflow check it. A refusal (not a reviewer,',
  'the requester approving, already decided, deadline passed, wrong version) is printed and exits 2; the workflow',
  "records the refusals it makes in the model's audit trail (`mlo audit`).",
];

export const approveCommand: Command = {
  name: 'approve',
  summary: 'approve a pending promotion (or rollback): moves the champion alias',
  usage: 'mlo approve <run> [--comment "…"] [--version N] [--json]',
  flags: [...common, { name: 'comment', value: 'TEXT', description: 'recorded in the audit trail' }, JSON_FLAG],
  details: targetHelp,
  run: (args) => decide('approve', args),
};

export const rejectCommand: Command = {
  name: 'reject',
  summary: 'reject a pending promotion (or rollback): nothing moves, the reason is audited',
  usage: 'mlo reject <run> --reason "…" [--version N] [--json]',
  flags: [
    ...common,
    { name: 'reason', value: 'TEXT', description: 'why (required; recorded in the audit trail)' },
    JSON_FLAG,
  ],
  details: targetHelp,
  run: (args) => decide('reject', args),
};
