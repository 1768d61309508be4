/**
 * `mlo schedules`: the Temporal Schedules of scheduled retraining (lib/schedules.ts): sync
 * them with the model specs, list them, pause, unpause, trigger and backfill one.
 *
 * `sync` signs in as the scheduler service (`mlo-scheduler`, client credentials, secret
 * MLO_SCHEDULER_CLIENT_SECRET): the schedules' runs are requested by its subject, which the
 * Temporal server requires to be the caller's. The other subcommands act as the signed-in user.
 */
import path from 'node:path';
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { loadConfig, type Config } from '../../lib/infra/config';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { temporalUiLink } from '../../lib/client/runs';
import {
  applySync,
  describeSchedule,
  describeSettings,
  desiredSchedule,
  planSync,
  readExistingSchedules,
  type DesiredSchedule,
  type ExistingSchedule,
  type SyncEntry,
} from '../../lib/client/schedules';
import { listSpecFiles, loadSpecFile, SpecError, type ModelSpec } from '../../lib/spec/model-spec';
import { boolFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import {
  checkModelName,
  dayFlag,
  endDayFlag,
  identityOf,
  JSON_FLAG,
  MODELS_DIR_FLAG,
  modelsDir,
  signedIn,
  withTemporal,
} from '../context';
import { clientCredentialsToken, serviceCredentials } from '../../lib/identity/oidc-client';
import { CLIENT_IDS } from '../../lib/identity/shared';
import { table } from '../render';
import { retrainScheduleId } from '../../lib/core/ids';

const SUBCOMMANDS = ['sync', 'list', 'pause', 'unpause', 'trigger', 'backfill'] as const;
type Sub = (typeof SUBCOMMANDS)[number];
const FLAGS_OF: Record<Sub, string[]> = {
  sync: ['dry-run', 'json', 'models-dir'],
  list: ['json'],
  pause: ['note', 'json'],
  unpause: ['note', 'json'],
  trigger: ['json'],
  backfill: ['from', 'to', 'json'],
};

/** Loads every spec of the directory; any invalid one stops the sync before it changes anything. */
function loadAllSpecs(dir: string): { file: string; spec: ModelSpec }[] {
  const files = listSpecFiles(dir);
  const rel = path.relative(process.cwd(), dir) || dir;
  if (files.length === 0)
    throw new BadInputError(
      `no model specs (*.yaml) in ${rel}/: refusing to sync (it would delete every mlo-retrain/ schedule); ` +
        'check --models-dir / MLO_MODELS_DIR',
    );
  const problems: string[] = [];
  const out: { file: string; spec: ModelSpec }[] = [];
  for (const f of files) {
    try {
      out.push({ file: path.relative(process.cwd(), f) || f, spec: loadSpecFile(f) });
    } catch (err) {
      if (err instanceof SpecError) problems.push(err.message);
      else if (err instanceof BadInputError) problems.push(err.message);
      else throw err;
    }
  }
  if (problems.length > 0)
    throw new BadInputError(
      `${problems.join('\n')}\nnothing was changed: fix the spec${problems.length > 1 ? 's' : ''} and sync again`,
    );
  return out;
}

/** The schedules the specs ask for, their runs requested by `requestedBy` (the identity that syncs). */
export function desiredSchedules(
  cfg: Config,
  specs: { file: string; spec: ModelSpec }[],
  requestedBy?: string,
): DesiredSchedule[] {
  return specs.flatMap(({ file, spec }) => desiredSchedule(cfg, spec, file, requestedBy) ?? []);
}

/** The plan as text: one line per model, then one indented line per change. */
export function renderPlan(plan: SyncEntry[], dryRun: boolean): string[] {
  const rows = table(
    ['ACTION', 'MODEL', 'SCHEDULE'],
    plan.map((e) => [e.action, e.model, e.scheduleId]),
  );
  const lines: string[] = [rows[0] ?? ''];
  plan.forEach((e, i) => {
    lines.push(rows[i + 1] ?? '');
    for (const c of e.changes) lines.push(`    ${c}`);
  });
  const n = (a: SyncEntry['action']) => plan.filter((e) => e.action === a).length;
  lines.push(
    dryRun
      ? `dry run, nothing changed: would create ${n('create')}, update ${n('update')}, delete ${n('delete')}; ` +
          `${n('unchanged')} unchanged`
      : `created ${n('create')}, updated ${n('update')}, deleted ${n('delete')}; ${n('unchanged')} unchanged`,
  );
  return plan.length === 0
    ? ['no model spec has a schedule and no mlo-retrain/ schedule exists; nothing to do']
    : lines;
}

type ScheduleListing = {
  scheduleId: string;
  model: string;
  file: string | null;
  specHash: string | null;
  settings: string | null;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  recentActions: { scheduledAt: string; takenAt: string; workflowId: string; runId: string }[];
  actionsTaken: number;
  missedCatchupWindow: number;
  skippedOverlap: number;
};

function listingOf(e: ExistingSchedule): ScheduleListing {
  const d = e.description;
  return {
    scheduleId: e.scheduleId,
    model: e.model,
    file: e.memo?.file ?? null,
    specHash: e.memo?.specHash ?? null,
    settings: e.memo ? describeSettings(e.memo.settings) : null,
    paused: e.paused,
    note: d.state.note ?? null,
    nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
    recentActions: d.info.recentActions.slice(-5).map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
    actionsTaken: d.info.numActionsTaken,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    skippedOverlap: d.info.numActionsSkippedOverlap,
  };
}

const when = (iso: string) => iso.replace('T', ' ').slice(0, 16);

/** The LAST RUN column: when the last action was scheduled and the run it started. */
function lastRun(a: ScheduleListing['recentActions'][number] | undefined): string {
  return a ? `${when(a.scheduledAt)} ${a.workflowId}` : '-';
}

function renderListing(ls: ScheduleListing[]): string[] {
  if (ls.length === 0) return ['no mlo-retrain/ schedules; create them from the specs with `mlo schedules sync`'];
  const out = table(
    ['MODEL', 'STATE', 'SPEC', 'NEXT RUNS (UTC)', 'LAST RUN'],
    ls.map((l) => [
      l.model,
      l.paused ? 'paused' : 'active',
      l.file ? `${l.file} (${(l.specHash ?? '').slice(0, 8)})` : '(not synced by mlo)',
      l.paused ? '-' : l.nextRuns.map(when).join(', '),
      lastRun(l.recentActions[l.recentActions.length - 1]),
    ]),
  );
  for (const l of ls) {
    out.push(
      '',
      `${l.scheduleId}: ${l.settings ?? ''}; ${l.actionsTaken} runs started, ` +
        `${l.skippedOverlap} skipped (overlap), ${l.missedCatchupWindow} missed (catchup window)`,
    );
    if (l.note) out.push(`  note: ${l.note}`);
    for (const a of l.recentActions) out.push(`  ${when(a.scheduledAt)}  ${a.workflowId}`);
  }
  return out;
}

async function handleOf(client: Client, model: string) {
  const id = retrainScheduleId(checkModelName(model, 'the model'));
  const d = await describeSchedule(client, id);
  if (!d)
    throw new BadInputError(
      `there is no schedule ${id}; a spec's \`schedule\` becomes one with \`mlo schedules sync\` ` +
        '(see `mlo schedules list`)',
    );
  return { handle: client.schedule.getHandle(id), description: d, id };
}

/** The subcommand, checked against the flags it takes. */
function subcommandOf(args: ParsedArgs): { sub: Sub; rest: string[] } {
  const [sub, ...rest] = args.positionals;
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    const what = sub ? `unknown subcommand "schedules ${sub}"` : '`mlo schedules` needs a subcommand';
    throw new BadInputError(`${what}; use one of ${SUBCOMMANDS.join(', ')} (see \`mlo schedules --help\`)`);
  }
  const s = sub as Sub;
  for (const f of Object.keys(args.flags)) {
    if (!FLAGS_OF[s].includes(f))
      throw new BadInputError(`--${f} does not apply to \`mlo schedules ${s}\`; see \`mlo schedules --help\``);
  }
  return { sub: s, rest };
}

