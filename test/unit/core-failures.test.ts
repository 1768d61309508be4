import { describe, expect, it } from 'vitest';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { BadInputError } from '../../lib/core/errors';
import { FailureType } from '../../lib/core/failure-types';
import { CancelledError, toActivityFailure, withActivityFailures } from '../../lib/core/failures';

describe('toActivityFailure', () => {
  it('turns bad input into a non-retryable BadInput failure', () => {
    const err = new BadInputError('evaluation.gates[0]: unknown metric "aucc"');
    const f = toActivityFailure(err) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type: FailureType.BadInput, nonRetryable: true, message: err.message });
    expect(f.cause).toBeUndefined();
  });
  it('names what failed and keeps the cause when asked', () => {
    const err = new BadInputError('the holdout is empty');
    const f = toActivityFailure(err, { context: 'evaluation of m v2', keepCause: true }) as ApplicationFailure;
    expect(f).toMatchObject({
      type: FailureType.BadInput,
      nonRetryable: true,
      message: 'evaluation of m v2: the holdout is empty',
    });
    expect(f.cause).toBe(err);
  });
  it('turns a cancellation into a non-retryable Cancelled failure', () => {
    const f = toActivityFailure(new CancelledError('training was cancelled')) as ApplicationFailure;
    expect(f).toMatchObject({ type: FailureType.Cancelled, nonRetryable: true, message: 'training was cancelled' });
  });
  it('passes everything else through unchanged, for the retry policy', () => {
    const outage = new Error('connect ECONNREFUSED 127.0.0.1:7070');
    const transient = ApplicationFailure.create({ type: FailureType.TrainerTransient, message: 'exit 75' });
    const cancelled = new CancelledFailure('CANCELLED');
    expect(toActivityFailure(outage, { context: 'x', keepCause: true })).toBe(outage);
    expect(toActivityFailure(transient)).toBe(transient);
    expect(toActivityFailure(cancelled)).toBe(cancelled);
    expect(toActivityFailure('text')).toBe('text');
  });
});

describe('withActivityFailures', () => {
  it('returns the result, or throws the converted error', async () => {
    await expect(withActivityFailures(async () => 7)).resolves.toBe(7);
    await expect(
      withActivityFailures(
        async () => {
          throw new BadInputError('no rows');
        },
        { context: 'shadow scoring of m v1' },
      ),
    ).rejects.toMatchObject({ type: FailureType.BadInput, message: 'shadow scoring of m v1: no rows' });
    const outage = new Error('socket hang up');
    await expect(
      withActivityFailures(async () => {
        throw outage;
      }),
    ).rejects.toBe(outage);
  });
});
