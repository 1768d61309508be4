import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as Workflow from '@temporalio/workflow';
import type { DecisionResult, PromotionState, Refusal } from '../../lib/core/definitions';
import { REFUSAL_LIMITS } from '../../lib/core/definitions';
import {
  DecisionGate,
  refusalAudit,
  refusalBudget,
  type Decision,
  type DecisionRules,
} from '../../workflows/decision-gate';

type Registered = {
  handler: (arg: unknown) => unknown;
  options?: { validator?: (arg: unknown) => void; description?: string };
};

// The workflow APIs the gate calls, faked (they work only inside a workflow); vi.mock is hoisted above
// the imports. `condition` blocks until `settle` finds its predicate true (as the SDK checks blocked
// conditions after each activation job), or until `deadline` fires the ones with a timeout.
const wf = vi.hoisted(() => {
  type Blocked = { fn: () => boolean; timed: boolean; resolve: (held: boolean) => void };
  const blocked: Blocked[] = [];
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return {
    handlers: new Map<string, Registered>(),
    defaultSignal: undefined as undefined | ((name: string, ...args: unknown[]) => void),
    /** What `patched` answers: false while replaying a history recorded before the patch. */
    patched: true,
    warnings: [] as unknown[],
    blocked,
    condition: (fn: () => boolean, timeout?: number) =>
      new Promise<boolean>((resolve) => blocked.push({ fn, timed: timeout !== undefined, resolve })),
    async settle() {
      for (;;) {
        await flush();
        const ready = blocked.filter((b) => b.fn());
        if (ready.length === 0) return;
        for (const b of ready) {
          blocked.splice(blocked.indexOf(b), 1);
          b.resolve(true);
        }
      }
    },
    async deadline() {
      for (const b of blocked.filter((x) => x.timed)) {
        blocked.splice(blocked.indexOf(b), 1);
        b.resolve(false);
      }
      await this.settle();
    },
  };
});
vi.mock('@temporalio/workflow', async (importOriginal) => ({
  ...(await importOriginal<typeof Workflow>()),
  // Signals under `signal:<name>`, updates under their name (a signal and an update may share one).
  setHandler: (def: { name: string; type: string }, handler: Registered['handler'], options?: Registered['options']) =>
    wf.handlers.set(def.type === 'signal' ? `signal:${def.name}` : def.name, { handler, options }),
  setDefaultSignalHandler: (h: (name: string, ...args: unknown[]) => void) => {
    wf.defaultSignal = h;
  },
  patched: () => wf.patched,
  condition: wf.condition,
  allHandlersFinished: () => true,
  log: { warn: (message: string, attrs: unknown) => wf.warnings.push({ message, attrs }) },
}));

function rules(over: Partial<DecisionRules & { ready: boolean }> = {}): DecisionRules & { ready: boolean } {
  return {
    model: 'fraud-detector',
    candidateVersion: '7',
    requestedBy: 'carol@example.com',
    reviewers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
    deadlineAt: Date.now() + 3_600_000,
    subject: 'promotion of version 7',
    ready: true,
    ...over,
  };
}

type GateState = Pick<PromotionState, 'decision' | 'refusals' | 'refusalsNotRecorded' | 'refusalsNotAudited'>;
const state = (): GateState => ({ refusals: [] });
const handler = (name: string) => wf.handlers.get(name) as Registered;
const validate = (name: string, arg: unknown) => handler(name).options?.validator?.(arg);
const AT: unknown = expect.any(String);
const RESULT: DecisionResult = { outcome: 'promoted', version: '7', decidedBy: 'alice@example.com', message: 'ok' };

/** `wait` with recording callbacks: refusals recorded and decisions performed, in order. */
function waitOn(gate: DecisionGate, finish: (d: Decision) => Promise<DecisionResult> = async () => RESULT) {
  const calls: string[] = [];
  const decisions: Decision[] = [];
  const done = gate.wait(
    async (r: Refusal) => {
      calls.push(`refusal ${r.kind} ${r.reviewer}`);
    },
    async (d) => {
      calls.push(`finish ${d.kind} ${d.reviewer}`);
      decisions.push(d);
      return finish(d);
    },
  );
  return { calls, decisions, done };
}

