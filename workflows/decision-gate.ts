/**
 * The reviewer's gate of a promotion or rollback: approve/reject as updates and as signals under
 * the same names (and the signals' former names approveSignal/rejectSignal), then the first
 * acceptable decision or the deadline. A refused decision changes nothing and is recorded (state
 * and audit record), whether update or signal: a refused update is accepted, recorded, and fails
 * for its caller with the reason. A signal under any other name is refused and recorded too, so
 * no decision vanishes. Recording is bounded (REFUSAL_LIMITS) and runs beside the wait: an audit
 * record that cannot be written never fails the promotion. When the server verified the caller
 * (./identity.ts), the decision is recorded under that identity, and a payload naming someone
 * else is refused.
 *
 * Histories recorded before these rules replay as recorded: every new behaviour sits behind
 * `patched(DECISION_GATE_PATCH)`, so a waiting promotion takes it up from its next decision on.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  log,
  patched,
  setDefaultSignalHandler,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType } from '../lib/core/failure-types';
import {
  approveSignal,
  approveUpdate,
  legacyApproveSignal,
  legacyRejectSignal,
  REFUSAL_LIMITS,
  rejectSignal,
  rejectUpdate,
  type Approval,
  type DecisionResult,
  type PromotionState,
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

/**
 * The patch under which decisions follow today's rules: signals named approve/reject and any
 * other name are heard, refused updates are recorded, recording is capped and never fails the
 * run. Without it (histories recorded before), only approveSignal/rejectSignal are heard and each
 * refused signal is recorded before the decision goes on, as then.
 */
export const DECISION_GATE_PATCH = 'mlo-decisions-recorded-and-bounded';

/** Why one more refusal may not be recorded now (the cap or the rate limit), or undefined. */
export function refusalBudget(recorded: readonly Refusal[], now: number, limits = REFUSAL_LIMITS): string | undefined {
  if (recorded.length >= limits.cap)
    return `${limits.cap} refused decisions are recorded already (the cap); later ones are counted, not recorded`;
  const recent = recorded.filter((r) => now - Date.parse(r.at) < limits.windowMs).length;
  if (recent >= limits.burst)
    return `${recent} refused decisions in the last ${limits.windowMs / 1000}s (the rate limit); try again in a minute`;
  return undefined;
}

/** The refusal of a signal whose name is no decision. */
export function unknownSignalReason(name: string): string {
  return (
    `"${name}" is not a decision of this workflow; send the signal (or update) approve ` +
    '{"reviewer": "<you>"} or reject {"reviewer": "<you>", "reason": "…"}'
  );
}
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
    reason: `${r.kind} via ${r.via}${r.name !== undefined ? ` "${r.name}"` : ''}: ${r.reason}`,
    workflowId: target.workflowId,
    ...(r.identity ? { decider: r.identity } : {}),
  };
}

const PAST: Record<Decision['kind'], string> = { approve: 'approved', reject: 'rejected', expire: 'expired' };

