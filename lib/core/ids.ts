/**
 * The one vocabulary of workflow and schedule ids. Every id mlo makes is built here, and every id
 * mlo reads back (the CLI's arguments, the authorizer's rules, the UI's links) is parsed here, so
 * that no other module writes an id template or a regex for one. Pure: safe in workflow code.
 *
 *   train-and-promote/<model>/<asOf>                a run (manual), as of a day
 *   train-and-promote/<model>/<trainFrom>..<asOf>   a run with an explicit training start
 *   train-and-promote/<model>/scheduled…            scheduled runs (Temporal appends the nominal time)
 *   <run id>/features                               the run's feature backfill (child)
 *   promotion/<model>                               the model's promotion (one at a time: the id is the lock)
 *   rollback/<model>                                the model's rollback (one at a time)
 *   champion/<model>                                a move of the model's `champion` alias (child of either; one at a time)
 *   backfill/<model>/<from>..<to>                   a standalone feature backfill
 *   mlo-retrain/<model>                             the model's retraining schedule (a schedule id)
 */

/** Model names: 2–63 lowercase letters, digits or "-", starting with a letter. */
export const MODEL_NAME_PATTERN = '[a-z][a-z0-9-]{1,62}';
const MODEL_NAME = new RegExp(`^${MODEL_NAME_PATTERN}$`);

export function isModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

export const WorkflowKind = {
  run: 'train-and-promote',
  promotion: 'promotion',
  rollback: 'rollback',
  backfill: 'backfill',
} as const;
export type WorkflowKindName = (typeof WorkflowKind)[keyof typeof WorkflowKind];

const FEATURES_SUFFIX = '/features';
const SCHEDULED = 'scheduled';
export const RETRAIN_SCHEDULE_PREFIX = 'mlo-retrain/';
export const CHAMPION_MOVE_PREFIX = 'champion/';

/** A manual run of `trainAndPromote`: one per model and window, so a second request attaches to it. */
export function runWorkflowId(model: string, asOf: string, trainFrom?: string): string {
  return `${WorkflowKind.run}/${model}/${trainFrom ? `${trainFrom}..` : ''}${asOf}`;
}

/** The workflow id of scheduled runs; Temporal appends the nominal time (`…/scheduled-2026-03-15T03:00:00Z`). */
export function scheduledRunWorkflowId(model: string): string {
  return `${WorkflowKind.run}/${model}/${SCHEDULED}`;
}

/** The feature backfill child of a run (or of any parent workflow). */
export function featuresWorkflowId(parentId: string): string {
  return `${parentId}${FEATURES_SUFFIX}`;
}

/** The id of a model's promotion workflow: at most one runs per model at a time. */
export function promotionWorkflowId(model: string): string {
  return `${WorkflowKind.promotion}/${model}`;
}

/** The id of a model's rollback workflow: at most one runs per model at a time. */
export function rollbackWorkflowId(model: string): string {
  return `${WorkflowKind.rollback}/${model}`;
}

/** The id of the child workflow that moves a model's `champion`: the id serializes every move of the model. */
export function championMoveWorkflowId(model: string): string {
  return `${CHAMPION_MOVE_PREFIX}${model}`;
}

/** A standalone feature backfill over `[from, to)`. */
export function backfillWorkflowId(model: string, from: string, to: string): string {
  return `${WorkflowKind.backfill}/${model}/${from}..${to}`;
}

export function retrainScheduleId(model: string): string {
  return `${RETRAIN_SCHEDULE_PREFIX}${model}`;
}

export function modelOfScheduleId(id: string): string | undefined {
  if (!id.startsWith(RETRAIN_SCHEDULE_PREFIX)) return undefined;
  const model = id.slice(RETRAIN_SCHEDULE_PREFIX.length);
  return isModelName(model) ? model : undefined;
}

export type ParsedWorkflowId = {
  kind: WorkflowKindName;
  model: string;
  /** The part after `<kind>/<model>/`, if any: a run's window or `scheduled…`, a backfill's range. */
  rest?: string;
  /** True for a run's feature backfill child (`…/features`). */
  features: boolean;
};

const KINDS = new Set<string>(Object.values(WorkflowKind));

/** Parses any workflow id mlo makes; undefined for anything else. */
export function parseWorkflowId(id: string): ParsedWorkflowId | undefined {
  const features = id.endsWith(FEATURES_SUFFIX) && id.split('/').length > 3;
  const base = features ? id.slice(0, -FEATURES_SUFFIX.length) : id;
  const [kind, model, ...rest] = base.split('/');
  if (kind === undefined || model === undefined || !KINDS.has(kind) || !isModelName(model)) return undefined;
  const tail = rest.join('/');
  const single = kind === WorkflowKind.promotion || kind === WorkflowKind.rollback;
  if (single ? tail !== '' : tail === '') return undefined;
  return { kind: kind as WorkflowKindName, model, ...(tail ? { rest: tail } : {}), features };
}

/** The model of a workflow id mlo made, or undefined. */
export function modelOfWorkflowId(id: string): string | undefined {
  return parseWorkflowId(id)?.model;
}

/** True for the ids of scheduled runs (`train-and-promote/<model>/scheduled…`). */
export function isScheduledRunId(id: string): boolean {
  const p = parseWorkflowId(id);
  return p?.kind === WorkflowKind.run && !p.features && (p.rest ?? '').startsWith(SCHEDULED);
}
