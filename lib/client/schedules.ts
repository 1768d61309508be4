/**
 * Scheduled retraining: a model spec's `schedule` becomes a Temporal Schedule, id
 * `mlo-retrain/<model>`, whose action starts `trainAndPromote` (workflow id
 * `train-and-promote/<model>/scheduled`, to which Temporal appends the nominal time) with
 * `runInput(cfg, spec, { requestedBy })` and no as-of day: the workflow reads
 * TemporalScheduledStartTime and trains on the window that ends on that day.
 *
 * `requestedBy` is whoever syncs the schedules: mlo's Temporal server accepts a schedule that
 * starts `trainAndPromote` only when its runs are requested by the caller (rule `requested by
 * caller`). `mlo schedules sync` signs in as the scheduler service (`mlo-scheduler`, client
 * credentials), so scheduled runs are requested by its subject, which may not approve them.
 *
 * `sync` makes the schedules match the specs: creates, updates and deletes (only ids with the
 * `mlo-retrain/` prefix), idempotently. What a schedule was made from (the spec hash, the
 * schedule settings and their hash) is kept in a memo under the key `mloRetrain`: in the
 * schedule's memo when it is created and in its action's memo, which, unlike the schedule's
 * own memo (Temporal's UpdateSchedule cannot change it), every update rewrites. Sync compares
 * the action's memo.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Config } from '../infra/config';
import { parseDuration } from '../core/duration';
import { canonicalJson, hashOf } from '../infra/hash';
import { runInput } from './runs';
import { specHash as hashSpec, type ModelSpec } from '../spec/model-spec';
import { SA } from '../core/search-attributes';
import type { TrainAndPromoteWorkflow } from '../core/definitions';
import { RETRAIN_SCHEDULE_PREFIX, modelOfScheduleId, retrainScheduleId, scheduledRunWorkflowId } from '../core/ids';
import { CLIENT_IDS } from '../identity/shared';

/** The requester of scheduled runs: the subject of the scheduler service's token (client id `mlo-scheduler`). */
export const SCHEDULE_REQUESTED_BY: string = CLIENT_IDS.scheduler;
export const MEMO_KEY = 'mloRetrain';
/** Bumped when the mapping from spec to schedule changes, so sync rewrites every schedule. */
export const SCHEDULE_FORMAT = 3;

/** Everything a schedule is made of besides the spec itself. */
type ScheduleSettings = {
  cron: string | null;
  interval: string | null;
  timezone: string;
  jitter: string | null;
  catchupWindow: string;
  overlap: NonNullable<ModelSpec['schedule']>['overlap'];
  paused: boolean;
  taskQueue: string;
  cpuQueue: string;
  gpuQueue: string;
  /** the CPU pool's queues per kind of work, which the runs' input names */
  featuresQueue: string;
  evaluationQueue: string;
  cpuTrainingQueue: string;
  workflowId: string;
  /** who the scheduled runs are requested by: the identity that syncs the schedule */
  requestedBy: string;
  format: number;
};

type ScheduleMemo = {
  model: string;
  file: string;
  specHash: string;
  settingsHash: string;
  settings: ScheduleSettings;
  /** The spec the schedule was made from, so sync can say which sections changed (runs never read it). */
  spec?: ModelSpec;
};

export type DesiredSchedule = ScheduleMemo & { scheduleId: string; spec: ModelSpec };

export function scheduleSettings(
  cfg: Config,
  spec: ModelSpec,
  requestedBy: string = SCHEDULE_REQUESTED_BY,
): ScheduleSettings | undefined {
  const s = spec.schedule;
  if (!s) return undefined;
  return {
    cron: s.cron?.trim().replace(/\s+/g, ' ') ?? null,
    interval: s.interval ?? null,
    timezone: s.timezone,
    jitter: s.jitter ?? null,
    catchupWindow: s.catchup_window,
    overlap: s.overlap,
    paused: s.paused,
    taskQueue: cfg.taskQueues.orchestrator,
    cpuQueue: cfg.taskQueues.cpu,
    gpuQueue: cfg.taskQueues.gpu,
    featuresQueue: cfg.taskQueues.features,
    evaluationQueue: cfg.taskQueues.evaluation,
    cpuTrainingQueue: cfg.taskQueues.cpuTraining,
    workflowId: scheduledRunWorkflowId(spec.name),
    requestedBy,
    format: SCHEDULE_FORMAT,
  };
}

/** The schedule a spec asks for, its runs requested by `requestedBy`; undefined when it has no `schedule`. */
export function desiredSchedule(
  cfg: Config,
  spec: ModelSpec,
  file: string,
  requestedBy: string = SCHEDULE_REQUESTED_BY,
): DesiredSchedule | undefined {
  const settings = scheduleSettings(cfg, spec, requestedBy);
  if (!settings) return undefined;
  return {
    model: spec.name,
    file,
    scheduleId: retrainScheduleId(spec.name),
    spec,
    specHash: hashSpec(spec),
    settings,
    settingsHash: hashOf(settings),
  };
}

