import { describe, expect, it } from 'vitest';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { causeChain, errorChain, rootCause } from '../../lib/core/causes';

/** A Temporal failure chain as a workflow sees an activity's failure. */
function activityFailure(inner: Error): ActivityFailure {
  return new ActivityFailure('activity failed', 'trainTrial', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, inner);
}

describe('causeChain', () => {
  it('lists the error and its causes, outermost first', () => {
    const root = new Error('root');
    const mid = new Error('mid', { cause: root });
    const top = new Error('top', { cause: mid });
    expect(causeChain(top)).toEqual([top, mid, root]);
  });
  it('follows non-Error causes and stops at a missing one', () => {
    const top = new Error('top', { cause: 'a string' });
    expect(causeChain(top)).toEqual([top, 'a string']);
    expect(causeChain(undefined)).toEqual([]);
    expect(causeChain(null)).toEqual([]);
  });
  it('ends a cyclic chain at the limit', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(causeChain(a)).toHaveLength(20);
    expect(causeChain(a, 3)).toEqual([a, b, a]);
  });
  it('walks a Temporal failure chain by .cause alone', () => {
    const inner = ApplicationFailure.create({ type: 'MloBadInput', message: 'bad spec', nonRetryable: true });
    const outer = activityFailure(inner);
    expect(causeChain(outer)).toEqual([outer, inner]);
  });
});

describe('errorChain', () => {
  it('keeps the leading Errors only', () => {
    const inner = new Error('inner');
    const top = new Error('top', { cause: { not: 'an error', cause: inner } });
    expect(errorChain(top)).toEqual([top]);
    expect(errorChain('text')).toEqual([]);
  });
});

describe('rootCause', () => {
  it('is the innermost Error of the chain', () => {
    const inner = ApplicationFailure.create({ type: 'MloTrainerCrashed', message: 'exited 1' });
    expect(rootCause(activityFailure(inner))).toBe(inner);
  });
  it('stops before a cause that is not an Error', () => {
    const top = new Error('top', { cause: 42 });
    expect(rootCause(top)).toBe(top);
  });
  it('wraps a thrown non-Error', () => {
    const e = rootCause('plain text');
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe('plain text');
  });
});
