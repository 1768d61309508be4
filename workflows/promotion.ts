/**
 * promotion: the gate to production for one candidate. Sets `challenger`, shows the evidence
 * in the Temporal UI, waits (for days, at no cost) for a reviewer's decision, then moves the
 * registry through the compare-and-set activity. At most one runs per model: its workflow id
 * is `promotion/<model>`. Every decision, refusal and alias move is audited.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  log,
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
  approveSignal,
  approveUpdate,
  promotionStateQuery,
  rejectSignal,
  rejectUpdate,
  type Approval,
  type DecisionResult,
  type PromotionState,
  type Refusal,
  type Rejection,
} from '../lib/core/definitions';
import { SA } from '../lib/core/search-attributes';

export type DecisionRules = {
  model: string;
  candidateVersion: string;
  requestedBy: string;
  reviewers: string[];
  deadlineAt: number;
  /** What is being decided, for messages: "promotion of version 7" or "rollback to version 3". */
  subject: string;
};

/** Why a decision must be refused, or undefined when it is acceptable. */
export function refusalReason(
  kind: 'approve' | 'reject',
  d: Partial<Approval & Rejection> | undefined,
  rules: DecisionRules,
  decided: string | undefined,
  now: number,
): string | undefined {
  if (decided)
    return `the ${rules.subject} of ${rules.model} is already decided (${decided}); a second decision is refused`;
  if (now >= rules.deadlineAt)
    return `the decision deadline (${new Date(rules.deadlineAt).toISOString()}) has passed; the ${rules.subject} expired`;
  if (!d || typeof d.reviewer !== 'string' || d.reviewer.trim() === '')
    return 'name the reviewer, e.g. {"reviewer": "alice@example.com"}';
  if (!rules.reviewers.includes(d.reviewer))
    return `${d.reviewer} is not a reviewer of ${rules.model}; the model spec's reviewers are ${rules.reviewers.join(', ')}`;
  if (
    d.candidateVersion !== undefined &&
    d.candidateVersion !== null &&
    String(d.candidateVersion) !== rules.candidateVersion
  ) {
    return `this is the ${rules.subject}, not version ${String(d.candidateVersion)}; check the version you reviewed`;
  }
  if (kind === 'approve' && d.reviewer === rules.requestedBy)
    return `${d.reviewer} requested this run and may not approve it (four eyes); another reviewer must approve`;
  if (kind === 'reject' && (typeof d.reason !== 'string' || d.reason.trim() === ''))
    return 'a rejection needs a reason, e.g. {"reviewer": "bob@example.com", "reason": "recall on DE dropped"}';
  return undefined;
}

export type Decision = {
  kind: 'approve' | 'reject' | 'expire';
  reviewer: string;
  reason?: string;
  comment?: string;
  at: string;
};

/**
 * Registers approve/reject as updates (validated) and as signals (refusals recorded) at once,
 * so the Temporal UI lists them from the workflow's start; `wait` then waits for the first
 * acceptable decision or the deadline, and `finish` performs it and returns what update
 * callers receive. Rules may be completed after registration (`ready` false until then).
 */
