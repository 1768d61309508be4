import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../lib/core/failure-types';
import * as profiles from '../../workflows/activity-options';

const retry = (initialInterval: string, maximumInterval: string, maximumAttempts: number, nonRetryable: string[]) => ({
  initialInterval,
  backoffCoefficient: 2,
  maximumInterval,
  maximumAttempts,
  nonRetryableErrorTypes: nonRetryable,
});

describe('activity option profiles', () => {
  it('each profile keeps its timeouts and retry policy, on the given queue', () => {
    expect(profiles.cpuStage('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '2h',
      heartbeatTimeout: '2m',
      retry: retry('5s', '5m', 10, [FailureType.BadInput]),
    });
    expect(profiles.training('gpu', '6h', '2m')).toEqual({
      taskQueue: 'gpu',
      startToCloseTimeout: 6 * 3_600_000,
      heartbeatTimeout: 120_000,
      retry: retry('5s', '5m', 6, [FailureType.BadInput]),
    });
    expect(profiles.registry('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '2m',
      retry: retry('2s', '1m', 20, [FailureType.BadInput]),
    });
    expect(profiles.partition('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '30m',
      heartbeatTimeout: '2m',
      retry: retry('2s', '1m', 8, [FailureType.BadInput]),
    });
    expect(profiles.aliasAndAudit('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '2m',
      retry: retry('2s', '1m', 30, [FailureType.BadInput, FailureType.ChampionMoved]),
    });
  });

  it('a training timeout that is not a duration is bad input, naming it', () => {
    for (const [timeout, heartbeat] of [
      ['six hours', '2m'],
      ['6h', '0m'],
    ] as const) {
      let thrown: unknown;
      try {
        profiles.training('gpu', timeout, heartbeat);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ApplicationFailure);
      expect(thrown).toMatchObject({ type: FailureType.BadInput, nonRetryable: true });
      expect((thrown as Error).message).toMatch(/^"(six hours|0m)" is not a duration$/);
    }
  });
});
