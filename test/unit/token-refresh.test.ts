/**
 * keepTokenFresh: what keeps an open Temporal connection's token current (the workers'
 * `setApiKey`, the CLI's per-call token). The token source is a test double typed as the real one.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keepTokenFresh } from '../../lib/infra/temporal';
import type { TokenSource } from '../../lib/identity/oidc-client';

afterEach(() => {
  vi.useRealTimers();
});

function source(answers: (string | Error)[]): TokenSource {
  let i = 0;
  return {
    getAccessToken: () => {
      const a = answers[Math.min(i++, answers.length - 1)];
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a as string);
    },
    invalidate: () => undefined,
  };
}

describe('keepTokenFresh', () => {
  it('applies a renewed token once, keeps the last one through failures and reports each failure streak once', async () => {
    vi.useFakeTimers();
    const applied: string[] = [];
    const errors: unknown[] = [];
    const down = new Error('provider down');
    const stop = keepTokenFresh(
      source(['t1', 't2', 't2', down, down, 't3', down]),
      't1',
      (t) => {
        applied.push(t);
      },
      (e) => errors.push(e),
      1000,
    );
    for (let i = 0; i < 7; i++) await vi.advanceTimersByTimeAsync(1000);
    expect(applied).toEqual(['t2', 't3']);
    expect(errors).toEqual([down, down]);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(applied).toEqual(['t2', 't3']);
  });
});
