/**
 * The fleet view (`mlo fleet`): every model's champion, last train-and-promote run, next
 * scheduled run and pending approval, gathered in a number of calls that does not grow with
 * the number of models:
 *
 *   Temporal visibility   one paged ListWorkflowExecutions over all `trainAndPromote` runs,
 *                         one over all open `promotion` workflows
 *   Temporal schedules    one paged ListSchedules (next action times come with the list)
 *   MLflow                one paged search of registered models (aliases, tags) and one paged
 *                         search of the versions ever promoted (`mlo.promoted_at` set)
 *
 * plus, for each model whose last run failed, one read of that run's close event (its failure
 * or, for a gate failure, its candidate version's failed gates): a call per failing model, never per model.
 *
 * `gatherFleet` does the I/O; `fleetRows`, `filterRows` and `fleetMarkdown` are pure.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { causeChain } from '../core/causes';
import { parseDuration } from '../core/duration';
import { modelOfScheduleId } from '../core/ids';
import { SA } from '../core/search-attributes';
import type { TrainAndPromoteResult } from '../core/definitions';
import { describeFailedGate, type FailedGate } from '../core/gate-failures';
import { ModelAlias, ModelTag, VersionTag } from '../registry/tags';
import type { MlflowClient, ModelVersion, RegisteredModel } from '../registry/mlflow';

/** What the fleet view needs of a model spec. */
export type FleetSpec = { name: string; promotionDeadline: string | null };

/** A `trainAndPromote` execution from visibility. */
export type RunExecution = {
  workflowId: string;
  runId: string;
  model: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELLED, … */
  status: string;
  stage: string | null;
  candidateVersion: string | null;
  startedAt: string;
  closedAt: string | null;
};

/** An open `promotion/<model>` workflow. */
export type PendingExecution = {
  /** A promotion of a candidate, or a reviewed rollback to a former champion. */
  kind: 'promotion' | 'rollback';
  workflowId: string;
  model: string;
  stage: string | null;
  candidateVersion: string | null;
  requestedBy: string | null;
  startedAt: string;
};

export type ScheduleEntry = { model: string; scheduleId: string; paused: boolean; nextRunAt: string | null };

/** A registered model: the version its `champion` alias points at and its latest alias move. */
export type RegistryEntry = {
  name: string;
  championVersion: string | null;
  lastMove: { champion?: string; by?: string; at?: string } | null;
};

/** A version that was promoted once: who approved it, when. */
export type PromotedVersion = { model: string; version: string; approvedBy: string | null; promotedAt: string | null };

export type FleetData = {
  specs: FleetSpec[];
  runs: RunExecution[];
  pending: PendingExecution[];
  schedules: ScheduleEntry[];
  registry: RegistryEntry[];
  promoted: PromotedVersion[];
  /** The failure message of failing last runs, by `<workflowId>/<runId>`. */
  failures: Record<string, string>;
};

export type RunOutcome =
  | 'running'
  | 'promoted'
  | 'rejected'
  | 'expired'
  | 'already-champion'
  | 'gate-failed'
  | 'data-gate-failed'
  | 'completed'
  | 'failed'
  | 'terminated'
  | 'timed-out'
  | 'cancelled';

export type FleetRow = {
  model: string;
  /** Whether the models directory has a spec of it. */
  hasSpec: boolean;
  champion: { version: string; approvedBy: string | null; promotedAt: string | null; ageMs: number | null } | null;
  lastRun: {
    workflowId: string;
    runId: string;
    outcome: RunOutcome;
    stage: string | null;
    startedAt: string;
    closedAt: string | null;
    /** Why a failing run failed (its failure, or its gate message). */
    reason: string | null;
  } | null;
  lastSuccessAt: string | null;
  nextRunAt: string | null;
  schedulePaused: boolean | null;
  pendingApproval: {
    kind: PendingExecution['kind'];
    workflowId: string;
    candidateVersion: string | null;
    requestedBy: string | null;
    startedAt: string;
    ageMs: number;
    deadline: string | null;
  } | null;
};

