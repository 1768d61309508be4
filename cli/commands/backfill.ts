/**
 * `mlo backfill`: computes a model's feature snapshot for a day range (the featureBackfill
 * workflow on its own, outside a run), showing partitions done/total.
 */
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { loadConfig } from '../../lib/infra/config';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { temporalUiLink } from '../../lib/client/runs';
import { findModelSpec } from '../../lib/spec/model-spec';
import type { FeatureSnapshotRef } from '../../activities/types';
import {
  backfillProgressQuery,
  type BackfillProgress,
  type FeatureBackfillInput,
  type featureBackfill,
} from '../../workflows/featureBackfill';
import { boolFlag } from '../args';
import type { Command } from '../command';
import {
  dayFlag,
  endDayFlag,
  JSON_FLAG,
  MODELS_DIR_FLAG,
  modelsDir,
  noPositionals,
  requireFlag,
  within,
  withTemporal,
  type Ctx,
} from '../context';
import { backfillWorkflowId } from '../../lib/core/ids';
import { exitCodeFor, failureInfo, viewFor } from '../runs';
import { formatElapsed, LiveView, shellArg } from '../render';

export type BackfillReport = {
  workflowId: string;
  runId: string;
  status: string;
  progress: BackfillProgress | null;
  snapshot: FeatureSnapshotRef | null;
  error?: { type?: string; message: string };
  links: { temporal: string };
  exitCode: ExitCode;
};

/** The line of a running backfill: its partitions, or that no worker answered yet. */
function runningLine(progress: BackfillProgress | null, taskQueue: string): string {
  return progress
    ? `partitions ${progress.done}/${progress.total} (${progress.reused} reused)`
    : `waiting for a worker on task queue ${taskQueue}`;
}

/** The closed backfill: its snapshot, or its failure and the exit code of that failure. */
async function backfillReport(
  ctx: Ctx,
  h: WorkflowHandle,
  d: WorkflowExecutionDescription,
  progress: BackfillProgress | null,
): Promise<BackfillReport> {
  const report: BackfillReport = {
    workflowId: d.workflowId,
    runId: d.runId,
    status: d.status.name,
    progress,
    snapshot: null,
    links: { temporal: temporalUiLink(ctx.cfg, d.workflowId, d.runId) },
    exitCode: EXIT_CODES.ok,
  };
  try {
    report.snapshot = (await h.result()) as FeatureSnapshotRef;
    report.progress = {
      done: report.snapshot.partitions,
      total: report.snapshot.partitions,
      reused: progress?.reused ?? 0,
      unit: 'partitions',
    };
  } catch (err) {
    const f = failureInfo(err);
    report.error = { type: f.type, message: f.message };
    report.exitCode = exitCodeFor('failed', f.type);
  }
  return report;
}

/** The end of a backfill as text: the snapshot, or the failure. */
export function backfillEndLine(report: BackfillReport): string {
  const s = report.snapshot;
  if (s)
    return (
      `done: ${s.partitions} partitions, ${s.rows} rows (${s.labeledRows} labeled, ${s.positives} positive); ` +
      `manifest ${s.manifestUri} (hash ${s.hash.slice(0, 16)})`
    );
  const type = report.error?.type ? ` (${report.error.type})` : '';
  return `failed${type}: ${report.error?.message ?? report.status} (exit ${report.exitCode})`;
}

/**
 * A backfill's partitions done/total, from the latest run of its workflow id: the handle names
 * no run, so the query follows the chain across continue-as-new (a backfill of years is several
 * runs, each carrying the partitions done before it). Undefined while no worker answers.
 */
export function readBackfillProgress(ctx: Pick<Ctx, 'client' | 'connection'>, workflowId: string) {
  return within(ctx.connection, 3000, () => ctx.client.workflow.getHandle(workflowId).query(backfillProgressQuery));
}

