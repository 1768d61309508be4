/**
 * `mlo status <run>`: where a run stands: its stages, windows, candidate and links; or, for a
 * promotion, rollback or backfill workflow, its own state. A model name means its latest run.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import { promotionStateQuery, type DecisionResult, type PromotionState } from '../../lib/core/definitions';
import { backfillProgressQuery, type BackfillProgress } from '../../workflows/featureBackfill';
import { boolFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import { checkModelName, isWorkflowIdArg, JSON_FLAG, onePositional, within, withTemporal, type Ctx } from '../context';
import {
  decisionCommands,
  failureInfo,
  followRun,
  latestRunOf,
  lookAtRun,
  renderRun,
  viewFor,
  type LookState,
} from '../runs';
import { followBackfill } from './backfill';
import { FailureType } from '../../lib/core/failure-types';

/** Describes a workflow; an unknown id is bad input naming it. */
async function describeOrBadInput(ctx: Ctx, workflowId: string) {
  try {
    return await ctx.client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new BadInputError(
        `no workflow "${workflowId}" in namespace ${ctx.cfg.temporal.namespace}; ` +
          'see `mlo list` (a run is a workflow id, or a model name for its latest run)',
      );
    }
    throw err;
  }
}

export type DecisionReport = {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  state: PromotionState | null;
  result: DecisionResult | null;
  error?: { type?: string; message: string };
  links: { temporal: string };
  commands?: { approve: string; reject: string };
};

async function lookAtDecision(ctx: Ctx, workflowId: string): Promise<DecisionReport> {
  const h = ctx.client.workflow.getHandle(workflowId);
  const d = await h.describe();
  const state = (await within(ctx.connection, 3000, () => h.query(promotionStateQuery))) ?? null;
  let result: DecisionResult | null = null;
  let error: DecisionReport['error'];
  if (d.status.name === 'COMPLETED') result = (await h.result()) as DecisionResult;
  else if (d.status.name !== 'RUNNING') {
    try {
      await h.result();
    } catch (err) {
      const f = failureInfo(err);
      error = { type: f.type, message: f.message };
    }
  }
  return {
    workflowId,
    runId: d.runId,
    type: d.type,
    status: d.status.name,
    state,
    result,
    ...(error ? { error } : {}),
    links: { temporal: temporalUiLink(ctx.cfg, workflowId, d.runId) },
    ...(d.status.name === 'RUNNING' ? { commands: decisionCommands(workflowId) } : {}),
  };
}

export function renderDecision(r: DecisionReport): string[] {
  const s = r.state;
  const lines = [`${r.workflowId} (${r.type})  ${r.status.toLowerCase()}`, `  temporal: ${r.links.temporal}`];
  if (s) {
    const what = r.type === 'rollback' ? 'roll back to' : 'candidate';
    lines.push(
      `  ${s.model}: ${what} version ${s.candidateVersion}, requested by ${s.requestedBy}, status ${s.status}`,
    );
    lines.push(`  reviewers: ${s.reviewers.join(', ')}; deadline ${s.deadline}`);
    const c = s.decision;
    if (c) lines.push(`  decision: ${c.kind} by ${c.reviewer} at ${c.at}${c.reason ? `: ${c.reason}` : ''}`);
    for (const f of s.refusals) {
      const what = f.kind === 'unknown' ? `signal "${f.name ?? ''}"` : `${f.kind} (${f.via})`;
      lines.push(`  refused ${what} by ${f.reviewer} at ${f.at}: ${f.reason}`);
    }
    const unrecorded = s.refusalsNotRecorded ?? 0;
    const unaudited = s.refusalsNotAudited ?? 0;
    if (unrecorded > 0) lines.push(`  ${unrecorded} more refused decision(s) beyond the refusal limits, not recorded`);
    if (unaudited > 0) lines.push(`  ${unaudited} refused decision(s) whose audit record could not be written`);
  } else if (r.status === 'RUNNING') lines.push('  (no worker answered the state query; are the workers running?)');
  if (r.result) lines.push(`  outcome: ${r.result.outcome}: ${r.result.message}`);
  if (r.error) lines.push(`  failed${r.error.type ? ` (${r.error.type})` : ''}: ${r.error.message}`);
  if (r.commands) lines.push(`  approve: ${r.commands.approve}`, `  reject:  ${r.commands.reject}`);
  return lines;
}