/** The one model name of pause, unpause, trigger and backfill ('' for sync and list, which take none). */
function modelArgOf(s: Sub, rest: string[]): string {
  const needsModel = s === 'pause' || s === 'unpause' || s === 'trigger' || s === 'backfill';
  if (needsModel && rest.length !== 1) {
    const example = `mlo schedules ${s} fraud-detector${s === 'backfill' ? ' --from 2026-03-01 --to 2026-03-08' : ''}`;
    throw new BadInputError(`\`mlo schedules ${s}\` needs exactly one model name, e.g. ${example}`);
  }
  if (!needsModel && rest.length > 0)
    throw new BadInputError(`unexpected argument "${rest[0]}" for \`mlo schedules ${s}\``);
  return rest[0] ?? '';
}

/**
 * `sync`: plans the changes that make the schedules match the specs, and applies them unless
 * --dry-run; as the scheduler service, whose subject requests the scheduled runs.
 */
async function syncSchedules(args: ParsedArgs, json: boolean): Promise<ExitCode> {
  const dryRun = boolFlag(args, 'dry-run');
  const specs = loadAllSpecs(modelsDir(args));
  const cfg = loadConfig();
  const tokens = clientCredentialsToken(serviceCredentials(CLIENT_IDS.scheduler));
  const scheduler = await identityOf(tokens);
  const desired = desiredSchedules(cfg, specs, scheduler.name);
  return withTemporal(
    async ({ client }) => {
      const existing = await readExistingSchedules(
        client,
        desired.map((d) => d.scheduleId),
      );
      const plan = planSync(desired, existing);
      if (!dryRun) await applySync(client, cfg, plan);
      if (json) {
        const entries = plan.map((e) => ({
          model: e.model,
          scheduleId: e.scheduleId,
          action: e.action,
          changes: e.changes,
        }));
        console.log(JSON.stringify({ dryRun, entries }, null, 2));
      } else console.log(renderPlan(plan, dryRun).join('\n'));
      return EXIT_CODES.ok;
    },
    cfg,
    tokens,
  );
}

