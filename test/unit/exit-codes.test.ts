import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../lib/core/errors';
import { FailureType } from '../../lib/core/failure-types';
import { closedOutcome, exitCodeFor, failedMessage, type RunOutcome } from '../../cli/runs';

describe('exitCodeFor', () => {
  it.each<[RunOutcome, number]>([
    ['promoted', EXIT_CODES.ok],
    ['running', EXIT_CODES.ok],
    ['started', EXIT_CODES.ok],
    ['attached', EXIT_CODES.ok],
    ['rejected', EXIT_CODES.rejected],
    ['expired', EXIT_CODES.rejected],
    ['gate-failed', EXIT_CODES.gateFailed],
    ['terminated', EXIT_CODES.internal],
    ['cancelled', EXIT_CODES.internal],
    ['timed-out', EXIT_CODES.internal],
  ])('maps %s to exit %i', (outcome, code) => {
    expect(exitCodeFor(outcome)).toBe(code);
  });

  it('maps the documented codes to their numbers', () => {
    expect(EXIT_CODES).toEqual({ ok: 0, internal: 1, badInput: 2, rejected: 3, gateFailed: 4, unreachable: 5 });
  });

  it('maps a failed run with bad input to exit 2, a failed data gate to exit 4, and every other failure type to exit 1', () => {
    expect(exitCodeFor('failed', FailureType.BadInput)).toBe(EXIT_CODES.badInput);
    expect(exitCodeFor('failed', FailureType.DataGateFailed)).toBe(EXIT_CODES.gateFailed);
    const special: string[] = [FailureType.BadInput, FailureType.DataGateFailed];
    for (const type of Object.values(FailureType).filter((t) => !special.includes(t)))
      expect(exitCodeFor('failed', type), type).toBe(EXIT_CODES.internal);
    expect(exitCodeFor('failed', 'SomethingElse')).toBe(EXIT_CODES.internal);
    expect(exitCodeFor('failed')).toBe(EXIT_CODES.internal);
  });

  it('ignores the failure type of outcomes other than failed', () => {
    expect(exitCodeFor('gate-failed', FailureType.BadInput)).toBe(EXIT_CODES.gateFailed);
    expect(exitCodeFor('promoted', FailureType.StageFailed)).toBe(EXIT_CODES.ok);
    expect(exitCodeFor('terminated', FailureType.BadInput)).toBe(EXIT_CODES.internal);
  });
});

describe('closedOutcome', () => {
  it('names the outcome of runs Temporal closed without a result', () => {
    expect(closedOutcome('TERMINATED')).toBe('terminated');
    expect(closedOutcome('CANCELLED')).toBe('cancelled');
    expect(closedOutcome('TIMED_OUT')).toBe('timed-out');
    expect(closedOutcome('CONTINUED_AS_NEW')).toBe('failed');
  });
});

describe('failedMessage', () => {
  it('names the failed stage and the failure type when known', () => {
    expect(failedMessage({ stage: 'training', type: FailureType.BadInput, message: 'no rows' })).toBe(
      'stage training failed (MloBadInput): no rows',
    );
    expect(failedMessage({ message: 'boom' })).toBe('the run failed: boom');
    expect(failedMessage({ type: 'MloCancelled', message: 'stop' })).toBe('the run failed (MloCancelled): stop');
    expect(failedMessage(undefined)).toBe('the run failed');
  });
});