function decisionExitCode(r: DecisionReport): ExitCode {
  if (r.result) return r.result.outcome === 'promoted' ? EXIT_CODES.ok : EXIT_CODES.rejected;
  if (r.status === 'RUNNING') return EXIT_CODES.ok;
  return r.error?.type === FailureType.BadInput ? EXIT_CODES.badInput : EXIT_CODES.internal;
}

/** A promotion or rollback: its state, and with --follow its decision (the exit code follows it). */
async function showDecision(ctx: Ctx, workflowId: string, follow: boolean, json: boolean): Promise<ExitCode> {
  let r = await lookAtDecision(ctx, workflowId);
  if (follow && r.status === 'RUNNING') {
    if (!json) console.log(renderDecision(r).join('\n'));
    await ctx.client.workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined);
    r = await lookAtDecision(ctx, workflowId);
  }
  console.log(json ? JSON.stringify(r, null, 2) : renderDecision(r).join('\n'));
  return follow ? decisionExitCode(r) : EXIT_CODES.ok;
}

/** A feature backfill: its partitions while it runs. */
async function showBackfill(ctx: Ctx, d: WorkflowExecutionDescription, json: boolean): Promise<ExitCode> {
  const { workflowId } = d;
  const p: BackfillProgress | null =
    d.status.name === 'RUNNING'
      ? ((await within(ctx.connection, 3000, () =>
          ctx.client.workflow.getHandle(workflowId).query(backfillProgressQuery),
        )) ?? null)
      : null;
  const out = {
    workflowId,
    runId: d.runId,
    type: d.type,
    status: d.status.name,
    progress: p,
    links: { temporal: temporalUiLink(ctx.cfg, workflowId, d.runId) },
  };
  console.log(
    json
      ? JSON.stringify(out, null, 2)
      : [
          `${workflowId} (featureBackfill)  ${d.status.name.toLowerCase()}`,
          ...(p ? [`  partitions ${p.done}/${p.total} (${p.reused} reused)`] : []),
          `  temporal: ${out.links.temporal}`,
        ].join('\n'),
  );
  return EXIT_CODES.ok;
}

/** A trainAndPromote run: one look, or with --follow the run to its end (the exit code is the run's). */
async function showRun(ctx: Ctx, workflowId: string, follow: boolean, json: boolean): Promise<ExitCode> {
  const state: LookState = {};
  if (follow) {
    const { report } = await followRun(ctx, workflowId, viewFor(json), { state });
    if (json) console.log(JSON.stringify(report, null, 2));
    return report.exitCode;
  }
  const report = await lookAtRun(ctx, workflowId, state);
  console.log(json ? JSON.stringify(report, null, 2) : renderRun(report, state, Date.now()).join('\n'));
  return EXIT_CODES.ok;
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  const arg = onePositional(args, 'status', 'a run: a workflow id or a model name');
  const json = boolFlag(args, 'json');
  const follow = boolFlag(args, 'follow');
  return withTemporal(async (ctx) => {
    const workflowId = isWorkflowIdArg(arg) ? arg : await latestRunOf(ctx, checkModelName(arg, 'the model'));
    const d = await describeOrBadInput(ctx, workflowId);
    if (d.type === 'promotion' || d.type === 'rollback') return showDecision(ctx, workflowId, follow, json);
    if (d.type === 'featureBackfill')
      return follow ? followBackfill(ctx, workflowId, json) : showBackfill(ctx, d, json);
    if (d.type !== 'trainAndPromote') throw new BadInputError(`${workflowId} is a ${d.type} workflow, not an mlo run`);
    return showRun(ctx, workflowId, follow, json);
  });
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show where a run stands (stages, windows, candidate, links); a model name means its latest run',
  usage: 'mlo status <workflow-id | model> [--follow] [--json]',
  flags: [
    {
      name: 'follow',
      description: 'follow the run to its end, like train-and-promote --wait; exit with its exit code',
    },
    JSON_FLAG,
  ],
  details: [
    '<run> is a workflow id (train-and-promote/…, promotion/…, rollback/…, backfill/…) or a model name,',
    'which means its most recent trainAndPromote run (MloModel = "<model>" AND WorkflowType = "trainAndPromote").',
    "Without --follow the exit code is 0 whenever the status was shown (the run's own code is the",
    '"exitCode" field of --json); with --follow it is the run\'s exit code.',
  ],
  run,
};
