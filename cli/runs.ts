/**
 * Looking at and following trainAndPromote runs: one look (describe, the progress query, the
 * backfill child's partitions, the result or failure), the report printed as text or JSON,
 * and the follow loop that redraws a live view on a terminal or prints one line per change.
 */
import type { WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, defineSearchAttributeKey } from '@temporalio/common';
import { BadInputError, EXIT_CODES, type ExitCode } from '../lib/core/errors';
import { MlflowClient, quoteFilterValue, tagFilterKey } from '../lib/registry/mlflow';
import { specOfRun, temporalUiLink } from '../lib/client/runs';
import type { ModelSpec } from '../lib/spec/model-spec';
import { runWindows, type RunWindows } from '../lib/core/windows';
import { causeChain } from '../lib/core/causes';
import { FailureType } from '../lib/core/failure-types';
import { VersionTag } from '../lib/registry/tags';
import type { Config } from '../lib/infra/config';
import {
  STAGES,
  progressQuery,
  type StageProgress,
  type TrainAndPromoteInput,
  type TrainAndPromoteResult,
} from '../lib/core/definitions';
import { backfillProgressQuery } from '../workflows/featureBackfill';
import { SA } from '../lib/core/search-attributes';
import { within, type Ctx } from './context';
import { changedStageLines, formatElapsed, LiveView, renderStages, shellArg } from './render';
import { featuresWorkflowId, promotionWorkflowId } from '../lib/core/ids';

/** What a run ended with, or where it stands. */
export type RunOutcome =
  | TrainAndPromoteResult['outcome']
  | 'failed'
  | 'terminated'
  | 'cancelled'
  | 'timed-out'
  | 'running'
  | 'started'
  | 'attached';

/**
 * The `--json` object of train-and-promote and status (one on stdout, at the end).
 * `stages` and `windows` are the workflow's own types (workflows/definitions.ts, lib/windows.ts).
 */
export type RunReport = {
  workflowId: string;
  runId: string;
  model: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, … */
  status: string;
  outcome: RunOutcome;
  /** The process exit code this outcome maps to (see `mlo --help`). */
  exitCode: ExitCode;
  requestedBy: string | null;
  candidateVersion: string | null;
  stages: StageProgress[];
  windows: RunWindows | null;
  links: { temporal: string; promotion?: string; mlflow?: string };
  message?: string;
  /** For failed runs: the stage, the root failure type (e.g. MloBadInput) and its message. */
  error?: { stage?: string; type?: string; message: string };
  /** Set while a promotion waits: who may decide, and the commands to do it. */
  awaitingApproval?: { promotionWorkflowId: string; reviewers: string[]; approve: string; reject: string };
  startedAt: string | null;
  closedAt: string | null;
  /** train-and-promote only: true when an identical request found this run already running. */
  attached?: boolean;
};

export function exitCodeFor(outcome: RunOutcome, failureType?: string): ExitCode {
  switch (outcome) {
    case 'promoted':
    case 'already-champion':
    case 'running':
    case 'started':
    case 'attached':
      return EXIT_CODES.ok;
    case 'rejected':
    case 'expired':
      return EXIT_CODES.rejected;
    case 'gate-failed':
      return EXIT_CODES.gateFailed;
    case 'failed':
      if (failureType === FailureType.DataGateFailed) return EXIT_CODES.gateFailed;
      return failureType === FailureType.BadInput ? EXIT_CODES.badInput : EXIT_CODES.internal;
    default:
      return EXIT_CODES.internal;
  }
}