beforeEach(() => {
  wf.handlers.clear();
  wf.defaultSignal = undefined;
  wf.patched = true;
  wf.warnings.length = 0;
  wf.blocked.length = 0;
});

describe('DecisionGate handlers', () => {
  it('registers approve/reject as updates and as signals under the same names, the former signal names too', () => {
    new DecisionGate(rules(), state());
    expect([...wf.handlers.keys()]).toEqual([
      'approve',
      'reject',
      'signal:approve',
      'signal:reject',
      'signal:approveSignal',
      'signal:rejectSignal',
    ]);
    expect(wf.defaultSignal).toBeTypeOf('function');
    expect(handler('approve').options?.description).toMatch(/^Approve the promotion\. Input: /);
    expect(handler('reject').options?.description).toMatch(/^Reject the promotion\. Input: /);
    expect(handler('approve').options?.description).toMatch(/A refused approval fails with the reason and is recorded/);
    expect(handler('signal:approve').options?.description).toMatch(/A refused signal changes nothing and is recorded/);
    expect(handler('signal:approveSignal').options?.description).toMatch(/^The former name of the signal approve/);
    expect(handler('signal:approve').options?.validator).toBeUndefined();
  });

  it('a refused update fails with the reason, typed bad input, and is recorded; an acceptable one is not refused', async () => {
    const s = state();
    new DecisionGate(rules(), s);
    expect(() => validate('approve', { reviewer: 'carol@example.com' })).not.toThrow();
    await expect(handler('approve').handler({ reviewer: 'carol@example.com' })).rejects.toMatchObject({
      message: expect.stringMatching(/four eyes/) as unknown,
      type: 'MloBadInput',
      nonRetryable: true,
    });
    await expect(handler('reject').handler({ reviewer: 'bob@example.com' })).rejects.toThrow(/needs a reason/);
    expect(s.refusals.map((r) => [r.via, r.kind, r.reviewer])).toEqual([
      ['update', 'approve', 'carol@example.com'],
      ['update', 'reject', 'bob@example.com'],
    ]);
  });

  it('refuses everything until opened, then applies the completed rules', async () => {
    const gate = new DecisionGate(
      rules({ subject: 'rollback', candidateVersion: '(previous champion)', ready: false }),
      state(),
    );
    await expect(handler('approve').handler({ reviewer: 'alice@example.com' })).rejects.toThrow(
      'the rollback of fraud-detector is still being prepared; try again in a moment',
    );
    gate.open({ candidateVersion: '3', subject: 'rollback to version 3' });
    await expect(handler('approve').handler({ reviewer: 'alice@example.com', candidateVersion: '4' })).rejects.toThrow(
      'this is the rollback to version 3, not version 4; check the version you reviewed',
    );
  });

  it('a signal under any other name is refused and recorded with its name', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    const w = waitOn(gate);
    wf.defaultSignal?.('Approve', { reviewer: 'alice@example.com' });
    wf.defaultSignal?.('approval');
    expect(s.refusals).toEqual([
      expect.objectContaining({ via: 'signal', kind: 'unknown', name: 'Approve', reviewer: 'alice@example.com' }),
      expect.objectContaining({ via: 'signal', kind: 'unknown', name: 'approval', reviewer: '(none)' }),
    ]);
    expect(s.refusals[0]?.reason).toMatch(
      /^"Approve" is not a decision of this workflow; send the signal \(or update\) approve/,
    );
    expect(
      refusalAudit(s.refusals[0] as Refusal, { model: 'fraud-detector', version: '7', workflowId: 'promotion/x' })
        .reason,
    ).toMatch(/^unknown via signal "Approve": "Approve" is not a decision/);
    handler('signal:approve').handler({ reviewer: 'alice@example.com' });
    await wf.settle();
    await w.done;
    expect(w.calls).toEqual([
      'refusal unknown alice@example.com',
      'refusal unknown (none)',
      'finish approve alice@example.com',
    ]);
  });

  it('replaying a history recorded before the patch: the new names and unknown signals are not heard', async () => {
    wf.patched = false;
    const s = state();
    const w = waitOn(new DecisionGate(rules(), s));
    handler('signal:approve').handler({ reviewer: 'alice@example.com' });
    wf.defaultSignal?.('Approve', { reviewer: 'alice@example.com' });
    await wf.settle();
    expect(s.refusals).toEqual([]);
    expect(w.decisions).toEqual([]);
    handler('signal:approveSignal').handler({ reviewer: 'alice@example.com' });
    await wf.settle();
    await w.done;
    expect(w.decisions).toEqual([expect.objectContaining({ kind: 'approve', reviewer: 'alice@example.com' })]);
  });
});