/** `list`: every mlo-retrain/ schedule. */
function listSchedules(json: boolean): Promise<ExitCode> {
  return withTemporal(async ({ client }) => {
    const ls = (await readExistingSchedules(client)).map(listingOf);
    console.log(json ? JSON.stringify(ls, null, 2) : renderListing(ls).join('\n'));
    return EXIT_CODES.ok;
  });
}

/** `pause` / `unpause`: with a note that says who did it (the signed-in user) and why. */
async function setPaused(args: ParsedArgs, s: 'pause' | 'unpause', model: string, json: boolean): Promise<ExitCode> {
  const why = stringFlag(args, 'note');
  const { tokens, me } = await signedIn();
  const note = `${s}d by ${me.name} via mlo schedules ${s}${why ? `: ${why}` : ''}`;
  return withTemporal(
    async ({ client }) => {
      const { handle, id } = await handleOf(client, model);
      if (s === 'pause') await handle.pause(note);
      else await handle.unpause(note);
      const d = await handle.describe();
      const out = {
        scheduleId: id,
        paused: d.state.paused,
        note: d.state.note ?? null,
        nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      };
      console.log(
        json
          ? JSON.stringify(out, null, 2)
          : `${id} ${out.paused ? 'paused' : `active; next runs ${out.nextRuns.join(', ') || '-'}`} (${note})`,
      );
      return EXIT_CODES.ok;
    },
    undefined,
    tokens,
  );
}

type ScheduleHandle = Awaited<ReturnType<typeof handleOf>>['handle'];
type ScheduleAction = ScheduleDescription['info']['recentActions'][number];

