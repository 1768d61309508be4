/**
 * Activity options, one profile per kind of work: each workflow proxies its activities through
 * these (`proxyActivities<Activities>(profile(...))`), so every timeout and retry policy is
 * written once.
 *
 * Retries are bounded by time, not by a count of attempts: `scheduleToCloseTimeout` is each
 * activity's whole budget, first attempt to last, and leaves at least OUTAGE_BUDGET (an hour) for
 * S3, MLflow or the Temporal server to come back. Attempts are unlimited within it, backing off
 * to at most a minute apart, so work resumes within a minute of the end of an outage. Bad input
 * (and a champion that moved) is never retried. Activities that talk to the registry heartbeat,
 * so a dead worker is noticed within `heartbeatTimeout`, not at the end of `startToCloseTimeout`.
 */
import { ApplicationFailure, type ActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import { parseDuration } from '../lib/core/duration';
import { FailureType } from '../lib/core/failure-types';

/** The least time any profile leaves for an outage of S3, MLflow or Temporal to end. */
export const OUTAGE_BUDGET_MS = 3_600_000;

/** Unlimited attempts (within the schedule-to-close budget), at most a minute apart. */
function retryByTime(
  initialInterval: string,
  nonRetryable: string[] = [FailureType.BadInput],
  maximumInterval = '1m',
): RetryPolicy {
  return { initialInterval, backoffCoefficient: 2, maximumInterval, nonRetryableErrorTypes: nonRetryable };
}

/** A stage on the CPU pool (evaluation, shadow scoring): long, heartbeating. */
export function cpuStage(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '2h',
    heartbeatTimeout: '2m',
    scheduleToCloseTimeout: '6h',
    retry: retryByTime('5s'),
  };
}

/**
 * One trainer process (a trial): per-attempt and heartbeat timeouts from the model spec; the
 * budget is two whole attempts and an outage (2 × timeout + 1 h).
 */
export function training(taskQueue: string, timeout: string, heartbeatTimeout: string): ActivityOptions {
  const attemptMs = durationMs(timeout);
  return {
    taskQueue,
    startToCloseTimeout: attemptMs,
    heartbeatTimeout: durationMs(heartbeatTimeout),
    scheduleToCloseTimeout: 2 * attemptMs + OUTAGE_BUDGET_MS,
    retry: retryByTime('5s'),
  };
}

/** MLflow calls of a run (sweep runs, registration, the current champion): heartbeating. */
export function registry(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '10m',
    heartbeatTimeout: '1m',
    scheduleToCloseTimeout: '2h',
    retry: retryByTime('2s'),
  };
}

/** Reading the model spec deployed with the workers: a small file; a missing or changed spec is final. */
export function deployedSpec(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '1m',
    scheduleToCloseTimeout: '2h',
    retry: retryByTime('1s', [FailureType.BadInput], '30s'),
  };
}

/** The feature backfill: planning, one day partition, the manifest. */
export function partition(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '30m',
    heartbeatTimeout: '2m',
    scheduleToCloseTimeout: '2h',
    retry: retryByTime('2s'),
  };
}

/**
 * Alias moves, lineage and audit records of a promotion or rollback: heartbeating, each safe to
 * retry after partial success; a champion that moved since it was read (ChampionMoved) is final.
 */
export function aliasAndAudit(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '5m',
    heartbeatTimeout: '1m',
    scheduleToCloseTimeout: '2h',
    retry: retryByTime('2s', [FailureType.BadInput, FailureType.ChampionMoved]),
  };
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw ApplicationFailure.nonRetryable(`"${text}" is not a duration`, FailureType.BadInput);
  return ms;
}