describe('refusal limits', () => {
  const at = (ms: number) => ({ at: new Date(ms).toISOString() }) as Refusal;

  it('allows a burst per window and a cap in all', () => {
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    const burst = Array.from({ length: REFUSAL_LIMITS.burst }, (_, i) => at(t0 + i));
    expect(refusalBudget(burst.slice(1), t0 + 10)).toBeUndefined();
    expect(refusalBudget(burst, t0 + 10)).toBe(
      `${REFUSAL_LIMITS.burst} refused decisions in the last 60s (the rate limit); try again in a minute`,
    );
    expect(refusalBudget(burst, t0 + REFUSAL_LIMITS.windowMs + 10)).toBeUndefined();
    const all = Array.from({ length: REFUSAL_LIMITS.cap }, (_, i) => at(t0 + i * REFUSAL_LIMITS.windowMs));
    expect(refusalBudget(all, t0 + 365 * 86_400_000)).toMatch(/^20 refused decisions are recorded already \(the cap\)/);
  });

  it('signals beyond the rate limit are counted, not recorded; updates beyond it are refused before the history', async () => {
    const s = state();
    const w = waitOn(new DecisionGate(rules(), s));
    for (let i = 0; i < REFUSAL_LIMITS.burst + 3; i++)
      handler('signal:approve').handler({ reviewer: 'carol@example.com' });
    expect(s.refusals).toHaveLength(REFUSAL_LIMITS.burst);
    expect(s.refusalsNotRecorded).toBe(3);
    expect(() => validate('approve', { reviewer: 'carol@example.com' })).toThrow(
      /^too many refused decisions on this workflow: 5 refused decisions in the last 60s \(the rate limit\)/,
    );
    handler('signal:reject').handler({ reviewer: 'bob@example.com', reason: 'late' });
    await wf.settle();
    await w.done;
    expect(w.calls.filter((c) => c.startsWith('refusal'))).toHaveLength(REFUSAL_LIMITS.burst);
  });

  it('a refusal whose audit record cannot be written is counted and never fails the decision', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    const done = gate.wait(
      () => Promise.reject(new Error('S3 is down')),
      async () => RESULT,
    );
    handler('signal:approve').handler({ reviewer: 'carol@example.com' });
    handler('signal:approve').handler({ reviewer: 'alice@example.com' });
    await wf.settle();
    await expect(done).resolves.toEqual(RESULT);
    expect(s.refusals).toHaveLength(1);
    expect(s.refusalsNotAudited).toBe(1);
    expect(wf.warnings).toContainEqual({
      message: 'refusal not audited',
      attrs: expect.objectContaining({ reviewer: 'carol@example.com', error: 'S3 is down' }) as unknown,
    });
  });

  it('the decision does not wait for an audit write, but the gate ends only once it ended', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    let release: () => void = () => undefined;
    const order: string[] = [];
    const done = gate.wait(
      () => new Promise<void>((r) => (release = () => (order.push('audited'), r()))),
      async (d) => (order.push(`finish ${d.kind}`), RESULT),
    );
    handler('signal:approve').handler({ reviewer: 'carol@example.com' });
    handler('signal:approve').handler({ reviewer: 'alice@example.com' });
    await wf.settle();
    expect(order).toEqual(['finish approve']);
    let ended = false;
    void done.then(() => (ended = true));
    await wf.settle();
    expect(ended).toBe(false);
    release();
    await wf.settle();
    await done;
    expect(order).toEqual(['finish approve', 'audited']);
  });
});

