/**
 * rollback: moves `champion` back to the previous champion, or to a named version that once
 * was champion (per the audit trail). A reviewer approves it by default (the same approve /
 * reject updates and signals as a promotion); the emergency path moves at once and is
 * audited as an emergency. Workflow id: `rollback/<model>`. Reviewers and deadline come from
 * the model spec deployed with the workers, never from the input.
 */
import {
  ApplicationFailure,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { parseDuration } from '../lib/core/duration';
import { FailureType } from '../lib/core/failure-types';
import {
  promotionStateQuery,
  type DecisionResult,
  type PromotionState,
  type RequesterIdentity,
} from '../lib/core/definitions';
import { SA } from '../lib/core/search-attributes';
import * as profiles from './activity-options';
import { auditedCancellation, CANCELLED_REASON } from './cancellation';
import { moveChampionSerialized } from './champion-move';
import { DecisionGate, refusalAudit, type Decision, type DecisionRules } from './decision-gate';
import { loadDeployedSpec, usesDeployedSpec } from './deployed-spec';
import { requesterIdentity } from './identity';

export type RollbackInput = {
  model: string;
  /** The hash of the model spec the requester validated: the rollback loads the deployed spec with it. */
  specHash: string;
  /** A version that once was champion; default: the champion before the current one. */
  toVersion?: string;
  requestedBy: string;
  reason: string;
  /** Skip the reviewer's approval (audited as an emergency). */
  emergency: boolean;
  cpuQueue: string;
  /**
   * Rollbacks started before the deployed spec were told their reviewers and deadline here;
   * their stored histories still replay with them. New rollbacks ignore both.
   */
  reviewers?: string[];
  deadline?: string;
};

/** One rollback as its steps see it, once its target is known. */
type Rollback = {
  input: RollbackInput;
  acts: Activities;
  state: PromotionState;
  workflowId: string;
  /** The champion being rolled back, and the version that replaces it. */
  current: string;
  target: string;
  requester: RequesterIdentity;
};

export async function rollback(input: RollbackInput): Promise<DecisionResult> {
  const acts = proxyActivities<Activities>(profiles.aliasAndAudit(input.cpuQueue));
  const startedAt = Date.now();
  const deployed = usesDeployedSpec();
  // Histories of rollbacks started before the deployed spec: the input's deadline, as then.
  const deadlineMs = deployed ? 0 : (parseDuration(input.deadline ?? '') ?? 0);
  // Handlers first, before any await: the UI lists them from the start.
  const state = initialState(input, deployed ? undefined : deadlineMs);
  setHandler(promotionStateQuery, () => state, {
    description: 'The rollback: target version, reviewers, deadline, status and refused decisions.',
  });
  const gate = new DecisionGate(
    {
      model: input.model,
      candidateVersion: state.candidateVersion,
      requestedBy: input.requestedBy,
      reviewers: deployed ? [] : (input.reviewers ?? []),
      deadlineAt: Date.now() + deadlineMs,
      subject: 'rollback',
      ready: false,
    },
    state,
  );
  if (!input.reason.trim()) throw badInput('a rollback needs a reason');
  if (!deployed && !input.emergency && !deadlineMs) throw badInput(`"${input.deadline}" is not a duration`);
  const rules = deployed ? await deployedRules(input, startedAt, state) : {};
  const workflowId = workflowInfo().workflowId;
  const { current, target } = await resolveTarget(acts, input);
  const r: Rollback = {
    input,
    acts,
    state,
    workflowId,
    current,
    target,
    requester: requesterIdentity(input.requestedBy),
  };
  await recordRequest(r);
  if (input.emergency) return moveBack(r, input.requestedBy);

  state.candidateVersion = target;
  state.summary = `Roll back ${input.model} from version ${current} to version ${target}: ${input.reason}`;
  state.status = 'awaiting-approval';
  gate.open({ ...rules, candidateVersion: target, subject: `rollback to version ${target}` });
  setCurrentDetails(
    `## Rollback awaiting approval: ${input.model} version ${current} → ${target}\n\n` +
      `Requested by **${input.requestedBy}**: ${input.reason}\n\n` +
      'Decide with **Send an Update** → `approve` `{"reviewer": "<you>"}` or ' +
      '`reject` `{"reviewer": "<you>", "reason": "…"}`.',
  );
  return auditedCancellation(
    () =>
      gate.wait(
        (refusal) => acts.appendAuditRecord(refusalAudit(refusal, { model: input.model, version: target, workflowId })),
        (d) => {
          if (d.kind !== 'approve') return close(r, d);
          state.status = 'promoted';
          return moveBack(r, d.reviewer, d.comment, d);
        },
      ),
    () =>
      acts.appendAuditRecord({
        model: input.model,
        action: 'cancelled',
        actor: 'mlo',
        at: new Date().toISOString(),
        version: target,
        reason: CANCELLED_REASON,
        workflowId,
        requester: r.requester,
      }),
  );
}

function badInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.BadInput, message, nonRetryable: true });
}