function ms(text: string): number {
  const v = parseDuration(text);
  if (v === undefined) throw new Error(`"${text}" is not a duration`);
  return v;
}

const OVERLAP: Record<ScheduleSettings['overlap'], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  buffer_all: ScheduleOverlapPolicy.BUFFER_ALL,
  cancel_other: ScheduleOverlapPolicy.CANCEL_OTHER,
  terminate_other: ScheduleOverlapPolicy.TERMINATE_OTHER,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

type RetrainScheduleOptions = ScheduleOptions<ScheduleOptionsStartWorkflowAction<TrainAndPromoteWorkflow>>;

function memoOf(d: DesiredSchedule): ScheduleMemo {
  const { model, file, specHash, settingsHash, settings, spec } = d;
  return { model, file, specHash, settingsHash, settings, spec };
}

/** The Temporal Schedule of a desired schedule (used for create; update sends the same spec, action and policies). */
export function scheduleOptions(cfg: Config, d: DesiredSchedule): RetrainScheduleOptions {
  const s = d.settings;
  const memo = { [MEMO_KEY]: memoOf(d) };
  return {
    scheduleId: d.scheduleId,
    spec: {
      ...(s.cron ? { cronExpressions: [s.cron] } : {}),
      ...(s.interval ? { intervals: [{ every: ms(s.interval) }] } : {}),
      timezone: s.timezone,
      ...(s.jitter ? { jitter: ms(s.jitter) } : {}),
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'trainAndPromote',
      taskQueue: s.taskQueue,
      workflowId: s.workflowId,
      // No asOf: the run's window ends on the day of its TemporalScheduledStartTime.
      args: [runInput(cfg, d.spec, { requestedBy: s.requestedBy })],
      memo,
      typedSearchAttributes: [
        { key: SA.model, value: d.model },
        { key: SA.requestedBy, value: s.requestedBy },
      ],
      staticSummary: `Scheduled retraining of ${d.model} (${d.file})`,
    },
    policies: { overlap: OVERLAP[s.overlap], catchupWindow: ms(s.catchupWindow) },
    memo,
    state: { paused: s.paused, note: `synced from ${d.file} by mlo schedules sync` },
  };
}

// ---- what exists ------------------------------------------------------------------------

export type ExistingSchedule = {
  scheduleId: string;
  model: string;
  memo?: ScheduleMemo;
  /** The spec the schedule was made from (its memo's; the action's argument for schedules made before), when readable. */
  spec?: ModelSpec;
  paused: boolean;
  description: ScheduleDescription;
};

function isMemo(v: unknown): v is ScheduleMemo {
  const m = v as Partial<ScheduleMemo> | undefined;
  return !!m && typeof m.specHash === 'string' && typeof m.settingsHash === 'string' && typeof m.settings === 'object';
}

export function existingFromDescription(description: ScheduleDescription): ExistingSchedule {
  const actionMemo = description.action.memo?.[MEMO_KEY];
  const scheduleMemo = description.memo?.[MEMO_KEY];
  const memo = isMemo(actionMemo) ? actionMemo : isMemo(scheduleMemo) ? scheduleMemo : undefined;
  const arg = description.action.args?.[0] as { spec?: ModelSpec } | undefined;
  return {
    scheduleId: description.scheduleId,
    model: modelOfScheduleId(description.scheduleId) ?? description.scheduleId,
    memo,
    spec: memo?.spec ?? arg?.spec,
    paused: description.state.paused,
    description,
  };
}

/** Describes a schedule; undefined when there is none. */
export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Ids of the schedules with the mlo-retrain/ prefix (from the list, which is eventually consistent). */
async function listRetrainScheduleIds(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const s of client.schedule.list())
    if (s.scheduleId.startsWith(RETRAIN_SCHEDULE_PREFIX)) ids.push(s.scheduleId);
  return ids.sort();
}

/**
 * The mlo-retrain schedules that exist: the listed ones plus the `also` ids (described
 * directly, since a schedule created a moment ago may not be listed yet).
 */
export async function readExistingSchedules(client: Client, also: string[] = []): Promise<ExistingSchedule[]> {
  const ids = [...new Set([...(await listRetrainScheduleIds(client)), ...also])].sort();
  const out: ExistingSchedule[] = [];
  for (const id of ids) {
    const d = await describeSchedule(client, id);
    if (d) out.push(existingFromDescription(d));
  }
  return out;
}

// ---- the plan -------------------------------------------------------------------------

type SyncAction = 'create' | 'update' | 'delete' | 'unchanged';

export type SyncEntry = {
  model: string;
  scheduleId: string;
  action: SyncAction;
  /** What will change, for people: "cron: "0 3 * * *" → "0 4 * * *"", "spec: training.params". */
  changes: string[];
  desired?: DesiredSchedule;
  existing?: ExistingSchedule;
};

