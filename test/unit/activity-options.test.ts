import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../lib/core/failure-types';
import type { ActivityOptions } from '@temporalio/workflow';
import { parseDuration } from '../../lib/core/duration';
import * as profiles from '../../workflows/activity-options';
import { MAX_WAIT_FOR_OTHER_MOVE_MS } from '../../workflows/champion-move';

const retry = (initialInterval: string, maximumInterval: string, nonRetryable: string[]) => ({
  initialInterval,
  backoffCoefficient: 2,
  maximumInterval,
  nonRetryableErrorTypes: nonRetryable,
});

const HOUR = 3_600_000;

/** A duration option in ms (the profiles write strings like '2h' or numbers of ms). */
function ms(value: unknown): number {
  const out = typeof value === 'number' ? value : parseDuration(String(value));
  if (out === undefined) throw new Error(`${String(value)} is not a duration`);
  return out;
}

const ALL: Record<string, ActivityOptions> = {
  cpuStage: profiles.cpuStage('q'),
  training: profiles.training('gpu', '6h', '2m'),
  registry: profiles.registry('q'),
  deployedSpec: profiles.deployedSpec('q'),
  partition: profiles.partition('q'),
  aliasAndAudit: profiles.aliasAndAudit('q'),
};

describe('activity option profiles', () => {
  it('each profile keeps its timeouts and retry policy, on the given queue', () => {
    expect(profiles.cpuStage('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '2h',
      heartbeatTimeout: '2m',
      scheduleToCloseTimeout: '6h',
      retry: retry('5s', '1m', [FailureType.BadInput]),
    });
    expect(profiles.training('gpu', '6h', '2m')).toEqual({
      taskQueue: 'gpu',
      startToCloseTimeout: 6 * HOUR,
      heartbeatTimeout: 120_000,
      scheduleToCloseTimeout: 13 * HOUR,
      retry: retry('5s', '1m', [FailureType.BadInput]),
    });
    expect(profiles.registry('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '10m',
      heartbeatTimeout: '1m',
      scheduleToCloseTimeout: '2h',
      retry: retry('2s', '1m', [FailureType.BadInput]),
    });
    expect(profiles.deployedSpec('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '1m',
      scheduleToCloseTimeout: '2h',
      retry: retry('1s', '30s', [FailureType.BadInput]),
    });
    expect(profiles.partition('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '30m',
      heartbeatTimeout: '2m',
      scheduleToCloseTimeout: '2h',
      retry: retry('2s', '1m', [FailureType.BadInput]),
    });
    expect(profiles.aliasAndAudit('q')).toEqual({
      taskQueue: 'q',
      startToCloseTimeout: '5m',
      heartbeatTimeout: '1m',
      scheduleToCloseTimeout: '2h',
      retry: retry('2s', '1m', [FailureType.BadInput, FailureType.ChampionMoved]),
    });
  });

  it.each(Object.entries(ALL))('%s retries by time: no attempt count, at least an hour beyond one attempt', (_, o) => {
    expect(o.retry?.maximumAttempts).toBeUndefined();
    expect(ms(o.scheduleToCloseTimeout) - ms(o.startToCloseTimeout)).toBeGreaterThanOrEqual(profiles.OUTAGE_BUDGET_MS);
    // Back at work within a minute of an outage's end.
    expect(ms(o.retry?.maximumInterval)).toBeLessThanOrEqual(60_000);
    expect(o.retry?.nonRetryableErrorTypes).toContain(FailureType.BadInput);
  });

  it('registry activities heartbeat, well within their attempt', () => {
    for (const o of [ALL.registry, ALL.aliasAndAudit]) {
      expect(ms(o?.heartbeatTimeout)).toBeLessThanOrEqual(60_000);
      expect(ms(o?.heartbeatTimeout)).toBeLessThan(ms(o?.startToCloseTimeout));
    }
  });

  it('a mover waits for another longer than any move may take, then gives up', () => {
    expect(MAX_WAIT_FOR_OTHER_MOVE_MS).toBeGreaterThan(ms(profiles.aliasAndAudit('q').scheduleToCloseTimeout));
  });

  it("a training budget grows with the spec's timeout: two attempts and an outage", () => {
    expect(profiles.training('gpu', '30m', '1m').scheduleToCloseTimeout).toBe(2 * 30 * 60_000 + HOUR);
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
