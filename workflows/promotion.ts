/**
 * promotion: the gate to production for one candidate. Sets `challenger`, shows the evidence
 * in the Temporal UI, waits (for days, at no cost) for a reviewer's decision, then moves the
 * registry through the compare-and-set activity, in the serialized `champion/<model>` child
 * workflow (champion-move.ts). At most one runs per model: its workflow id
 * is `promotion/<model>`. Every decision, refusal and alias move is audited, naming the
 * verified identities of requester and decider. Reviewers and deadline come from the model
 * spec deployed with the workers (loaded here, not taken from the parent), never from the input.
 */
import {
  ActivityFailure,
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
import { DecisionGate, refusalAudit, type Decision } from './decision-gate';
import { loadDeployedSpec, usesDeployedSpec } from './deployed-spec';
import { requesterIdentity } from './identity';

export type PromotionInput = {
  model: string;
  /** The hash of the spec the run was started with: the promotion loads the deployed spec with it. */
  specHash: string;
  candidateVersion: string;
  requestedBy: string;
  /** The champion the candidate was evaluated against (null: none); compare-and-set on approval. */
  championAtEvaluation: string | null;
  /** Evaluation and shadow summary (Markdown, with links) shown in the UI. */
  summary: string;
  evidence: Record<string, string>;
  parentWorkflowId: string;
  cpuQueue: string;
  /**
   * Promotions started before the deployed spec were told their reviewers and deadline (e.g. 72h)
   * here; their stored histories still replay with them. New promotions ignore both.
   */
  reviewers?: string[];
  deadline?: string;
};

/** One promotion as its steps see it. */
type Promotion = {
  input: PromotionInput;
  acts: Activities;
  state: PromotionState;
  workflowId: string;
  requester: RequesterIdentity;
};

/** Who decides and until when. */
type Rules = { reviewers: string[]; deadlineAt: number };

export async function promotion(input: PromotionInput): Promise<DecisionResult> {
  const acts = proxyActivities<Activities>(profiles.aliasAndAudit(input.cpuQueue));
  const startedAt = Date.now();
  const deployed = usesDeployedSpec();
  // Histories of promotions started before the deployed spec: the input's rules, as then.
  const legacy = deployed ? undefined : inputRules(input, startedAt);
  const workflowId = workflowInfo().workflowId;
  const state = initialState(input, legacy);
  // Handlers first, before any await: the UI lists them from the start.
  setHandler(promotionStateQuery, () => state, {
    description: 'The promotion: candidate, reviewers, deadline, status, decision and refused decisions.',
  });
  const gate = new DecisionGate(
    {
      model: input.model,
      candidateVersion: input.candidateVersion,
      requestedBy: input.requestedBy,
      reviewers: legacy?.reviewers ?? [],
      deadlineAt: legacy?.deadlineAt ?? startedAt,
      subject: `promotion of version ${input.candidateVersion}`,
      ready: legacy !== undefined,
    },
    state,
  );
  if (!legacy) {
    const rules = await deployedRules(input, startedAt);
    Object.assign(state, { reviewers: rules.reviewers, deadline: new Date(rules.deadlineAt).toISOString() });
    gate.open(rules);
  }
  const p: Promotion = { input, acts, state, workflowId, requester: requesterIdentity(input.requestedBy) };
  const target = { model: input.model, version: input.candidateVersion, workflowId };
  return auditedCancellation(
    async () => {
      await openForReview(p);
      return gate.wait(
        (r) => acts.appendAuditRecord(refusalAudit(r, target)),
        (d) => (d.kind === 'approve' ? promote(p, d) : dropCandidate(p, d)),
      );
    },
    () =>
      acts.dropChallenger({
        ...target,
        actor: 'mlo',
        reason: CANCELLED_REASON,
        action: 'cancelled',
        requester: p.requester,
      }),
  );
}

function deadlineMs(deadline: string | undefined): number {
  const ms = parseDuration(deadline ?? '');
  if (ms === undefined)
    throw ApplicationFailure.nonRetryable(`promotion.deadline "${deadline}" is not a duration`, FailureType.BadInput);
  return ms;
}

/** Reviewers and deadline of the model spec deployed with the workers; the deadline counts from the start. */
async function deployedRules(input: PromotionInput, startedAt: number): Promise<Rules> {
  const { spec } = await loadDeployedSpec(input.cpuQueue, input.model, input.specHash);
  return { reviewers: spec.promotion.reviewers, deadlineAt: startedAt + deadlineMs(spec.promotion.deadline) };
}

/** The rules an older promotion was told in its input (replaying its stored history). */
function inputRules(input: PromotionInput, startedAt: number): Rules {
  return { reviewers: input.reviewers ?? [], deadlineAt: startedAt + deadlineMs(input.deadline) };
}

function initialState(input: PromotionInput, rules: Rules | undefined): PromotionState {
  return {
    model: input.model,
    candidateVersion: input.candidateVersion,
    requestedBy: input.requestedBy,
    reviewers: rules?.reviewers ?? [],
    deadline: rules ? new Date(rules.deadlineAt).toISOString() : '',
    status: 'preparing',
    refusals: [],
    summary: input.summary,
  };
}

/** Sets `challenger` and shows reviewers the evidence and how to decide. */
async function openForReview({ input, acts, state, workflowId, requester }: Promotion): Promise<void> {
  await acts.setChallenger({
    model: input.model,
    version: input.candidateVersion,
    requestedBy: input.requestedBy,
    workflowId,
    evidence: input.evidence,
    requester,
  });
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.stage, value: 'awaiting-approval' },
    { key: SA.candidateVersion, value: input.candidateVersion },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
  const version = input.candidateVersion;
  setCurrentDetails(
    [
      `## Awaiting approval: ${input.model} version ${version}`,
      `Requested by **${input.requestedBy}**; reviewers: ${state.reviewers.join(', ')} ` +
        `(the requester may not approve). Deadline: **${state.deadline}**.`,
      'Decide with **Send an Update** → ' +
        `\`approve\` \`{"reviewer": "<you>", "candidateVersion": "${version}"}\` or ` +
        '`reject` `{"reviewer": "<you>", "reason": "…"}`.',
      '',
      input.summary,
    ].join('\n\n'),
  );
  state.status = 'awaiting-approval';
}

