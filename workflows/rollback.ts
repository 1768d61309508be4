/**
 * rollback: moves `champion` back to the previous champion, or to a named version that once
 * was champion (per the audit trail). A reviewer approves it by default (the same approve /
 * reject updates and signals as a promotion); the emergency path moves at once and is
 * audited as an emergency. Workflow id: `rollback/<model>`.
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
import { promotionStateQuery, type DecisionResult, type PromotionState } from '../lib/core/definitions';
import { installDecisionHandlers, type DecisionRules } from './promotion';
import { SA } from '../lib/core/search-attributes';

export type RollbackInput = {
  model: string;
  /** A version that once was champion; default: the champion before the current one. */
  toVersion?: string;
  requestedBy: string;
  reason: string;
  /** Skip the reviewer's approval (audited as an emergency). */
  emergency: boolean;
  reviewers: string[];
  deadline: string;
  cpuQueue: string;
};

export async function rollback(input: RollbackInput): Promise<DecisionResult> {
  const acts = proxyActivities<Activities>({
    taskQueue: input.cpuQueue,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 30,
      nonRetryableErrorTypes: [FailureType.BadInput, FailureType.ChampionMoved],
    },
  });
  const bad = (message: string) =>
    ApplicationFailure.create({ type: FailureType.BadInput, message, nonRetryable: true });
  const deadlineMs = parseDuration(input.deadline) ?? 0;
  // Handlers first, before any await: the UI lists them from the start.
  const state: PromotionState = {
    model: input.model,
    candidateVersion: input.toVersion ?? '(previous champion)',
    requestedBy: input.requestedBy,
    reviewers: input.reviewers,
    deadline: new Date(Date.now() + deadlineMs).toISOString(),
    status: 'preparing',
    refusals: [],
    summary: `Roll back ${input.model}: ${input.reason}`,
  };
  setHandler(promotionStateQuery, () => state, {
    description: 'The rollback: target version, reviewers, deadline, status and refused decisions.',
  });
  const rules: DecisionRules & { ready: boolean } = {
    model: input.model,
    candidateVersion: state.candidateVersion,
    requestedBy: input.requestedBy,
    reviewers: input.reviewers,
    deadlineAt: Date.now() + deadlineMs,
    subject: 'rollback',
    ready: false,
  };
  const decisions = installDecisionHandlers(rules, state);
  if (!input.reason.trim()) throw bad('a rollback needs a reason');
  if (!input.emergency && !deadlineMs) throw bad(`"${input.deadline}" is not a duration`);
  const wf = workflowInfo().workflowId;
  const { history, current } = await acts.championLineage({ model: input.model });
  if (!current) throw bad(`${input.model} has no champion to roll back`);
  let target = input.toVersion;
  if (!target) {
    for (let i = history.length - 1; i >= 0; i--) {
      if (history[i] !== current) {
        target = history[i];
        break;
      }
    }
    if (!target)
      throw bad(
        `the audit trail of ${input.model} holds no champion before version ${current}; name the version to roll back to`,
      );
  }
  if (target === current) throw bad(`version ${target} already is the champion of ${input.model}`);
  if (!history.includes(target))
    throw bad(
      `version ${target} never was champion of ${input.model}; former champions: ${[...new Set(history)].join(', ') || '(none)'}`,
    );

  await acts.appendAuditRecord({
    model: input.model,
    action: 'rollback-requested',
    actor: input.requestedBy,
    at: new Date().toISOString(),
    version: target,
    previousChampion: current,
    reason: input.reason,
    emergency: input.emergency,
    workflowId: wf,
  });
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.stage, value: input.emergency ? 'rollback-emergency' : 'rollback-awaiting-approval' },
    { key: SA.candidateVersion, value: target },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
  const move = async (actor: string, comment?: string): Promise<DecisionResult> => {
    await acts.moveChampion({
      model: input.model,
      version: target,
      expectedChampion: current,
      actor,
      action: 'rollback',
      reason: comment ? `${input.reason} (${comment})` : input.reason,
      emergency: input.emergency,
      workflowId: wf,
    });
    upsertSearchAttributes([{ key: SA.stage, value: 'rolled-back' }]);
    setCurrentDetails(`## Rolled back: ${input.model} champion is version ${target} (was ${current})`);
    return {
      outcome: 'promoted',
      version: target,
      decidedBy: actor,
      message: `${input.model} champion rolled back from version ${current} to ${target}${input.emergency ? ' (emergency)' : ''}`,
    };
  };
  if (input.emergency) return move(input.requestedBy);

  state.candidateVersion = target;
  state.summary = `Roll back ${input.model} from version ${current} to version ${target}: ${input.reason}`;
  state.status = 'awaiting-approval';
  Object.assign(rules, { candidateVersion: target, subject: `rollback to version ${target}`, ready: true });
  setCurrentDetails(
    `## Rollback awaiting approval: ${input.model} version ${current} → ${target}\n\nRequested by **${input.requestedBy}**: ${input.reason}\n\nDecide with **Send an Update** → \`approve\` \`{"reviewer": "<you>"}\` or \`reject\` \`{"reviewer": "<you>", "reason": "…"}\`.`,
  );
  return decisions.wait(
    async (r) => {
      await acts.appendAuditRecord({
        model: input.model,
        action: 'refused',
        actor: r.reviewer,
        at: r.at,
        version: target,
        reason: `${r.kind} via ${r.via}: ${r.reason}`,
        workflowId: wf,
      });
    },
    async (d) => {
      if (d.kind === 'approve') {
        state.status = 'promoted';
        return move(d.reviewer, d.comment);
      }
      state.status = d.kind === 'expire' ? 'expired' : 'rejected';
      await acts.appendAuditRecord({
        model: input.model,
        action: d.kind === 'expire' ? 'expired' : 'rejected',
        actor: d.reviewer,
        at: d.at,
        version: target,
        reason: d.reason,
        workflowId: wf,
      });
      upsertSearchAttributes([{ key: SA.stage, value: state.status }]);
      return {
        outcome: d.kind === 'expire' ? 'expired' : 'rejected',
        version: target,
        decidedBy: d.reviewer,
        message: `rollback to version ${target} ${state.status}: ${d.reason ?? ''}`,
      };
    },
  );
}