export function installDecisionHandlers(
  rules: DecisionRules & { ready: boolean },
  state: { decision?: Decision; refusals: Refusal[] },
) {
  let pending: Decision | undefined;
  let result: DecisionResult | undefined;
  let failure: unknown;
  const queued: Refusal[] = [];
  const decided = () =>
    pending
      ? `${pending.kind === 'approve' ? 'approved' : pending.kind === 'reject' ? 'rejected' : 'expired'} by ${pending.reviewer}`
      : undefined;
  const why = (kind: 'approve' | 'reject', d: Partial<Approval & Rejection>) =>
    rules.ready
      ? refusalReason(kind, d, rules, decided(), Date.now())
      : `the ${rules.subject} of ${rules.model} is still being prepared; try again in a moment`;
  const validate = (kind: 'approve' | 'reject') => (d: Partial<Approval & Rejection>) => {
    const reason = why(kind, d);
    if (reason) throw new Error(reason);
  };
  const waitForOutcome = async (): Promise<DecisionResult> => {
    await condition(() => result !== undefined || failure !== undefined);
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
    return result as DecisionResult;
  };
  const subject = rules.subject.replace(/ of version .*| to version .*/, '');
  setHandler(
    approveUpdate,
    async (a) => {
      pending = { kind: 'approve', reviewer: a.reviewer, comment: a.comment, at: new Date().toISOString() };
      return waitForOutcome();
    },
    {
      validator: validate('approve'),
      description: `Approve the ${subject}. Input: {"reviewer": "<your e-mail>", "candidateVersion": "<version>", "comment": "…"}. The requester may not approve.`,
    },
  );
  setHandler(
    rejectUpdate,
    async (r) => {
      pending = { kind: 'reject', reviewer: r.reviewer, reason: r.reason, at: new Date().toISOString() };
      return waitForOutcome();
    },
    {
      validator: validate('reject'),
      description: `Reject the ${subject}. Input: {"reviewer": "<your e-mail>", "reason": "<why>", "candidateVersion": "<version>"}.`,
    },
  );
  const onSignal = (kind: 'approve' | 'reject') => (d: Partial<Approval & Rejection>) => {
    const reason = why(kind, d);
    if (reason) {
      const refusal: Refusal = {
        at: new Date().toISOString(),
        via: 'signal',
        kind,
        reviewer: typeof d?.reviewer === 'string' ? d.reviewer : '(none)',
        reason,
      };
      state.refusals.push(refusal);
      queued.push(refusal);
      log.warn('decision refused', refusal);
      return;
    }
    pending = {
      kind,
      reviewer: d.reviewer as string,
      reason: d.reason,
      comment: d.comment,
      at: new Date().toISOString(),
    };
  };
  setHandler(approveSignal, onSignal('approve'), {
    description: `Approve the ${subject} (for clients without updates). Input: {"reviewer": "<your e-mail>"}. A refused signal changes nothing and is recorded.`,
  });
  setHandler(rejectSignal, onSignal('reject'), {
    description: `Reject the ${subject} (for clients without updates). Input: {"reviewer": "<your e-mail>", "reason": "<why>"}. A refused signal changes nothing and is recorded.`,
  });

  return {
    async wait(
      recordRefusal: (r: Refusal) => Promise<void>,
      finish: (d: Decision) => Promise<DecisionResult>,
    ): Promise<DecisionResult> {
      for (;;) {
        const remaining = rules.deadlineAt - Date.now();
        const got =
          remaining > 0 ? await condition(() => pending !== undefined || queued.length > 0, remaining) : false;
        while (queued.length > 0) await recordRefusal(queued.shift() as Refusal);
        if (pending) break;
        if (!got) {
          pending = {
            kind: 'expire',
            reviewer: 'mlo',
            reason: `no decision before the deadline ${new Date(rules.deadlineAt).toISOString()}`,
            at: new Date().toISOString(),
          };
          break;
        }
      }
      const decision = pending;
      state.decision = decision;
      try {
        result = await finish(decision);
      } catch (err) {
        failure = err;
        await condition(allHandlersFinished);
        throw err;
      }
      while (queued.length > 0) await recordRefusal(queued.shift() as Refusal);
      await condition(allHandlersFinished);
      return result;
    },
  };
}

export type PromotionInput = {
  model: string;
  candidateVersion: string;
  requestedBy: string;
  reviewers: string[];
  /** How long reviewers have (e.g. 72h); then the candidate is rejected as expired. */
  deadline: string;
  /** The champion the candidate was evaluated against (null: none); compare-and-set on approval. */
  championAtEvaluation: string | null;
  /** Evaluation and shadow summary (Markdown, with links) shown in the UI. */
  summary: string;
  evidence: Record<string, string>;
  parentWorkflowId: string;
  cpuQueue: string;
};

