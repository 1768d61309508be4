/**
 * `mlo list`: recent runs, or (--pending) the promotions and rollbacks awaiting a reviewer,
 * from Temporal's visibility store (mlo's search attributes).
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Config } from '../../lib/infra/config';
import { EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import { SA } from '../../lib/core/search-attributes';
import { boolFlag, intFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import { checkModelName, JSON_FLAG, noPositionals, withTemporal } from '../context';
import { decisionCommands, modelRunsFilter } from '../runs';
import { table } from '../render';

/** The visibility query of `mlo list`. */
export function listQuery(opts: { pending: boolean; model?: string }): string {
  const parts = opts.pending
    ? ['(WorkflowType = "promotion" OR WorkflowType = "rollback")', 'ExecutionStatus = "Running"']
    : ['WorkflowType = "trainAndPromote"'];
  if (opts.model) parts.push(opts.pending ? `MloModel = "${opts.model}"` : modelRunsFilter(opts.model));
  return parts.join(' AND ');
}

/**
 * The STAGE column: where a running run is, where a failed one stopped; for a completed run
 * only "gate-failed" or "already-champion" (its last MloStage otherwise is the promotion's, not its outcome: see `mlo status`).
 */
export function stageColumn(r: Pick<ListedRun, 'status' | 'stage'>): string {
  if (!r.stage) return '';
  if (r.status === 'RUNNING') return r.stage;
  if (r.status === 'COMPLETED') return r.stage === 'gate-failed' || r.stage === 'already-champion' ? r.stage : '';
  return `at ${r.stage}`;
}

export type ListedRun = {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  model: string | null;
  stage: string | null;
  candidateVersion: string | null;
  requestedBy: string | null;
  startedAt: string;
  closedAt: string | null;
  link: string;
  approve?: string;
  reject?: string;
};

/** Up to 5000 executions the query finds, newest first. */
async function findExecutions(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const w of client.workflow.list({ query })) {
    found.push(w);
    if (found.length >= 5000) break;
  }
  return found.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
}

/** One row: the execution and mlo's search attributes; pending decisions also carry the commands. */
function listedRun(cfg: Config, w: WorkflowExecutionInfo, pending: boolean): ListedRun {
  const sa = w.typedSearchAttributes;
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    type: w.type,
    status: w.status.name,
    model: sa.get(SA.model) ?? null,
    stage: sa.get(SA.stage) ?? null,
    candidateVersion: sa.get(SA.candidateVersion) ?? null,
    requestedBy: sa.get(SA.requestedBy) ?? null,
    startedAt: w.startTime.toISOString(),
    closedAt: w.closeTime?.toISOString() ?? null,
    link: temporalUiLink(cfg, w.workflowId, w.runId),
    ...(pending ? decisionCommands(w.workflowId) : {}),
  };
}

const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);

/** The pending decisions: a table, how to decide, and each one's Temporal UI link. */
export function pendingLines(rows: ListedRun[]): string[] {
  return [
    ...table(
      ['WORKFLOW', 'MODEL', 'VERSION', 'REQUESTED BY', 'STAGE', 'STARTED (UTC)'],
      rows.map((r) => [
        r.workflowId,
        r.model ?? '',
        r.candidateVersion ?? '',
        r.requestedBy ?? '',
        r.stage ?? '',
        when(r.startedAt),
      ]),
    ),
    '\ndecide, signed in as a reviewer (`mlo login`), with `mlo approve <workflow>` or ' +
      '`mlo reject <workflow> --reason "…"`',
    'review in the Temporal UI:',
    ...rows.map((r) => `  ${r.link}`),
  ];
}

/** The runs: a table of where each stands. */
export function runLines(rows: ListedRun[]): string[] {
  return table(
    ['WORKFLOW', 'STATUS', 'STAGE', 'VERSION', 'REQUESTED BY', 'STARTED (UTC)'],
    rows.map((r) => [
      r.workflowId,
      r.status.toLowerCase(),
      stageColumn(r),
      r.candidateVersion ?? '',
      r.requestedBy ?? '',
      when(r.startedAt),
    ]),
  );
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'list');
  const model = stringFlag(args, 'model');
  if (model !== undefined) checkModelName(model);
  const pending = boolFlag(args, 'pending');
  const limit = intFlag(args, 'limit', 20, { min: 1, max: 10_000 });
  const json = boolFlag(args, 'json');
  return withTemporal(async ({ client, cfg }) => {
    const found = await findExecutions(client, listQuery({ pending, model }));
    const rows = found.slice(0, limit).map((w) => listedRun(cfg, w, pending));
    if (json) console.log(JSON.stringify(rows, null, 2));
    else if (rows.length === 0)
      console.log(
        pending
          ? `nothing awaits approval${model ? ` for ${model}` : ''}`
          : `no runs${model ? ` of ${model}` : ''} found`,
      );
    else {
      console.log((pending ? pendingLines(rows) : runLines(rows)).join('\n'));
      if (found.length > rows.length) console.log(`(${found.length - rows.length} more; raise --limit)`);
    }
    return EXIT_CODES.ok;
  });
}

export const listCommand: Command = {
  name: 'list',
  summary: 'list recent runs, or the promotions and rollbacks awaiting approval (--pending)',
  usage: 'mlo list [--pending] [--model <name>] [--limit N] [--json]',
  flags: [
    {
      name: 'pending',
      description:
        'promotions and rollbacks awaiting a decision (WorkflowType promotion|rollback, ExecutionStatus Running)',
    },
    { name: 'model', value: 'NAME', description: 'only this model (MloModel)' },
    { name: 'limit', value: 'N', description: 'at most N rows, newest first', default: '20' },
    JSON_FLAG,
  ],
  run,
};
