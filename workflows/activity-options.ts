/**
 * Activity options, one profile per kind of work: each workflow proxies its activities through
 * these (`proxyActivities<Activities>(profile(...))`), so every timeout and retry policy is
 * written once. Bad input never retries.
 */
import { ApplicationFailure, type ActivityOptions } from '@temporalio/workflow';
import { parseDuration } from '../lib/core/duration';
import { FailureType } from '../lib/core/failure-types';

/** A stage on the CPU pool (evaluation, shadow scoring): long, heartbeating. */
export function cpuStage(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '2h',
    heartbeatTimeout: '2m',
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: 10,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  };
}

/** One trainer process (a trial): timeouts from the model spec, heartbeating. */
export function training(taskQueue: string, timeout: string, heartbeatTimeout: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: durationMs(timeout),
    heartbeatTimeout: durationMs(heartbeatTimeout),
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: 6,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  };
}

/** Short MLflow calls of a run (sweep runs, registration, the current champion). */
export function registry(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 20,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  };
}

/** Reading the model spec deployed with the workers: a small file; a missing or changed spec is final. */
export function deployedSpec(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '1m',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: 10,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  };
}

/** The feature backfill: planning, one day partition, the manifest. */
export function partition(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '30m',
    heartbeatTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 8,
      nonRetryableErrorTypes: [FailureType.BadInput],
    },
  };
}

/**
 * Alias moves, lineage and audit records of a promotion or rollback: more attempts than a run's
 * registry calls, and a champion that moved since it was read (ChampionMoved) is final.
 */
export function aliasAndAudit(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 30,
      nonRetryableErrorTypes: [FailureType.BadInput, FailureType.ChampionMoved],
    },
  };
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw ApplicationFailure.nonRetryable(`"${text}" is not a duration`, FailureType.BadInput);
  return ms;
}