/**
 * Reviewers and deadline of the model spec deployed with the workers (the deadline counts from
 * the start), shown in the state at once.
 */
async function deployedRules(
  input: RollbackInput,
  startedAt: number,
  state: PromotionState,
): Promise<Pick<DecisionRules, 'reviewers' | 'deadlineAt'>> {
  const { spec } = await loadDeployedSpec(input.cpuQueue, input.model, input.specHash);
  const ms = parseDuration(spec.promotion.deadline);
  if (ms === undefined) throw badInput(`promotion.deadline "${spec.promotion.deadline}" is not a duration`);
  const rules = { reviewers: spec.promotion.reviewers, deadlineAt: startedAt + ms };
  Object.assign(state, { reviewers: rules.reviewers, deadline: new Date(rules.deadlineAt).toISOString() });
  return rules;
}

/** The rollback's state; `deadlineMs` only for histories of rollbacks told their rules in the input. */
function initialState(input: RollbackInput, deadlineMs: number | undefined): PromotionState {
  return {
    model: input.model,
    candidateVersion: input.toVersion ?? '(previous champion)',
    requestedBy: input.requestedBy,
    reviewers: deadlineMs === undefined ? [] : (input.reviewers ?? []),
    deadline: deadlineMs === undefined ? '' : new Date(Date.now() + deadlineMs).toISOString(),
    status: 'preparing',
    refusals: [],
    summary: `Roll back ${input.model}: ${input.reason}`,
  };
}

/** The current champion and the version to roll back to: the named one, else the champion before. */
async function resolveTarget(acts: Activities, input: RollbackInput): Promise<{ current: string; target: string }> {
  const { history, current } = await acts.championLineage({ model: input.model });
  if (!current) throw badInput(`${input.model} has no champion to roll back`);
  const target = input.toVersion || history.findLast((v) => v !== current);
  if (!target)
    throw badInput(
      `the audit trail of ${input.model} holds no champion before version ${current}; ` +
        'name the version to roll back to',
    );
  if (target === current) throw badInput(`version ${target} already is the champion of ${input.model}`);
  if (!history.includes(target)) {
    const former = [...new Set(history)].join(', ') || '(none)';
    throw badInput(`version ${target} never was champion of ${input.model}; former champions: ${former}`);
  }
  return { current, target };
}

/** Audits the request and shows it in the search attributes. */
async function recordRequest({ input, acts, workflowId, current, target, requester }: Rollback): Promise<void> {
  await acts.appendAuditRecord({
    model: input.model,
    action: 'rollback-requested',
    actor: input.requestedBy,
    at: new Date().toISOString(),
    version: target,
    previousChampion: current,
    reason: input.reason,
    emergency: input.emergency,
    workflowId,
    requester,
  });
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.stage, value: input.emergency ? 'rollback-emergency' : 'rollback-awaiting-approval' },
    { key: SA.candidateVersion, value: target },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
}

/**
 * Moves `champion` back to the target, if it still is on the version being rolled back, through
 * the serialized `champion/<model>` child workflow (champion-move.ts).
 */
async function moveBack(r: Rollback, actor: string, comment?: string, d?: Decision): Promise<DecisionResult> {
  const { input, current, target } = r;
  const move = {
    model: input.model,
    version: target,
    expectedChampion: current,
    actor,
    action: 'rollback' as const,
    reason: comment ? `${input.reason} (${comment})` : input.reason,
    emergency: input.emergency,
    workflowId: r.workflowId,
    requester: r.requester,
    ...(d?.identity ? { decider: d.identity } : {}),
  };
  await moveChampionSerialized(r.acts, { move, cpuQueue: input.cpuQueue });
  upsertSearchAttributes([{ key: SA.stage, value: 'rolled-back' }]);
  setCurrentDetails(`## Rolled back: ${input.model} champion is version ${target} (was ${current})`);
  return {
    outcome: 'promoted',
    version: target,
    decidedBy: actor,
    message:
      `${input.model} champion rolled back from version ${current} to ${target}` +
      (input.emergency ? ' (emergency)' : ''),
  };
}

/** Rejected or expired: audited, and `champion` stays. */
async function close(
  { input, acts, state, workflowId, target, requester }: Rollback,
  d: Decision,
): Promise<DecisionResult> {
  const status = d.kind === 'expire' ? 'expired' : 'rejected';
  state.status = status;
  await acts.appendAuditRecord({
    model: input.model,
    action: status,
    actor: d.reviewer,
    at: d.at,
    version: target,
    reason: d.reason,
    workflowId,
    requester,
    ...(d.identity ? { decider: d.identity } : {}),
  });
  upsertSearchAttributes([{ key: SA.stage, value: status }]);
  return {
    outcome: status,
    version: target,
    decidedBy: d.reviewer,
    message: `rollback to version ${target} ${status}: ${d.reason ?? ''}`,
  };
}