const show = (v: unknown) =>
  v === null || v === undefined ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v);

/** One line per setting that differs. */
export function diffSettings(before: Partial<ScheduleSettings>, after: ScheduleSettings): string[] {
  const out: string[] = [];
  for (const k of Object.keys(after) as (keyof ScheduleSettings)[]) {
    if (canonicalJson(before[k] ?? null) !== canonicalJson(after[k]))
      out.push(`${k}: ${show(before[k])} → ${show(after[k])}`);
  }
  return out;
}

/** Paths (to `depth` levels) whose values differ between two specs, e.g. ["training.params", "evaluation.gates"]. */
export function changedPaths(a: unknown, b: unknown, depth = 2, prefix = ''): string[] {
  if (canonicalJson(a) === canonicalJson(b)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (depth <= 0 || !isObj(a) || !isObj(b)) return [prefix || '(everything)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => changedPaths(a[k], b[k], depth - 1, prefix ? `${prefix}.${k}` : k));
}

/** A one-line description of a schedule's settings. */
export function describeSettings(s: ScheduleSettings): string {
  const when = s.cron ? `cron "${s.cron}" ${s.timezone}` : `every ${s.interval ?? '?'}`;
  return [
    when,
    s.jitter ? `jitter ${s.jitter}` : '',
    `catchup ${s.catchupWindow}`,
    `overlap ${s.overlap}`,
    s.paused ? 'paused' : '',
    `queue ${s.taskQueue}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** What sync does: pure, so `--dry-run` and the real run print the same plan. */
export function planSync(desired: DesiredSchedule[], existing: ExistingSchedule[]): SyncEntry[] {
  const have = new Map(existing.map((e) => [e.scheduleId, e]));
  const want = new Set(desired.map((d) => d.scheduleId));
  const out: SyncEntry[] = [];
  for (const d of desired) {
    const e = have.get(d.scheduleId);
    if (!e) {
      out.push({
        model: d.model,
        scheduleId: d.scheduleId,
        action: 'create',
        changes: [describeSettings(d.settings)],
        desired: d,
      });
      continue;
    }
    if (!e.memo) {
      out.push({
        model: d.model,
        scheduleId: d.scheduleId,
        action: 'update',
        changes: ['made outside `mlo schedules sync` (no memo): replaced by the spec', describeSettings(d.settings)],
        desired: d,
        existing: e,
      });
      continue;
    }
    if (e.memo.specHash === d.specHash && e.memo.settingsHash === d.settingsHash) {
      out.push({ model: d.model, scheduleId: d.scheduleId, action: 'unchanged', changes: [], desired: d, existing: e });
      continue;
    }
    const changes = diffSettings(e.memo.settings, d.settings);
    if (e.memo.specHash !== d.specHash) {
      const paths = e.spec
        ? changedPaths(e.spec, d.spec).filter((p) => p !== 'schedule' && !p.startsWith('schedule.'))
        : [];
      if (paths.length > 0) changes.push(`spec: ${paths.join(', ')}`);
      else if (!e.spec) changes.push(`spec hash: ${e.memo.specHash} → ${d.specHash}`);
    }
    if (changes.length === 0) changes.push(`spec hash: ${e.memo.specHash} → ${d.specHash}`);
    out.push({ model: d.model, scheduleId: d.scheduleId, action: 'update', changes, desired: d, existing: e });
  }
  for (const e of existing) {
    if (want.has(e.scheduleId) || !e.scheduleId.startsWith(RETRAIN_SCHEDULE_PREFIX)) continue;
    out.push({
      model: e.model,
      scheduleId: e.scheduleId,
      action: 'delete',
      changes: ['no model spec with a schedule for it'],
      existing: e,
    });
  }
  return out.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
}

/**
 * Applies a plan. An update keeps a manual pause (`mlo schedules pause`) unless the spec's
 * own `paused` changed; a create that finds the schedule already there updates it.
 */
export async function applySync(client: Client, cfg: Config, plan: SyncEntry[]): Promise<void> {
  for (const e of plan) {
    const h = client.schedule.getHandle(e.scheduleId);
    if (e.action === 'delete') {
      await h.delete().catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
      continue;
    }
    if (e.action === 'unchanged' || !e.desired) continue;
    const opts = scheduleOptions(cfg, e.desired);
    if (e.action === 'create') {
      try {
        await client.schedule.create(opts);
        continue;
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      }
    }
    const specPausedBefore = e.existing?.memo?.settings.paused;
    await h.update((prev) => ({
      spec: opts.spec,
      action: opts.action,
      policies: opts.policies,
      state: {
        paused:
          specPausedBefore !== undefined && specPausedBefore === e.desired?.settings.paused
            ? prev.state.paused
            : (e.desired?.settings.paused ?? false),
        note: opts.state?.note,
      },
    }));
  }
}
