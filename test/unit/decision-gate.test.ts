import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as Workflow from '@temporalio/workflow';
import type { DecisionResult, PromotionState, Refusal } from '../../lib/core/definitions';
import { DecisionGate, type Decision, type DecisionRules } from '../../workflows/decision-gate';

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
  setHandler: (def: { name: string }, handler: Registered['handler'], options?: Registered['options']) =>
    wf.handlers.set(def.name, { handler, options }),
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

const state = (): Pick<PromotionState, 'decision' | 'refusals'> => ({ refusals: [] });
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
  wf.warnings.length = 0;
  wf.blocked.length = 0;
});

describe('DecisionGate handlers', () => {
  it('registers approve/reject updates with validators and signals, described without the version', () => {
    new DecisionGate(rules(), state());
    expect([...wf.handlers.keys()]).toEqual(['approve', 'reject', 'approveSignal', 'rejectSignal']);
    expect(handler('approve').options?.description).toMatch(/^Approve the promotion\. Input: /);
    expect(handler('reject').options?.description).toMatch(/^Reject the promotion\. Input: /);
    expect(handler('approveSignal').options?.description).toMatch(/A refused signal changes nothing and is recorded/);
    expect(handler('approveSignal').options?.validator).toBeUndefined();
  });

  it('validators refuse with the reason and accept acceptable decisions', () => {
    new DecisionGate(rules(), state());
    expect(() => validate('approve', { reviewer: 'carol@example.com' })).toThrow(/four eyes/);
    expect(() => validate('reject', { reviewer: 'bob@example.com' })).toThrow(/needs a reason/);
    expect(() => validate('approve', { reviewer: 'alice@example.com' })).not.toThrow();
  });

  it('refuses everything until opened, then applies the completed rules', () => {
    const gate = new DecisionGate(
      rules({ subject: 'rollback', candidateVersion: '(previous champion)', ready: false }),
      state(),
    );
    expect(() => validate('approve', { reviewer: 'alice@example.com' })).toThrow(
      'the rollback of fraud-detector is still being prepared; try again in a moment',
    );
    gate.open({ candidateVersion: '3', subject: 'rollback to version 3' });
    expect(() => validate('approve', { reviewer: 'alice@example.com', candidateVersion: '4' })).toThrow(
      'this is the rollback to version 3, not version 4; check the version you reviewed',
    );
    expect(() => validate('approve', { reviewer: 'alice@example.com', candidateVersion: '3' })).not.toThrow();
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
    expect(() => validate('reject', { reviewer: 'bob@example.com', reason: 'late' })).toThrow(
      'already decided (approved by alice@example.com); a second decision is refused',
    );
  });

  it('refused signals are kept in the state at once and recorded before the decision is performed', async () => {
    const s = state();
    const gate = new DecisionGate(rules(), s);
    const w = waitOn(gate);
    handler('approveSignal').handler({ reviewer: 'carol@example.com' });
    handler('rejectSignal').handler(undefined);
    expect(s.refusals.map((r) => [r.via, r.kind, r.reviewer])).toEqual([
      ['signal', 'approve', 'carol@example.com'],
      ['signal', 'reject', '(none)'],
    ]);
    expect(wf.warnings).toHaveLength(2);
    handler('rejectSignal').handler({ reviewer: 'bob@example.com', reason: 'recall dropped' });
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