/** The failed stage, the root failure type and the innermost message of a workflow failure. */
export function failureInfo(err: unknown): { stage?: string; type?: string; message: string } {
  let stage: string | undefined;
  let detailType: string | undefined;
  let deepestType: string | undefined;
  let message = err instanceof Error ? err.message : String(err);
  for (const e of causeChain(err)) {
    if (e instanceof ApplicationFailure) {
      if (e.type === FailureType.StageFailed) {
        const d = e.details?.[0] as { stage?: unknown; type?: unknown } | undefined;
        if (typeof d?.stage === 'string') stage ??= d.stage;
        if (typeof d?.type === 'string') detailType ??= d.type;
      } else if (e.type) deepestType = e.type;
    }
    if (e instanceof Error && e.message) message = e.message;
  }
  return { stage, type: detailType ?? deepestType, message };
}

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/** The run's input, from the first event of its history (undefined when it cannot be read). */
export async function readRunInput(
  ctx: Ctx,
  workflowId: string,
  runId: string,
): Promise<TrainAndPromoteInput | undefined> {
  try {
    const res = await ctx.client.workflowService.getWorkflowExecutionHistory({
      namespace: ctx.cfg.temporal.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    const payload = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return payload ? defaultPayloadConverter.fromPayload<TrainAndPromoteInput>(payload) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The run's windows, resolved as the workflow does: the given as-of day, else the schedule's nominal time,
 * else the start time.
 */
export function windowsOf(
  input: Pick<TrainAndPromoteInput, 'asOf' | 'trainFrom'> & { spec: ModelSpec },
  scheduledAt: Date | undefined,
  startTime: Date,
): RunWindows {
  return runWindows(input, scheduledAt ?? startTime);
}

function mlflowVersionLink(cfg: Config, model: string, version: string): string {
  return `${cfg.mlflow.uiUrl}/#/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`;
}

export function decisionCommands(run: string): { approve: string; reject: string } {
  return {
    approve: `mlo approve ${shellArg(run)}`,
    reject: `mlo reject ${shellArg(run)} --reason "<why>"`,
  };
}

/** State carried between looks at one run. */
export type LookState = {
  runId?: string;
  input?: TrainAndPromoteInput | null;
  stages?: StageProgress[];
  candidate?: string;
  lastMlflowLook?: number;
  /** The progress query went unanswered: no worker polls the run's task queue. */
  noWorker?: string;
};

const defaultStages = (): StageProgress[] => STAGES.map((stage) => ({ stage, status: 'pending' }));

async function findCandidateInMlflow(cfg: Config, model: string, runId: string): Promise<string | undefined> {
  try {
    // Signed in as the configured MLflow user (MLFLOW_TRACKING_USERNAME/PASSWORD) when set; reading needs no more.
    const mlflow = MlflowClient.fromConfig(cfg, { retry: { attempts: 1 }, requestTimeoutMs: 3000 });
    const ofRun = `${tagFilterKey(VersionTag.workflowRunId)} = ${quoteFilterValue(runId)}`;
    const page = await mlflow.searchModelVersions({
      filter: `name = ${quoteFilterValue(model)} and ${ofRun}`,
      maxResults: 5,
    });
    return page.items[0]?.version;
  } catch {
    return undefined;
  }
}

/** What the run's Temporal status tells: the outcome, the stages and, once closed, the result or the failure. */
type Look = {
  outcome: RunOutcome;
  stages: StageProgress[];
  windows: RunWindows | null;
  candidate?: string;
  message?: string;
  error?: RunReport['error'];
};

/** A running run: its stages from the progress query, with the backfill child's partition count. */
async function lookAtRunning(
  ctx: Ctx,
  handle: WorkflowHandle,
  workflowId: string,
  taskQueue: string,
  state: LookState,
  look: Look,
): Promise<Look> {
  const { client, connection } = ctx;
  const q = await within(connection, 3000, () => handle.query(progressQuery));
  if (q) state.noWorker = undefined;
  else state.noWorker = taskQueue;
  const stages = q ?? look.stages;
  const fb = stages.find((s) => s.stage === 'featureBackfill');
  if (fb?.status === 'running') {
    const p = await within(connection, 2000, () =>
      client.workflow.getHandle(featuresWorkflowId(workflowId)).query(backfillProgressQuery),
    );
    if (p) fb.progress = { done: p.done, total: p.total, unit: p.unit };
  }
  return { ...look, stages };
}

/** A completed run: its result, or the failure reading it raised. */
async function lookAtCompleted(handle: WorkflowHandle, look: Look): Promise<Look> {
  let r: TrainAndPromoteResult;
  try {
    r = (await handle.result()) as TrainAndPromoteResult;
  } catch (err) {
    return { ...look, outcome: 'failed', error: failureInfo(err) };
  }
  // A promotion stage that never recorded its decision (it still waits, by its phase): show the decision.
  const promo = r.stages.find((s) => s.stage === 'promotion');
  if (
    promo &&
    r.message &&
    promo.status === 'succeeded' &&
    (promo.phase === 'awaiting-approval' || promo.phase === 'waiting-for-promotion')
  )
    promo.message = `${r.outcome}: ${r.message}`;
  return {
    ...look,
    outcome: r.outcome,
    stages: r.stages,
    windows: r.windows,
    candidate: r.candidateVersion ?? look.candidate,
    message: r.message,
  };
}

/** A failed run: the root failure, and the failed stage marked in the last progress the run reports. */
async function lookAtFailed(ctx: Ctx, handle: WorkflowHandle, look: Look): Promise<Look> {
  let error: RunReport['error'];
  try {
    await handle.result();
  } catch (err) {
    error = failureInfo(err);
  }
  const stages = (await within(ctx.connection, 3000, () => handle.query(progressQuery))) ?? look.stages;
  if (error?.stage) {
    const s = stages.find((x) => x.stage === error?.stage);
    if (s && s.status !== 'failed') Object.assign(s, { status: 'failed', message: s.message ?? error.message });
  }
  return { ...look, outcome: 'failed', stages, error, message: failedMessage(error) };
}

/** `stage training failed (MloBadInput): …`, or `the run failed` when the failure cannot be read. */
export function failedMessage(error: RunReport['error']): string {
  if (!error) return 'the run failed';
  const what = error.stage ? `stage ${error.stage} failed` : 'the run failed';
  return `${what}${error.type ? ` (${error.type})` : ''}: ${error.message}`;
}

/** The outcome of a run that Temporal closed otherwise (terminated, cancelled, timed out). */
export function closedOutcome(status: string): RunOutcome {
  switch (status) {
    case 'TERMINATED':
      return 'terminated';
    case 'CANCELLED':
      return 'cancelled';
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return 'failed';
  }
}

/** Reads the run's state as its Temporal status says: the progress query while it runs, else its result. */
function lookByStatus(
  ctx: Ctx,
  handle: WorkflowHandle,
  d: WorkflowExecutionDescription,
  state: LookState,
  look: Look,
): Promise<Look> {
  switch (d.status.name) {
    case 'RUNNING':
      return lookAtRunning(ctx, handle, d.workflowId, d.taskQueue, state, look);
    case 'COMPLETED':
      return lookAtCompleted(handle, look);
    case 'FAILED':
      return lookAtFailed(ctx, handle, look);
    default: {
      const outcome = closedOutcome(d.status.name);
      return Promise.resolve({ ...look, outcome, message: `the run was ${outcome}` });
    }
  }
}

/** The candidate: from the result or the search attribute, else (once trained) from MLflow's lineage tags. */
async function lookUpCandidate(
  cfg: Config,
  state: LookState,
  model: string,
  runId: string,
  look: Look,
): Promise<string | undefined> {
  let candidate = look.candidate;
  const trained = look.stages.find((s) => s.stage === 'training')?.status === 'succeeded';
  if (!candidate && trained && model && (state.lastMlflowLook ?? 0) < Date.now() - 5000) {
    state.lastMlflowLook = Date.now();
    candidate = await findCandidateInMlflow(cfg, model, runId);
  }
  if (candidate) state.candidate = candidate;
  return candidate;
}

/** The run in the Temporal UI, its promotion once that started, and the candidate in MLflow. */
function runLinks(
  cfg: Config,
  d: WorkflowExecutionDescription,
  model: string,
  stages: StageProgress[],
  candidate: string | undefined,
): RunReport['links'] {
  const links: RunReport['links'] = { temporal: temporalUiLink(cfg, d.workflowId, d.runId) };
  const promo = stages.find((s) => s.stage === 'promotion');
  if (model && promo && (promo.status === 'running' || promo.status === 'succeeded'))
    links.promotion = temporalUiLink(cfg, promotionWorkflowId(model));
  if (model && candidate) links.mlflow = mlflowVersionLink(cfg, model, candidate);
  return links;
}

/** Who may decide and how, while the run's promotion waits for a reviewer. */
function awaitingApprovalOf(
  d: WorkflowExecutionDescription,
  model: string,
  stages: StageProgress[],
  input: TrainAndPromoteInput | undefined,
): RunReport['awaitingApproval'] {
  const promo = stages.find((s) => s.stage === 'promotion');
  if (d.status.name !== 'RUNNING' || !model || promo?.status !== 'running' || promo.phase !== 'awaiting-approval')
    return undefined;
  return {
    promotionWorkflowId: promotionWorkflowId(model),
    reviewers: (input && specOfRun(input))?.promotion.reviewers ?? [],
    ...decisionCommands(d.workflowId),
  };
}

/** One look at a trainAndPromote run. */
export async function lookAtRun(ctx: Ctx, workflowId: string, state: LookState = {}): Promise<RunReport> {
  const handle = ctx.client.workflow.getHandle(workflowId, state.runId);
  const d = await handle.describe();
  state.runId ??= d.runId;
  if (state.input === undefined) state.input = (await readRunInput(ctx, workflowId, d.runId)) ?? null;
  const input = state.input ?? undefined;
  const model = input?.model ?? d.typedSearchAttributes.get(SA.model) ?? '';
  const spec = input && specOfRun(input);
  const scheduledAt = d.typedSearchAttributes.get(SCHEDULED_START);
  const look = await lookByStatus(ctx, handle, d, state, {
    outcome: 'running',
    stages: state.stages ?? defaultStages(),
    windows: spec ? windowsOf({ ...input, spec }, scheduledAt, d.startTime) : null,
    candidate: state.candidate ?? d.typedSearchAttributes.get(SA.candidateVersion),
  });
  state.stages = look.stages;
  const candidate = await lookUpCandidate(ctx.cfg, state, model, d.runId, look);
  const { outcome, stages, message, error } = look;
  const awaitingApproval = awaitingApprovalOf(d, model, stages, input);
  return {
    workflowId,
    runId: d.runId,
    model,
    status: d.status.name,
    outcome,
    exitCode: exitCodeFor(outcome, error?.type),
    requestedBy: input?.requestedBy ?? d.typedSearchAttributes.get(SA.requestedBy) ?? null,
    candidateVersion: candidate ?? null,
    stages,
    windows: look.windows,
    links: runLinks(ctx.cfg, d, model, stages, candidate),
    ...(message !== undefined ? { message } : {}),
    ...(error ? { error } : {}),
    ...(awaitingApproval ? { awaitingApproval } : {}),
    startedAt: d.startTime.toISOString(),
    closedAt: d.closeTime?.toISOString() ?? null,
  };
}

// ---- text ---------------------------------------------------------------------------

/** `train a..b, validation c..d, holdout e..f, shadow g..h` */
export function windowRanges(w: RunWindows): string {
  const range = (r: { from: string; to: string }) => `${r.from}..${r.to}`;
  return (
    `train ${range(w.train)}, validation ${range(w.validation)}, ` +
    `holdout ${range(w.holdout)}, shadow ${range(w.shadow)}`
  );
}

function windowText(w: RunWindows | null): string {
  if (!w) return '';
  return `as of ${w.asOf}: ${windowRanges(w)}`;
}

/** The approval notice: the promotion's UI link and the exact commands. */
function approvalLines(r: RunReport): string[] {
  const a = r.awaitingApproval;
  if (!a) return [];
  const notRequester = r.requestedBy ? `; the requester (${r.requestedBy}) may not approve` : '';
  const who = a.reviewers.length ? `reviewers: ${a.reviewers.join(', ')}${notRequester}` : '';
  const version = r.candidateVersion ? ` version ${r.candidateVersion}` : '';
  return [
    `awaiting approval of ${r.model}${version}${who ? ` (${who})` : ''}`,
    `  review in the Temporal UI: ${r.links.promotion ?? ''}`,
    `  a reviewer, signed in (\`mlo login\`), runs:`,
    `  approve: ${a.approve}`,
    `  reject:  ${a.reject}`,
  ];
}

/** Notices below the stage table: missing workers, the candidate, the approval step. */
function noticeLines(r: RunReport, state: LookState): string[] {
  const out: string[] = [];
  if (r.status === 'RUNNING' && state.noWorker)
    out.push(`no worker answered on task queue ${state.noWorker} yet; are the workers running? (\`npm run workers\`)`);
  if (r.candidateVersion && r.links.mlflow) out.push(`candidate version ${r.candidateVersion}: ${r.links.mlflow}`);
  out.push(...approvalLines(r));
  return out;
}

function summaryLine(r: RunReport): string {
  switch (r.outcome) {
    case 'promoted':
      return `promoted: ${r.message ?? `${r.model} version ${r.candidateVersion ?? '?'} is champion`}`;
    case 'rejected':
    case 'expired':
      return `${r.outcome}: ${r.message ?? ''} (exit ${r.exitCode})`;
    case 'gate-failed':
      return `gate failed: ${r.message ?? 'not promoted'} (exit ${r.exitCode})`;
    case 'already-champion':
      return `already champion: ${r.message ?? `${r.model} version ${r.candidateVersion ?? '?'}`}`;
    case 'failed':
      return `failed: ${r.message ?? ''} (exit ${r.exitCode})`;
    case 'running':
    case 'started':
    case 'attached':
      return `${r.outcome}: ${r.workflowId}`;
    default:
      return `${r.outcome}: ${r.message ?? ''} (exit ${r.exitCode})`;
  }
}

/** The whole view of a run (also what the live view redraws). */
export function renderRun(r: RunReport, state: LookState, now: number, opts: { color?: boolean } = {}): string[] {
  const elapsed = r.startedAt
    ? formatElapsed((r.closedAt ? Date.parse(r.closedAt) : now) - Date.parse(r.startedAt))
    : '';
  const by = r.requestedBy ? `  requested by ${r.requestedBy}` : '';
  return [
    `${r.workflowId}  ${r.status.toLowerCase()}${elapsed ? ` for ${elapsed}` : ''}${by}`,
    ...(r.windows ? [`  ${windowText(r.windows)}`] : []),
    `  temporal: ${r.links.temporal}`,
    ...renderStages(r.stages, now, opts),
    ...noticeLines(r, state),
    ...(r.outcome !== 'running' ? [summaryLine(r)] : []),
  ];
}

type View = 'live' | 'plain' | 'json';

export function viewFor(json: boolean, out: { isTTY?: boolean } = process.stdout): View {
  return json ? 'json' : out.isTTY ? 'live' : 'plain';
}

const sleep = (ms: number, stop: () => boolean) =>
  new Promise<void>((resolve) => {
    const t0 = Date.now();
    const tick = () => (stop() || Date.now() - t0 >= ms ? resolve() : setTimeout(tick, 100));
    tick();
  });

/**
 * Follows a run to its end. Live: the view is redrawn in place; plain: one line per change;
 * json: silent. Ctrl-C stops following (the run goes on) and returns the last look.
 */
export async function followRun(
  ctx: Ctx,
  workflowId: string,
  view: View,
  opts: { pollMs?: number; state?: LookState } = {},
): Promise<{ report: RunReport; interrupted: boolean }> {
  const state = opts.state ?? {};
  const pollMs = opts.pollMs ?? (view === 'live' ? 1000 : 2000);
  let interrupted = false;
  const onInt = () => {
    interrupted = true;
  };
  process.on('SIGINT', onInt);
  const live = view === 'live' ? new LiveView(process.stdout) : undefined;
  const seen = new Map<string, string>();
  const said = new Set<string>();
  const say = (line: string) => {
    if (said.has(line)) return;
    said.add(line);
    console.log(line);
  };
  try {
    for (;;) {
      const r = await lookAtRun(ctx, workflowId, state);
      const now = Date.now();
      if (live) live.draw(renderRun(r, state, now, { color: true }));
      else if (view === 'plain') {
        if (said.size === 0) {
          say(`${r.workflowId} (run ${r.runId})`);
          if (r.windows) say(`  ${windowText(r.windows)}`);
          say(`  temporal: ${r.links.temporal}`);
        }
        const stamp = new Date(now).toISOString().slice(11, 19);
        for (const l of changedStageLines(r.stages, seen, now)) console.log(`${stamp} ${l}`);
        for (const l of noticeLines(r, state)) say(l);
      }
      if (r.outcome !== 'running') {
        if (view === 'plain') console.log(summaryLine(r));
        return { report: r, interrupted: false };
      }
      if (interrupted) return { report: r, interrupted: true };
      await sleep(pollMs, () => interrupted);
    }
  } finally {
    process.off('SIGINT', onInt);
    live?.done();
  }
}

/**
 * The visibility filter of a model's runs: its MloModel search attribute (set by the workflow
 * once a worker runs it), or mlo's workflow id prefix (which finds a run no worker took yet).
 */
export function modelRunsFilter(model: string): string {
  return `(MloModel = "${model}" OR WorkflowId STARTS_WITH "train-and-promote/${model}/")`;
}

/** The most recent trainAndPromote run of a model (visibility: MloModel and WorkflowType, newest StartTime). */
export async function latestRunOf(ctx: Ctx, model: string): Promise<string> {
  let best: { id: string; start: number } | undefined;
  let n = 0;
  for await (const w of ctx.client.workflow.list({
    query: `WorkflowType = "trainAndPromote" AND ${modelRunsFilter(model)}`,
  })) {
    if (!best || w.startTime.getTime() > best.start) best = { id: w.workflowId, start: w.startTime.getTime() };
    if (++n >= 1000) break;
  }
  if (!best)
    throw new BadInputError(
      `no trainAndPromote run of "${model}" found in namespace ${ctx.cfg.temporal.namespace}; ` +
        `start one with \`mlo train-and-promote --model ${model}\`, or name a workflow id (see \`mlo list\`)`,
    );
  return best.id;
}