type GateState = Pick<PromotionState, 'decision' | 'refusals' | 'refusalsNotRecorded' | 'refusalsNotAudited'>;

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
  /** Refusals recorded under the old rules, each written by the main loop before it goes on. */
  private readonly queued: Refusal[] = [];
  /** Refusals recorded before `wait` names the recorder; written as it starts. */
  private readonly early: Refusal[] = [];
  private recorder: ((r: Refusal) => Promise<unknown>) | undefined;
  /** Audit writes in flight: the workflow waits for them (never for their success) before it ends. */
  private readonly audits = new Set<Promise<void>>();

  constructor(
    private readonly rules: DecisionRules & { ready: boolean },
    private readonly state: GateState,
  ) {
    this.registerHandlers();
  }

  /** Completes the rules (e.g. a rollback's target, known once the lineage is read) and accepts decisions. */
  open(rules: Partial<DecisionRules>): void {
    Object.assign(this.rules, rules, { ready: true });
  }

  /**
   * Waits for the first acceptable decision (or expires at the deadline), records every refused
   * decision with `recordRefusal`, performs the decision with `finish`, and returns its result
   * once every update handler has answered and every audit write has ended.
   */
  async wait(
    recordRefusal: (r: Refusal) => Promise<unknown>,
    finish: (d: Decision) => Promise<DecisionResult>,
  ): Promise<DecisionResult> {
    this.recorder = recordRefusal;
    for (const r of this.early.splice(0)) this.audit(r);
    const decision = await this.decision(recordRefusal);
    this.state.decision = decision;
    let result: DecisionResult;
    try {
      result = this.result = await finish(decision);
    } catch (err) {
      this.failure = err;
      await this.settle();
      throw err;
    }
    while (this.queued.length > 0) await recordRefusal(this.queued.shift() as Refusal);
    await this.settle();
    return result;
  }

  /** Every update handler has answered and every audit write has ended. */
  private async settle(): Promise<void> {
    await condition(allHandlersFinished);
    while (this.audits.size > 0) {
      await Promise.all([...this.audits]);
      await condition(allHandlersFinished);
    }
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
    const updateOptions = (description: string) => ({
      validator: (_d: DecisionInput) => this.budgetValidator(),
      description,
    });
    setHandler(
      approveUpdate,
      (a) => this.onUpdate('approve', a),
      updateOptions(
        `Approve the ${subject}. ` +
          'Input: {"reviewer": "<your e-mail>", "candidateVersion": "<version>", "comment": "…"}. ' +
          'The requester may not approve. A refused approval fails with the reason and is recorded.',
      ),
    );
    setHandler(
      rejectUpdate,
      (r) => this.onUpdate('reject', r),
      updateOptions(
        `Reject the ${subject}. ` +
          'Input: {"reviewer": "<your e-mail>", "reason": "<why>", "candidateVersion": "<version>"}. ' +
          'A refused rejection fails with the reason and is recorded.',
      ),
    );
    const refused = 'A refused signal changes nothing and is recorded.';
    const approveHelp = `Approve the ${subject} (for clients without updates). Input: {"reviewer": "<your e-mail>"}.`;
    const rejectHelp = `Reject the ${subject} (for clients without updates). Input: {"reviewer": "<your e-mail>", "reason": "<why>"}.`;
    setHandler(approveSignal, (d) => this.onNewSignal('approve', d), { description: `${approveHelp} ${refused}` });
    setHandler(rejectSignal, (d) => this.onNewSignal('reject', d), { description: `${rejectHelp} ${refused}` });
    setHandler(legacyApproveSignal, (d) => this.onSignal('approve', d), {
      description: `The former name of the signal approve. ${approveHelp} ${refused}`,
    });
    setHandler(legacyRejectSignal, (d) => this.onSignal('reject', d), {
      description: `The former name of the signal reject. ${rejectHelp} ${refused}`,
    });
    setDefaultSignalHandler((name, ...args) => this.onUnknownSignal(name, args[0]));
  }

  /** Today's rules apply (see DECISION_GATE_PATCH): always, except when replaying an older history. */
  private current(): boolean {
    return patched(DECISION_GATE_PATCH);
  }

  /**
   * An update beyond the cap or the rate limit is refused before it reaches the history (so it
   * costs nothing and is not recorded); every other one is accepted and judged by its handler.
   */
  private budgetValidator(): void {
    const over = refusalBudget(this.state.refusals, Date.now());
    if (over) throw new Error(`too many refused decisions on this workflow: ${over}`);
  }

  private async onUpdate(kind: Kind, d: DecisionInput): Promise<DecisionResult> {
    const reason = this.why(kind, d);
    if (reason) {
      this.refuse({ at: new Date().toISOString(), via: 'update', kind, ...reviewerOf(d, '(none)'), reason });
      throw ApplicationFailure.create({ message: reason, type: FailureType.BadInput, nonRetryable: true });
    }
    this.decide(kind, d);
    return this.outcome();
  }

  /** What an update caller receives: the result of `finish`, or its failure. */
  private async outcome(): Promise<DecisionResult> {
    await condition(() => this.result !== undefined || this.failure !== undefined);
    if (this.failure !== undefined)
      throw this.failure instanceof Error ? this.failure : new Error(JSON.stringify(this.failure));
    return this.result as DecisionResult;
  }

  private decide(kind: Kind, d: DecisionInput): void {
    const at = new Date().toISOString();
    this.pending =
      kind === 'approve'
        ? { kind, ...reviewerOf(d), comment: d.comment, at }
        : { kind, ...reviewerOf(d), reason: d.reason, at };
  }

  /** A signal under a decision's name (approve, reject): unheard in histories recorded before it was one. */
  private onNewSignal(kind: Kind, d: DecisionInput): void {
    if (this.current()) this.onSignal(kind, d);
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
    this.refuse({ at: new Date().toISOString(), via: 'signal', kind, ...reviewerOf(d, '(none)'), reason });
  }

  private onUnknownSignal(name: string, arg: unknown): void {
    if (!this.current()) return;
    const d = (arg !== null && typeof arg === 'object' ? arg : {}) as DecisionInput;
    const at = new Date().toISOString();
    this.refuse({
      at,
      via: 'signal',
      kind: 'unknown',
      name,
      ...reviewerOf(d, '(none)'),
      reason: unknownSignalReason(name),
    });
  }

  /** Records a refusal within the limits (state, log, audit record); beyond them, counts and logs it. */
  private refuse(refusal: Refusal): void {
    if (!this.current()) {
      this.state.refusals.push(refusal);
      this.queued.push(refusal);
      log.warn('decision refused', refusal);
      return;
    }
    const over = refusalBudget(this.state.refusals, Date.parse(refusal.at));
    if (over) {
      this.state.refusalsNotRecorded = (this.state.refusalsNotRecorded ?? 0) + 1;
      log.warn('decision refused, not recorded', { ...refusal, notRecorded: over });
      return;
    }
    this.state.refusals.push(refusal);
    log.warn('decision refused', refusal);
    if (this.recorder) this.audit(refusal);
    else this.early.push(refusal);
  }

  /** Writes a refusal's audit record beside the wait; a write that fails is counted and logged. */
  private audit(refusal: Refusal): void {
    const record = this.recorder as (r: Refusal) => Promise<unknown>;
    const write: Promise<void> = record(refusal).then(
      () => {
        this.audits.delete(write);
      },
      (err: unknown) => {
        this.audits.delete(write);
        this.state.refusalsNotAudited = (this.state.refusalsNotAudited ?? 0) + 1;
        log.warn('refusal not audited', { ...refusal, error: err instanceof Error ? err.message : String(err) });
      },
    );
    this.audits.add(write);
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