/** Follows a backfill to its end (partitions done/total), then prints the snapshot. */
export async function followBackfill(ctx: Ctx, workflowId: string, json: boolean): Promise<ExitCode> {
  const view = viewFor(json);
  const live = view === 'live' ? new LiveView(process.stdout) : undefined;
  const h = ctx.client.workflow.getHandle(workflowId);
  let last = '';
  let progress: BackfillProgress | null = null;
  for (;;) {
    const d = await h.describe();
    if (d.status.name === 'RUNNING') {
      progress = (await readBackfillProgress(ctx, workflowId)) ?? progress;
      const line = runningLine(progress, d.taskQueue);
      if (live)
        live.draw([`${workflowId}  running for ${formatElapsed(Date.now() - d.startTime.getTime())}`, `  ${line}`]);
      else if (view === 'plain' && line !== last) console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
      last = line;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    live?.done();
    const report = await backfillReport(ctx, h, d, progress);
    console.log(json ? JSON.stringify(report, null, 2) : backfillEndLine(report));
    return report.exitCode;
  }
}

export const backfillCommand: Command = {
  name: 'backfill',
  summary: "compute a model's point-in-time feature snapshot for a day range",
  usage: 'mlo backfill --model <name> --from YYYY-MM-DD --to YYYY-MM-DD [--wait] [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model spec whose features to compute' },
    { name: 'from', value: 'YYYY-MM-DD', description: 'first day (inclusive)' },
    {
      name: 'to',
      value: 'YYYY-MM-DD',
      description: 'end day (exclusive); labels known before it count (label cut-off <to>T00:00Z)',
    },
    {
      name: 'wait',
      description: 'follow it to the end (partitions done/total); default: print the workflow id and exit',
    },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'Workflow id backfill/<model>/<from>..<to>: a second identical request attaches to the running one.',
    'Partitions already computed with the same features are reused (content-addressed).',
  ],
  async run(args) {
    noPositionals(args, 'backfill');
    const json = boolFlag(args, 'json');
    const model = requireFlag(args, 'model', 'backfill', 'fraud-detector');
    const { spec } = findModelSpec(model, modelsDir(args));
    const from = dayFlag(args, 'from', 'the first day');
    const to = endDayFlag(args, 'to', 'the exclusive end day');
    if (!from || !to)
      throw new BadInputError('`mlo backfill` needs --from and --to, e.g. --from 2026-01-01 --to 2026-03-01');
    if (from >= to) throw new BadInputError(`--from ${from} must be before --to ${to}`);
    const cfg = loadConfig();
    const input: FeatureBackfillInput = {
      model: spec.name,
      featureSet: featureSetFromSpec(spec),
      range: { from, to },
      labelCutoff: `${to}T00:00:00.000Z`,
      // The partitions' own queue: the CPU pool's feature slots.
      cpuQueue: cfg.taskQueues.features,
    };
    const workflowId = backfillWorkflowId(spec.name, from, to);
    const info = (line: string) => (json ? console.error(line) : console.log(line));
    return withTemporal(async (ctx) => {
      let attached = false;
      try {
        attached = (await ctx.client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
      } catch {
        /* not started yet */
      }
      const h = await ctx.client.workflow.start<typeof featureBackfill>('featureBackfill', {
        taskQueue: cfg.taskQueues.orchestrator,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        staticSummary: `Feature backfill of ${spec.name} for ${from}..${to}`,
      });
      const link = temporalUiLink(cfg, workflowId);
      info(`${attached ? 'attached to the running backfill' : 'started'} ${workflowId}`);
      if (!boolFlag(args, 'wait')) {
        if (json)
          console.log(
            JSON.stringify({ workflowId, runId: h.firstExecutionRunId, attached, links: { temporal: link } }, null, 2),
          );
        else console.log(`temporal: ${link}\nfollow it: mlo status ${shellArg(workflowId)} --follow`);
        return EXIT_CODES.ok;
      }
      if (!json) console.log(`temporal: ${link}`);
      return followBackfill(ctx, workflowId, json);
    }, cfg);
  },
};