const GATE_FAILED = new Set(['gate-failed', 'data-gate-failed']);
const COMPLETED_OUTCOMES = new Set<RunOutcome>(['promoted', 'rejected', 'expired', 'already-champion']);
const SUCCESS = new Set<RunOutcome>(['promoted', 'already-champion', 'completed']);

/** What became of a run, from its execution status and its last MloStage. */
export function runOutcome(r: Pick<RunExecution, 'status' | 'stage'>): RunOutcome {
  switch (r.status) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      if (r.stage && GATE_FAILED.has(r.stage)) return r.stage as RunOutcome;
      if (r.stage && COMPLETED_OUTCOMES.has(r.stage as RunOutcome)) return r.stage as RunOutcome;
      return 'completed';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed-out';
    case 'CANCELLED':
    case 'CANCELED':
      return 'cancelled';
    default:
      return 'failed';
  }
}

/** A failing outcome: the run failed, was terminated, timed out, or a gate failed. */
export function isFailing(outcome: RunOutcome): boolean {
  return (
    outcome === 'failed' ||
    outcome === 'terminated' ||
    outcome === 'timed-out' ||
    outcome === 'gate-failed' ||
    outcome === 'data-gate-failed'
  );
}

const runKey = (r: Pick<RunExecution, 'workflowId' | 'runId'>) => `${r.workflowId}/${r.runId}`;
const newer = <T extends { startedAt: string }>(a: T | undefined, b: T): T =>
  a === undefined || b.startedAt > a.startedAt ? b : a;

/** The newest run of each model. */
export function lastRuns(runs: RunExecution[]): Map<string, RunExecution> {
  const last = new Map<string, RunExecution>();
  for (const r of runs) last.set(r.model, newer(last.get(r.model), r));
  return last;
}

/** Joins what was gathered into one row per model (specs, models with runs, registered models), by name. */
export function fleetRows(data: FleetData, now: Date): FleetRow[] {
  const t = now.getTime();
  const specs = new Map(data.specs.map((s) => [s.name, s]));
  const last = lastRuns(data.runs);
  const lastSuccess = new Map<string, string>();
  for (const r of data.runs) {
    if (!SUCCESS.has(runOutcome(r))) continue;
    const at = r.closedAt ?? r.startedAt;
    const prev = lastSuccess.get(r.model);
    if (prev === undefined || at > prev) lastSuccess.set(r.model, at);
  }
  const registry = new Map(data.registry.map((m) => [m.name, m]));
  const promoted = new Map(data.promoted.map((v) => [`${v.model}/${v.version}`, v]));
  const schedules = new Map(data.schedules.map((s) => [s.model, s]));
  const pending = new Map<string, PendingExecution>();
  for (const p of data.pending) pending.set(p.model, newer(pending.get(p.model), p));

  // Every spec, every model with runs; registered models only with a champion or a pending approval
  // (the registry also holds models mlo does not manage).
  const names = new Set<string>([...specs.keys(), ...last.keys(), ...pending.keys()]);
  for (const m of data.registry) if (m.championVersion) names.add(m.name);

  return [...names].sort().map((model): FleetRow => {
    const reg = registry.get(model);
    let champion: FleetRow['champion'] = null;
    if (reg?.championVersion) {
      const v = promoted.get(`${model}/${reg.championVersion}`);
      const moved = reg.lastMove?.champion === reg.championVersion ? reg.lastMove : null;
      const promotedAt = v?.promotedAt ?? moved?.at ?? null;
      const at = promotedAt ? Date.parse(promotedAt) : NaN;
      champion = {
        version: reg.championVersion,
        approvedBy: v?.approvedBy ?? moved?.by ?? null,
        promotedAt,
        ageMs: Number.isNaN(at) ? null : Math.max(0, t - at),
      };
    }
    const r = last.get(model);
    const outcome = r ? runOutcome(r) : undefined;
    const sched = schedules.get(model);
    const p = pending.get(model);
    const spec = specs.get(model);
    let deadline: string | null = null;
    const deadlineMs = spec?.promotionDeadline ? parseDuration(spec.promotionDeadline) : undefined;
    if (p && deadlineMs !== undefined) deadline = new Date(Date.parse(p.startedAt) + deadlineMs).toISOString();
    return {
      model,
      hasSpec: spec !== undefined,
      champion,
      lastRun:
        r && outcome
          ? {
              workflowId: r.workflowId,
              runId: r.runId,
              outcome,
              stage: r.stage,
              startedAt: r.startedAt,
              closedAt: r.closedAt,
              reason: isFailing(outcome) ? (data.failures[runKey(r)] ?? (r.stage ? `at ${r.stage}` : null)) : null,
            }
          : null,
      lastSuccessAt: lastSuccess.get(model) ?? null,
      nextRunAt: sched?.paused ? null : (sched?.nextRunAt ?? null),
      schedulePaused: sched ? sched.paused : null,
      pendingApproval: p
        ? {
            kind: p.kind,
            workflowId: p.workflowId,
            candidateVersion: p.candidateVersion,
            requestedBy: p.requestedBy,
            startedAt: p.startedAt,
            ageMs: Math.max(0, t - Date.parse(p.startedAt)),
            deadline,
          }
        : null,
    };
  });
}

