/**
 * The reviewer's gate of a promotion or rollback: approve/reject as updates (validated, so a
 * refused update fails for its caller and leaves no trace in the history) and as signals (for
 * clients without updates; a refused signal changes nothing and is recorded), then the first
 * acceptable decision or the deadline. When the server verified the caller (./identity.ts), the
 * decision is recorded under that identity, and a payload naming someone else is refused.
 */
import { allHandlersFinished, condition, log, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type Approval,
  type DecisionResult,
  type Refusal,
  type Rejection,
  type VerifiedIdentity,
} from '../lib/core/definitions';
import { verifiedCallerOf, type VerifiedCaller } from './identity';

export type DecisionRules = {
  model: string;
  candidateVersion: string;
  requestedBy: string;
  reviewers: string[];
  deadlineAt: number;
  /** What is being decided, for messages: "promotion of version 7" or "rollback to version 3". */
  subject: string;
};

export type Decision = {
  kind: 'approve' | 'reject' | 'expire';
  reviewer: string;
  reason?: string;
  comment?: string;
  at: string;
  /** The reviewer's identity as the server verified it (absent on servers without authentication). */
  identity?: VerifiedIdentity;
};

type Kind = 'approve' | 'reject';
type DecisionInput = Partial<Approval & Rejection>;