describe('DecisionGate.wait', () => {
  it('an approve update is performed by finish, and the caller receives its result', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    const w = waitOn(gate);
    await wf.settle();
    const answer = handler('approve').handler({ reviewer: 'alice@example.com', comment: 'lgtm' });
    await wf.settle();
    await expect(answer).resolves.toEqual(RESULT);
    await expect(w.done).resolves.toEqual(RESULT);
    expect(w.decisions).toEqual([{ kind: 'approve', reviewer: 'alice@example.com', comment: 'lgtm', at: AT }]);
    expect(s.decision).toBe(w.decisions[0]);
    await expect(handler('reject').handler({ reviewer: 'bob@example.com', reason: 'late' })).rejects.toThrow(
      'already decided (approved by alice@example.com); a second decision is refused',
    );
  });

  it('refused signals are kept in the state at once and recorded before the decision is performed', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    const w = waitOn(gate);
    handler('signal:approveSignal').handler({ reviewer: 'carol@example.com' });
    handler('signal:reject').handler(undefined);
    expect(s.refusals.map((r) => [r.via, r.kind, r.reviewer])).toEqual([
      ['signal', 'approve', 'carol@example.com'],
      ['signal', 'reject', '(none)'],
    ]);
    expect(wf.warnings).toHaveLength(2);
    handler('signal:rejectSignal').handler({ reviewer: 'bob@example.com', reason: 'recall dropped' });
    await wf.settle();
    await w.done;
    expect(w.calls).toEqual([
      'refusal approve carol@example.com',
      'refusal reject (none)',
      'finish reject bob@example.com',
    ]);
    expect(w.decisions[0]).toMatchObject({ kind: 'reject', reviewer: 'bob@example.com', reason: 'recall dropped' });
  });

  it('with no decision before the deadline, the decision expires as mlo', async () => {
    const deadlineAt = Date.now() + 3_600_000;
    const w = waitOn(new DecisionGate(rules({ deadlineAt }), state()));
    await wf.settle();
    expect(w.calls).toEqual([]);
    await wf.deadline();
    await w.done;
    expect(w.decisions).toEqual([
      {
        kind: 'expire',
        reviewer: 'mlo',
        reason: `no decision before the deadline ${new Date(deadlineAt).toISOString()}`,
        at: AT,
      },
    ]);
  });

  it('a deadline already past expires at once, without waiting', async () => {
    const w = waitOn(new DecisionGate(rules({ deadlineAt: Date.now() - 1 }), state()));
    await new Promise((r) => setTimeout(r, 0));
    expect(w.calls).toEqual(['finish expire mlo']);
    expect(wf.blocked.filter((b) => b.timed)).toEqual([]);
    await wf.settle();
    await w.done;
  });

  it('when finish fails, the update caller receives the failure and wait rethrows it', async () => {
    const gate = new DecisionGate(rules(), state());
    const w = waitOn(gate, () => Promise.reject(new Error('the champion moved since evaluation')));
    const answer = handler('approve').handler({ reviewer: 'alice@example.com' });
    const outcomes = Promise.allSettled([answer, w.done]);
    await wf.settle();
    const [a, d] = await outcomes;
    expect(a).toMatchObject({ status: 'rejected', reason: { message: 'the champion moved since evaluation' } });
    expect(d).toMatchObject({ status: 'rejected', reason: { message: 'the champion moved since evaluation' } });
  });
});
