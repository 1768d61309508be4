import { describe, expect, it } from 'vitest';
import { refusalAudit, refusalReason, type DecisionRules } from '../../workflows/decision-gate';

const NOW = Date.parse('2026-03-15T12:00:00Z');

const rules: DecisionRules = {
  model: 'fraud-detector',
  candidateVersion: '7',
  requestedBy: 'carol@example.com',
  reviewers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
  deadlineAt: NOW + 3_600_000,
  subject: 'promotion of version 7',
};

const approve = (d: Parameters<typeof refusalReason>[1], decided?: string, now = NOW) =>
  refusalReason('approve', d, rules, decided, now);
const reject = (d: Parameters<typeof refusalReason>[1], decided?: string, now = NOW) =>
  refusalReason('reject', d, rules, decided, now);

describe('refusalReason', () => {
  it('accepts a reviewer who did not request the run, with or without the version', () => {
    expect(approve({ reviewer: 'alice@example.com' })).toBeUndefined();
    expect(approve({ reviewer: 'alice@example.com', candidateVersion: '7', comment: 'lgtm' })).toBeUndefined();
  });

  it('accepts a rejection with a reason, from any reviewer, the requester included', () => {
    expect(reject({ reviewer: 'bob@example.com', reason: 'recall on DE dropped' })).toBeUndefined();
    expect(reject({ reviewer: 'carol@example.com', reason: 'wrong window' })).toBeUndefined();
  });

  it('accepts the version as a number (a UI form may send one)', () => {
    expect(approve({ reviewer: 'alice@example.com', candidateVersion: 7 as unknown as string })).toBeUndefined();
    expect(approve({ reviewer: 'alice@example.com', candidateVersion: null as unknown as string })).toBeUndefined();
  });

  it('refuses the requester approving their own run (four eyes)', () => {
    expect(approve({ reviewer: 'carol@example.com' })).toBe(
      'carol@example.com requested this run and may not approve it (four eyes); another reviewer must approve',
    );
  });

  it('refuses a stranger, naming the reviewers', () => {
    const expected =
      "mallory@example.com is not a reviewer of fraud-detector; the model spec's reviewers are " +
      'alice@example.com, bob@example.com, carol@example.com';
    expect(approve({ reviewer: 'mallory@example.com' })).toBe(expected);
    expect(reject({ reviewer: 'mallory@example.com', reason: 'x' })).toBe(expected);
  });

  it('refuses a decision that names no reviewer', () => {
    const expected = 'name the reviewer, e.g. {"reviewer": "alice@example.com"}';
    expect(approve(undefined)).toBe(expected);
    expect(approve({})).toBe(expected);
    expect(approve({ reviewer: '  ' })).toBe(expected);
    expect(approve({ reviewer: 42 as unknown as string })).toBe(expected);
  });

  it('refuses a rejection without a reason', () => {
    const expected =
      'a rejection needs a reason, e.g. {"reviewer": "bob@example.com", "reason": "recall on DE dropped"}';
    expect(reject({ reviewer: 'bob@example.com' })).toBe(expected);
    expect(reject({ reviewer: 'bob@example.com', reason: ' ' })).toBe(expected);
  });

  it('refuses a decision about another version', () => {
    const expected = 'this is the promotion of version 7, not version 6; check the version you reviewed';
    expect(approve({ reviewer: 'alice@example.com', candidateVersion: '6' })).toBe(expected);
    expect(reject({ reviewer: 'bob@example.com', reason: 'x', candidateVersion: '6' })).toBe(expected);
  });

  it('refuses a second decision', () => {
    expect(reject({ reviewer: 'bob@example.com', reason: 'x' }, 'approved by alice@example.com')).toBe(
      'the promotion of version 7 of fraud-detector is already decided (approved by alice@example.com); ' +
        'a second decision is refused',
    );
  });

  it('refuses a decision at or after the deadline', () => {
    const expected = 'the decision deadline (2026-03-15T13:00:00.000Z) has passed; the promotion of version 7 expired';
    expect(approve({ reviewer: 'alice@example.com' }, undefined, rules.deadlineAt)).toBe(expected);
    expect(approve({ reviewer: 'alice@example.com' }, undefined, rules.deadlineAt + 1)).toBe(expected);
    expect(approve({ reviewer: 'alice@example.com' }, undefined, rules.deadlineAt - 1)).toBeUndefined();
  });

  it('checks in order: decided, deadline, reviewer named, reviewer allowed, version, four eyes, reason', () => {
    const late = rules.deadlineAt;
    expect(approve({ reviewer: 'carol@example.com' }, 'expired by mlo', late)).toMatch(/already decided/);
    expect(approve({ reviewer: 'mallory@example.com' }, undefined, late)).toMatch(/deadline/);
    expect(approve({ reviewer: 'mallory@example.com', candidateVersion: '6' })).toMatch(/not a reviewer/);
    expect(approve({ reviewer: 'carol@example.com', candidateVersion: '6' })).toMatch(/not version 6/);
    expect(reject({ reviewer: 'bob@example.com', candidateVersion: '6' })).toMatch(/not version 6/);
  });
});

describe('refusalAudit', () => {
  it('is the audit record of a refused signal on the version decided', () => {
    const refusal = {
      at: '2026-03-15T12:01:00.000Z',
      via: 'signal' as const,
      kind: 'approve' as const,
      reviewer: 'carol@example.com',
      reason: 'four eyes',
    };
    expect(
      refusalAudit(refusal, { model: 'fraud-detector', version: '7', workflowId: 'promotion/fraud-detector' }),
    ).toEqual({
      model: 'fraud-detector',
      action: 'refused',
      actor: 'carol@example.com',
      at: '2026-03-15T12:01:00.000Z',
      version: '7',
      reason: 'approve via signal: four eyes',
      workflowId: 'promotion/fraud-detector',
    });
  });
});