/** Why a decision must be refused, or undefined when it is acceptable. */
export function refusalReason(
  kind: Kind,
  d: DecisionInput | undefined,
  rules: DecisionRules,
  decided: string | undefined,
  now: number,
): string | undefined {
  if (decided)
    return `the ${rules.subject} of ${rules.model} is already decided (${decided}); a second decision is refused`;
  if (now >= rules.deadlineAt) {
    const deadline = new Date(rules.deadlineAt).toISOString();
    return `the decision deadline (${deadline}) has passed; the ${rules.subject} expired`;
  }
  if (!d || typeof d.reviewer !== 'string' || d.reviewer.trim() === '')
    return 'name the reviewer, e.g. {"reviewer": "alice@example.com"}';
  if (!rules.reviewers.includes(d.reviewer)) {
    const reviewers = rules.reviewers.join(', ');
    return `${d.reviewer} is not a reviewer of ${rules.model}; the model spec's reviewers are ${reviewers}`;
  }
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

/**
 * Why a decision the server stamped with the caller's verified identity must be refused, or
 * undefined when it is acceptable (or carries no verified identity). The server refuses a
 * mismatch first; this is the workflow's own check of the same rule.
 */
export function identityRefusal(d: DecisionInput | undefined, caller: VerifiedCaller | undefined): string | undefined {
  if (caller === undefined) return undefined;
  if ('error' in caller)
    return `the caller's verified identity cannot be read (${caller.error}); the decision is refused`;
  if (!caller.email)
    return `the verified caller (subject ${caller.subject}) has no e-mail; a decision needs a reviewer's e-mail`;
  const named = typeof d?.reviewer === 'string' ? d.reviewer : undefined;
  if (named !== caller.email) {
    const who = named === undefined ? 'no reviewer' : `reviewer "${named}"`;
    return (
      `the decision names ${who} but the caller is ${caller.email} (verified by the server); ` +
      `a reviewer decides only as themselves: {"reviewer": "${caller.email}"}`
    );
  }
  return undefined;
}

/** The audit record of a refused decision on `version`. */
export function refusalAudit(
  r: Refusal,
  target: { model: string; version: string; workflowId: string },
): Parameters<Activities['appendAuditRecord']>[0] {
  return {
    model: target.model,
    action: 'refused',
    actor: r.reviewer,
    at: r.at,
    version: target.version,
    reason: `${r.kind} via ${r.via}: ${r.reason}`,
    workflowId: target.workflowId,
    ...(r.identity ? { decider: r.identity } : {}),
  };
}

const PAST: Record<Decision['kind'], string> = { approve: 'approved', reject: 'rejected', expire: 'expired' };

/**
 * Registers approve/reject as updates and as signals at construction, so the Temporal UI lists
 * them from the workflow's start: construct it before the workflow's first await. `wait` then
 * waits for the first acceptable decision or the deadline, and has `finish` perform it; update
 * callers receive what `finish` returns. Rules may be completed after registration (`open`):
 * until then every decision is refused as premature.
 */
export class DecisionGate {
  private pending: Decision | undefined;
  private result: DecisionResult | undefined;
  private failure: unknown;
  /** Refusals of signals not yet recorded (recording is an activity: only the main loop runs it). */
  private readonly queued: Refusal[] = [];

  constructor(
    private readonly rules: DecisionRules & { ready: boolean },
    private readonly state: { decision?: Decision; refusals: Refusal[] },
  ) {
    this.registerHandlers();
  }

  /** Completes the rules (e.g. a rollback's target, known once the lineage is read) and accepts decisions. */
  open(rules: Partial<DecisionRules>): void {
    Object.assign(this.rules, rules, { ready: true });
  }

  /**
   * Waits for the first acceptable decision (or expires at the deadline), records every refused
   * signal with `recordRefusal`, performs the decision with `finish`, and returns its result
   * once every update handler has answered.
   */
  async wait(
    recordRefusal: (r: Refusal) => Promise<unknown>,
    finish: (d: Decision) => Promise<DecisionResult>,
  ): Promise<DecisionResult> {
    const decision = await this.decision(recordRefusal);
    this.state.decision = decision;
    let result: DecisionResult;
    try {
      result = this.result = await finish(decision);
    } catch (err) {
      this.failure = err;
      await condition(allHandlersFinished);
      throw err;
    }
    while (this.queued.length > 0) await recordRefusal(this.queued.shift() as Refusal);
    await condition(allHandlersFinished);
    return result;
  }

  private async decision(recordRefusal: (r: Refusal) => Promise<unknown>): Promise<Decision> {
    for (;;) {
      const remaining = this.rules.deadlineAt - Date.now();
      const got =
        remaining > 0 ? await condition(() => this.pending !== undefined || this.queued.length > 0, remaining) : false;
      while (this.queued.length > 0) await recordRefusal(this.queued.shift() as Refusal);
      if (this.pending) return this.pending;
      if (!got) {
        this.pending = {
          kind: 'expire',
          reviewer: 'mlo',
          reason: `no decision before the deadline ${new Date(this.rules.deadlineAt).toISOString()}`,
          at: new Date().toISOString(),
        };
        return this.pending;
      }
    }
  }

  private decided(): string | undefined {
    return this.pending ? `${PAST[this.pending.kind]} by ${this.pending.reviewer}` : undefined;
  }

  private why(kind: Kind, d: DecisionInput): string | undefined {
    return (
      identityRefusal(d, verifiedCallerOf(d)) ??
      (this.rules.ready
        ? refusalReason(kind, d, this.rules, this.decided(), Date.now())
        : `the ${this.rules.subject} of ${this.rules.model} is still being prepared; try again in a moment`)
    );
  }

  private registerHandlers(): void {
    const subject = this.rules.subject.replace(/ of version .*| to version .*/, '');
    const validator = (kind: Kind) => (d: DecisionInput) => {
      const reason = this.why(kind, d);
      if (reason) throw new Error(reason);
    };
    setHandler(
      approveUpdate,
      async (a) => {
        this.pending = { kind: 'approve', ...reviewerOf(a), comment: a.comment, at: new Date().toISOString() };
        return this.outcome();
      },
      {
        validator: validator('approve'),
        description:
          `Approve the ${subject}. ` +
          'Input: {"reviewer": "<your e-mail>", "candidateVersion": "<version>", "comment": "…"}. ' +
          'The requester may not approve.',
      },
    );
    setHandler(
      rejectUpdate,
      async (r) => {
        this.pending = { kind: 'reject', ...reviewerOf(r), reason: r.reason, at: new Date().toISOString() };
        return this.outcome();
      },
      {
        validator: validator('reject'),
        description:
          `Reject the ${subject}. ` +
          'Input: {"reviewer": "<your e-mail>", "reason": "<why>", "candidateVersion": "<version>"}.',
      },
    );
    const refused = 'A refused signal changes nothing and is recorded.';
    setHandler(approveSignal, (d) => this.onSignal('approve', d), {
      description:
        `Approve the ${subject} (for clients without updates). ` + `Input: {"reviewer": "<your e-mail>"}. ${refused}`,
    });
    setHandler(rejectSignal, (d) => this.onSignal('reject', d), {
      description:
        `Reject the ${subject} (for clients without updates). ` +
        `Input: {"reviewer": "<your e-mail>", "reason": "<why>"}. ${refused}`,
    });
  }

  /** What an update caller receives: the result of `finish`, or its failure. */
  private async outcome(): Promise<DecisionResult> {
    await condition(() => this.result !== undefined || this.failure !== undefined);
    if (this.failure !== undefined)
      throw this.failure instanceof Error ? this.failure : new Error(JSON.stringify(this.failure));
    return this.result as DecisionResult;
  }

  private onSignal(kind: Kind, d: DecisionInput): void {
    const reason = this.why(kind, d);
    if (!reason) {
      this.pending = {
        kind,
        ...reviewerOf(d),
        reason: d.reason,
        comment: d.comment,
        at: new Date().toISOString(),
      };
      return;
    }
    const refusal: Refusal = {
      at: new Date().toISOString(),
      via: 'signal',
      kind,
      ...reviewerOf(d, '(none)'),
      reason,
    };
    this.state.refusals.push(refusal);
    this.queued.push(refusal);
    log.warn('decision refused', refusal);
  }
}

/**
 * Who decided: the verified identity when the server named one (then the reviewer is its
 * e-mail), else the payload's reviewer.
 */
function reviewerOf(d: DecisionInput | undefined, none = ''): { reviewer: string; identity?: VerifiedIdentity } {
  const caller = verifiedCallerOf(d);
  if (caller && !('error' in caller) && caller.email) return { reviewer: caller.email, identity: caller };
  return { reviewer: typeof d?.reviewer === 'string' ? d.reviewer : none };
}