export type FleetFilter = { failing?: boolean; pending?: boolean; staleMs?: number };

/**
 * The rows that match every filter given: `failing` (last run failed or a gate failed),
 * `pending` (awaiting approval), `staleMs` (no champion promoted, or no successful run, within it).
 */
export function filterRows(rows: FleetRow[], f: FleetFilter, now: Date): FleetRow[] {
  const t = now.getTime();
  const within = (iso: string | null | undefined, ms: number) => !!iso && t - Date.parse(iso) <= ms;
  return rows.filter((r) => {
    if (f.failing && !(r.lastRun && isFailing(r.lastRun.outcome))) return false;
    if (f.pending && !r.pendingApproval) return false;
    if (f.staleMs !== undefined) {
      const fresh = within(r.champion?.promotedAt, f.staleMs) && within(r.lastSuccessAt, f.staleMs);
      if (fresh) return false;
    }
    return true;
  });
}

/** "3d 4h", "5h 2m", "42s": how long ago, for tables. */
export function age(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

const when = (iso: string | null | undefined) => (iso ? `${iso.replace('T', ' ').slice(0, 16)}Z` : '');

/** The columns of the table and of the Markdown report, in order. */
export const FLEET_COLUMNS = [
  'MODEL',
  'CHAMPION',
  'AGE',
  'APPROVED BY',
  'LAST RUN',
  'AT',
  'REASON',
  'NEXT RUN',
  'PENDING',
];

/** One row's cells, as the table and the Markdown report show them. */
export function fleetCells(r: FleetRow, now: Date): string[] {
  const t = now.getTime();
  const p = r.pendingApproval;
  const pendingCell = p
    ? `${p.kind === 'rollback' ? 'rollback to ' : ''}v${p.candidateVersion ?? '?'} for ${age(p.ageMs)}` +
      (p.deadline ? `, due ${when(p.deadline)}${Date.parse(p.deadline) < t ? ' (past)' : ''}` : '')
    : '';
  return [
    r.model + (r.hasSpec ? '' : ' (no spec)'),
    r.champion ? `v${r.champion.version}` : '',
    r.champion ? age(r.champion.ageMs) : '',
    r.champion?.approvedBy ?? '',
    r.lastRun?.outcome ?? 'none',
    when(r.lastRun?.closedAt ?? r.lastRun?.startedAt),
    r.lastRun?.reason ?? '',
    r.schedulePaused ? 'paused' : when(r.nextRunAt),
    pendingCell,
  ];
}

const mdCell = (s: string) => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|') || ' ';

/** The rows as a Markdown report: a heading with the time and the filters, a summary, one table. */
export function fleetMarkdown(rows: FleetRow[], now: Date, filters: string[] = []): string {
  const failing = rows.filter((r) => r.lastRun && isFailing(r.lastRun.outcome)).length;
  const pending = rows.filter((r) => r.pendingApproval).length;
  const noChampion = rows.filter((r) => !r.champion).length;
  const lines = [
    `## Model fleet — ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    ...(filters.length ? [`Filters: ${filters.join(', ')}`, ''] : []),
    `${rows.length} model${rows.length === 1 ? '' : 's'}: ${failing} failing, ${pending} awaiting approval, ` +
      `${noChampion} without a champion.`,
    '',
  ];
  if (rows.length === 0) return [...lines, '_No model matches._', ''].join('\n');
  lines.push(`| ${FLEET_COLUMNS.map(mdCell).join(' | ')} |`);
  lines.push(`|${FLEET_COLUMNS.map(() => ' --- ').join('|')}|`);
  for (const r of rows) lines.push(`| ${fleetCells(r, now).map(mdCell).join(' | ')} |`);
  return [...lines, ''].join('\n');
}

// ---- gathering ----------------------------------------------------------------------------

/**
 * The visibility query of the runs: those started since `since` and those still running (all runs
 * without `since`). The look-back bounds the pages read when the retention keeps a long history.
 */
export function runsQuery(since?: Date): string {
  const type = 'WorkflowType = "trainAndPromote"';
  return since ? `${type} AND (StartTime >= "${since.toISOString()}" OR ExecutionStatus = "Running")` : type;
}
/** The visibility query of every open promotion. */
export const PENDING_QUERY =
  '(WorkflowType = "promotion" OR WorkflowType = "rollback") AND ExecutionStatus = "Running"';
const AWAITING = new Set(['awaiting-approval', 'rollback-awaiting-approval']);
/** The MLflow filter of the versions ever promoted. */
export const PROMOTED_FILTER = `tags.\`${VersionTag.promotedAt}\` LIKE '%'`;

const PAGE = 1000;

async function listAll(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const out: WorkflowExecutionInfo[] = [];
  for await (const w of client.workflow.list({ query, pageSize: PAGE })) out.push(w);
  return out;
}

function runExecution(w: WorkflowExecutionInfo): RunExecution | undefined {
  const model = w.typedSearchAttributes.get(SA.model);
  if (!model) return undefined;
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    model,
    status: w.status.name,
    stage: w.typedSearchAttributes.get(SA.stage) ?? null,
    candidateVersion: w.typedSearchAttributes.get(SA.candidateVersion) ?? null,
    startedAt: w.startTime.toISOString(),
    closedAt: w.closeTime?.toISOString() ?? null,
  };
}

function pendingExecution(w: WorkflowExecutionInfo): PendingExecution | undefined {
  const sa = w.typedSearchAttributes;
  const model = sa.get(SA.model);
  const stage = sa.get(SA.stage) ?? null;
  if (!model || !stage || !AWAITING.has(stage)) return undefined;
  return {
    kind: w.type === 'rollback' ? 'rollback' : 'promotion',
    workflowId: w.workflowId,
    model,
    stage,
    candidateVersion: sa.get(SA.candidateVersion) ?? null,
    requestedBy: sa.get(SA.requestedBy) ?? null,
    startedAt: w.startTime.toISOString(),
  };
}

async function allPages<T>(page: (token: string | undefined) => Promise<{ items: T[]; nextPageToken?: string }>) {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const p = await page(token);
    out.push(...p.items);
    token = p.nextPageToken;
  } while (token);
  return out;
}

const tagOf = (tags: { key: string; value: string }[], key: string) => tags.find((t) => t.key === key)?.value;

function registryEntry(m: RegisteredModel): RegistryEntry {
  let lastMove: RegistryEntry['lastMove'] = null;
  const raw = tagOf(m.tags, ModelTag.lastAliasMove);
  if (raw) {
    try {
      const j = JSON.parse(raw) as Record<string, unknown>;
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      lastMove = { champion: str(j.champion), by: str(j.by), at: str(j.at) };
    } catch {
      lastMove = null; // not written by mlo: no approver or time to show
    }
  }
  return {
    name: m.name,
    championVersion: m.aliases.find((a) => a.alias === ModelAlias.champion)?.version ?? null,
    lastMove,
  };
}

function promotedVersion(v: ModelVersion): PromotedVersion {
  return {
    model: v.name,
    version: v.version,
    approvedBy: tagOf(v.tags, VersionTag.approvedBy) ?? null,
    promotedAt: tagOf(v.tags, VersionTag.promotedAt) ?? null,
  };
}

/** The failed gates of a `mlo.failed_gates` tag, as people read them; undefined when the tag is not mlo's JSON. */
export function failedGatesReason(tag: string | undefined): string | undefined {
  if (!tag) return undefined;
  try {
    const gates = JSON.parse(tag) as FailedGate[];
    if (!Array.isArray(gates) || gates.length === 0) return undefined;
    return gates.map(describeFailedGate).join('; ');
  } catch {
    return undefined;
  }
}

/**
 * Why a closed run failed: its failure's message (the deepest one); for a failed gate, the gates
 * the candidate version failed (its `mlo.failed_gates`), else the run's result message.
 */
async function failureOf(client: Client, mlflow: MlflowClient, r: RunExecution): Promise<string | undefined> {
  if (r.status === 'COMPLETED' && r.stage === 'gate-failed' && r.candidateVersion) {
    const v = await mlflow.getModelVersion(r.model, r.candidateVersion).catch(() => undefined);
    const reason = failedGatesReason(v && tagOf(v.tags, VersionTag.failedGates));
    if (reason) return reason;
  }
  try {
    const res = (await client.workflow.getHandle(r.workflowId, r.runId).result()) as TrainAndPromoteResult | undefined;
    return res?.message;
  } catch (err) {
    let message: string | undefined;
    for (const e of causeChain(err)) {
      if (e instanceof ApplicationFailure || (e instanceof Error && e.message)) message = (e as Error).message;
    }
    return message;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Everything the fleet view shows, in a fixed number of paged calls (plus one per failing model). */
export async function gatherFleet(deps: {
  client: Client;
  mlflow: MlflowClient;
  specs: FleetSpec[];
  /** Read only the runs started since then (and the running ones); default: every run visibility keeps. */
  since?: Date;
}): Promise<FleetData> {
  const { client, mlflow } = deps;
  const [runInfos, pendingInfos, schedules, registered, promoted] = await Promise.all([
    listAll(client, runsQuery(deps.since)),
    listAll(client, PENDING_QUERY),
    (async () => {
      const out: ScheduleEntry[] = [];
      for await (const s of client.schedule.list({ pageSize: PAGE })) {
        const model = modelOfScheduleId(s.scheduleId);
        if (!model) continue;
        const next = s.info.nextActionTimes[0];
        out.push({ model, scheduleId: s.scheduleId, paused: s.state.paused, nextRunAt: next?.toISOString() ?? null });
      }
      return out;
    })(),
    allPages((pageToken) => mlflow.searchRegisteredModels({ maxResults: PAGE, pageToken })),
    allPages((pageToken) => mlflow.searchModelVersions({ filter: PROMOTED_FILTER, maxResults: PAGE, pageToken })),
  ]);
  const runs = runInfos.map(runExecution).filter((r): r is RunExecution => r !== undefined);
  const failing = [...lastRuns(runs).values()].filter((r) => isFailing(runOutcome(r)));
  const messages = await mapLimit(failing, 16, (r) => failureOf(client, mlflow, r));
  const failures: Record<string, string> = {};
  failing.forEach((r, i) => {
    const m = messages[i];
    if (m) failures[runKey(r)] = m;
  });
  return {
    specs: deps.specs,
    runs,
    pending: pendingInfos.map(pendingExecution).filter((p): p is PendingExecution => p !== undefined),
    schedules,
    registry: registered.map(registryEntry),
    promoted: promoted.map(promotedVersion),
    failures,
  };
}