/** The action taken asynchronously is awaited (briefly, 15 s) in the schedule's recent actions. */
async function awaitNewAction(
  handle: ScheduleHandle,
  before: Set<string>,
  t0: number,
): Promise<ScheduleAction | undefined> {
  for (;;) {
    const d = await handle.describe();
    const fresh = d.info.recentActions.find((a) => !before.has(a.action.workflow.workflowId));
    if (fresh) return fresh;
    if (Date.now() - t0 > 15_000) return undefined;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** `trigger`: starts a run now and names it once the schedule shows it. */
function triggerSchedule(model: string, json: boolean): Promise<ExitCode> {
  return withTemporal(async ({ client, cfg }) => {
    const { handle, description, id } = await handleOf(client, model);
    const before = new Set(description.info.recentActions.map((a) => a.action.workflow.workflowId));
    const t0 = Date.now();
    await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const fresh = await awaitNewAction(handle, before, t0);
    if (!fresh) {
      if (json) console.log(JSON.stringify({ scheduleId: id, workflowId: null }, null, 2));
      else
        console.log(
          `triggered ${id}; the run has not shown up in the schedule's recent actions yet (see \`mlo schedules list\`)`,
        );
      return EXIT_CODES.ok;
    }
    const wf = fresh.action.workflow;
    const out = {
      scheduleId: id,
      workflowId: wf.workflowId,
      runId: wf.firstExecutionRunId,
      scheduledAt: fresh.scheduledAt.toISOString(),
      links: { temporal: temporalUiLink(cfg, wf.workflowId, wf.firstExecutionRunId) },
    };
    if (json) console.log(JSON.stringify(out, null, 2));
    else
      console.log(
        `triggered ${id}: started ${wf.workflowId} (data up to ${out.scheduledAt.slice(0, 10)})\n` +
          `  temporal: ${out.links.temporal}\n  follow it: mlo status ${wf.workflowId} --follow`,
      );
    return EXIT_CODES.ok;
  });
}

/** `backfill`: starts the runs of every scheduled time in [--from, --to). */
function backfillSchedule(args: ParsedArgs, model: string, json: boolean): Promise<ExitCode> {
  const from = dayFlag(args, 'from', 'the first day');
  const to = endDayFlag(args, 'to', 'the exclusive end day');
  if (!from || !to)
    throw new BadInputError('`mlo schedules backfill` needs --from and --to, e.g. --from 2026-03-01 --to 2026-03-08');
  if (from >= to) throw new BadInputError(`--from ${from} must be before --to ${to}`);
  return withTemporal(async ({ client }) => {
    const { handle, id } = await handleOf(client, model);
    const start = new Date(`${from}T00:00:00.000Z`);
    const end = new Date(`${to}T00:00:00.000Z`);
    await handle.backfill({ start, end, overlap: ScheduleOverlapPolicy.ALLOW_ALL });
    const out = { scheduleId: id, from: start.toISOString(), to: end.toISOString(), overlap: 'allow_all' };
    console.log(
      json
        ? JSON.stringify(out, null, 2)
        : `backfilling ${id}: every scheduled time from ${from} 00:00 UTC to ${to} 00:00 UTC starts a run ` +
            `(overlap allow_all), each on the data up to its own day.\n  see them with: mlo list --model ${model}`,
    );
    return EXIT_CODES.ok;
  });
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  const { sub, rest } = subcommandOf(args);
  const json = boolFlag(args, 'json');
  const model = modelArgOf(sub, rest);
  switch (sub) {
    case 'sync':
      return syncSchedules(args, json);
    case 'list':
      return listSchedules(json);
    case 'pause':
    case 'unpause':
      return setPaused(args, sub, model, json);
    case 'trigger':
      return triggerSchedule(model, json);
    case 'backfill':
      return backfillSchedule(args, model, json);
  }
}

export const schedulesCommand: Command = {
  name: 'schedules',
  summary: 'scheduled retraining: sync the Temporal Schedules with the specs, list, pause, unpause, trigger, backfill',
  usage:
    'mlo schedules sync [--dry-run] | list | pause <model> [--note …] | unpause <model> | trigger <model> | ' +
    'backfill <model> --from D --to D',
  flags: [
    {
      name: 'dry-run',
      description:
        'sync: print the plan (create/update/delete/unchanged per model, with what changes) and change nothing',
    },
    { name: 'from', value: 'YYYY-MM-DD', description: 'backfill: first day (00:00 UTC)' },
    { name: 'to', value: 'YYYY-MM-DD', description: 'backfill: end day (00:00 UTC, exclusive)' },
    { name: 'note', value: 'TEXT', description: "pause/unpause: why (kept in the schedule's note)" },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'subcommands:',
    '  sync [--dry-run]          create, update and delete mlo-retrain/<model> schedules ' +
      "to match the specs' `schedule`",
    '                            (only ids with that prefix; idempotent: a second sync reports all unchanged)',
    '  list                      each schedule: model, spec, paused or not, next run times, recent runs',
    "  pause <model>             stop starting runs (sync keeps a manual pause unless the spec's `paused` changes)",
    '  unpause <model>           start runs again',
    '  trigger <model>           start a run now (its data window ends today, UTC)',
    '  backfill <model> --from D --to D   start the runs of every scheduled time in the range (overlap allow_all)',
    'A schedule starts trainAndPromote on the orchestrator queue ' +
      'with workflow id train-and-promote/<model>/scheduled-<time>,',
    'requested by the scheduler service, without an as-of day: each run trains on the window ending on its scheduled day.',
    '`sync` signs in as the scheduler service (mlo-scheduler, client credentials; secret MLO_SCHEDULER_CLIENT_SECRET),',
    "so the runs are requested by its subject: the Temporal server requires a schedule's requester to be the caller",
    '(rule `requested by caller`), and refuses a sync by a person. The other subcommands act as the signed-in user.',
  ],
  run,
};