/** Approved: `champion` moves to the candidate if it still is where the evaluation found it. */
async function promote(p: Promotion, d: Decision): Promise<DecisionResult> {
  const { input, acts, state } = p;
  setStatus(state, 'moving-registry');
  try {
    const move = {
      model: input.model,
      version: input.candidateVersion,
      expectedChampion: input.championAtEvaluation,
      actor: d.reviewer,
      action: 'champion-moved' as const,
      reason: d.comment,
      evidence: input.evidence,
      workflowId: p.workflowId,
      requester: p.requester,
      ...(d.identity ? { decider: d.identity } : {}),
    };
    await moveChampionSerialized(acts, { move, cpuQueue: input.cpuQueue });
  } catch (err) {
    setStatus(state, 'failed');
    await acts.dropChallenger({
      model: input.model,
      version: input.candidateVersion,
      actor: 'mlo',
      reason: isChampionMoved(err)
        ? 'approved, but the champion moved since evaluation; nothing was promoted'
        : `approved, but the registry could not be updated: ${(err as Error).message}`,
      action: 'rejected',
      workflowId: p.workflowId,
      requester: p.requester,
    });
    throw err;
  }
  setStatus(state, 'promoted');
  setCurrentDetails(
    `## Promoted: ${input.model} version ${input.candidateVersion} is champion\n\n` +
      `Approved by ${d.reviewer} at ${d.at}.`,
  );
  return {
    outcome: 'promoted',
    version: input.candidateVersion,
    decidedBy: d.reviewer,
    message: `${input.model} version ${input.candidateVersion} is now champion (approved by ${d.reviewer})`,
  };
}

/** The move failed because `champion` was no longer where the decision found it. */
function isChampionMoved(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.ChampionMoved
  );
}

/** Rejected or expired: `challenger` goes, `champion` stays. */
async function dropCandidate(p: Promotion, d: Decision): Promise<DecisionResult> {
  const { input, acts, state, workflowId } = p;
  const expired = d.kind === 'expire';
  const version = input.candidateVersion;
  await acts.dropChallenger({
    model: input.model,
    version,
    actor: d.reviewer,
    reason: d.reason ?? '',
    action: expired ? 'expired' : 'rejected',
    workflowId,
    requester: p.requester,
    ...(d.identity ? { decider: d.identity } : {}),
  });
  setStatus(state, expired ? 'expired' : 'rejected');
  setCurrentDetails(`## ${expired ? 'Expired' : 'Rejected'}: ${input.model} version ${version}\n\n${d.reason ?? ''}`);
  return {
    outcome: expired ? 'expired' : 'rejected',
    version,
    decidedBy: d.reviewer,
    message: expired
      ? `version ${version} expired: ${d.reason ?? ''}`
      : `version ${version} rejected by ${d.reviewer}: ${d.reason ?? ''}`,
  };
}

/** The promotion's status, in its state (the query) and in the `MloStage` search attribute. */
function setStatus(state: PromotionState, status: PromotionState['status']): void {
  state.status = status;
  upsertSearchAttributes([{ key: SA.stage, value: status }]);
}