export async function promotion(input: PromotionInput): Promise<DecisionResult> {
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
  const deadlineMs = parseDuration(input.deadline);
  if (deadlineMs === undefined)
    throw ApplicationFailure.nonRetryable(
      `promotion.deadline "${input.deadline}" is not a duration`,
      FailureType.BadInput,
    );
  const deadlineAt = Date.now() + deadlineMs;
  const wf = workflowInfo().workflowId;
  const state: PromotionState = {
    model: input.model,
    candidateVersion: input.candidateVersion,
    requestedBy: input.requestedBy,
    reviewers: input.reviewers,
    deadline: new Date(deadlineAt).toISOString(),
    status: 'preparing',
    refusals: [],
    summary: input.summary,
  };
  // Handlers first, before any await: the UI lists them from the start.
  setHandler(promotionStateQuery, () => state, {
    description: 'The promotion: candidate, reviewers, deadline, status, decision and refused decisions.',
  });
  const decisions = installDecisionHandlers(
    {
      model: input.model,
      candidateVersion: input.candidateVersion,
      requestedBy: input.requestedBy,
      reviewers: input.reviewers,
      deadlineAt,
      subject: `promotion of version ${input.candidateVersion}`,
      ready: true,
    },
    state,
  );

  await acts.setChallenger({
    model: input.model,
    version: input.candidateVersion,
    requestedBy: input.requestedBy,
    workflowId: wf,
    evidence: input.evidence,
  });
  upsertSearchAttributes([
    { key: SA.model, value: input.model },
    { key: SA.stage, value: 'awaiting-approval' },
    { key: SA.candidateVersion, value: input.candidateVersion },
    { key: SA.requestedBy, value: input.requestedBy },
  ]);
  setCurrentDetails(
    [
      `## Awaiting approval: ${input.model} version ${input.candidateVersion}`,
      `Requested by **${input.requestedBy}**; reviewers: ${input.reviewers.join(', ')} (the requester may not approve). Deadline: **${state.deadline}**.`,
      `Decide with **Send an Update** → \`approve\` \`{"reviewer": "<you>", "candidateVersion": "${input.candidateVersion}"}\` or \`reject\` \`{"reviewer": "<you>", "reason": "…"}\`.`,
      '',
      input.summary,
    ].join('\n\n'),
  );

  state.status = 'awaiting-approval';
  const result = await decisions.wait(
    async (r) => {
      await acts.appendAuditRecord({
        model: input.model,
        action: 'refused',
        actor: r.reviewer,
        at: r.at,
        version: input.candidateVersion,
        reason: `${r.kind} via ${r.via}: ${r.reason}`,
        workflowId: wf,
      });
    },
    async (d) => {
      if (d.kind === 'approve') {
        state.status = 'moving-registry';
        upsertSearchAttributes([{ key: SA.stage, value: 'moving-registry' }]);
        try {
          await acts.moveChampion({
            model: input.model,
            version: input.candidateVersion,
            expectedChampion: input.championAtEvaluation,
            actor: d.reviewer,
            action: 'champion-moved',
            reason: d.comment,
            evidence: input.evidence,
            workflowId: wf,
          });
        } catch (err) {
          state.status = 'failed';
          upsertSearchAttributes([{ key: SA.stage, value: 'failed' }]);
          await acts.dropChallenger({
            model: input.model,
            version: input.candidateVersion,
            actor: 'mlo',
            reason: 'approved, but the champion moved since evaluation; nothing was promoted',
            action: 'rejected',
            workflowId: wf,
          });
          throw err;
        }
        state.status = 'promoted';
        upsertSearchAttributes([{ key: SA.stage, value: 'promoted' }]);
        setCurrentDetails(
          `## Promoted: ${input.model} version ${input.candidateVersion} is champion\n\nApproved by ${d.reviewer} at ${d.at}.`,
        );
        return {
          outcome: 'promoted',
          version: input.candidateVersion,
          decidedBy: d.reviewer,
          message: `${input.model} version ${input.candidateVersion} is now champion (approved by ${d.reviewer})`,
        };
      }
      const expired = d.kind === 'expire';
      await acts.dropChallenger({
        model: input.model,
        version: input.candidateVersion,
        actor: d.reviewer,
        reason: d.reason ?? '',
        action: expired ? 'expired' : 'rejected',
        workflowId: wf,
      });
      state.status = expired ? 'expired' : 'rejected';
      upsertSearchAttributes([{ key: SA.stage, value: state.status }]);
      setCurrentDetails(
        `## ${expired ? 'Expired' : 'Rejected'}: ${input.model} version ${input.candidateVersion}\n\n${d.reason ?? ''}`,
      );
      return {
        outcome: expired ? 'expired' : 'rejected',
        version: input.candidateVersion,
        decidedBy: d.reviewer,
        message: expired
          ? `version ${input.candidateVersion} expired: ${d.reason ?? ''}`
          : `version ${input.candidateVersion} rejected by ${d.reviewer}: ${d.reason ?? ''}`,
      };
    },
  );
  return result;
}
