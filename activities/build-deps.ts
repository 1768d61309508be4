import { Context } from '@temporalio/activity';
import type { Config } from '../lib/infra/config';
import { codeVersion } from '../lib/infra/code-version';
import { DeviceSlots } from '../lib/trainer/gpu-slots';
import { MlflowClient } from '../lib/registry/mlflow';
import type { RetryOptions } from '../lib/registry/mlflow/types';
import { createS3Client } from '../lib/infra/s3';
import type { ActivityDeps } from './deps';

/**
 * Inside an activity the MLflow client tries a call at most three times within a few seconds
 * (a dropped connection, a 503 while MLflow restarts); a longer outage fails the attempt and
 * Temporal retries the activity within its time budget (workflows/activity-options.ts).
 */
export const ACTIVITY_MLFLOW_RETRY: Readonly<RetryOptions> = { attempts: 3, baseDelayMs: 500, maxDelayMs: 2_000 };

/** The real clients, from validated configuration. */
export function buildDeps(cfg: Config, devices: string[] = []): ActivityDeps {
  return {
    config: cfg,
    s3: createS3Client(cfg.s3),
    mlflow: MlflowClient.fromConfig(cfg, { retry: ACTIVITY_MLFLOW_RETRY, ambientSignal: activityCancellation }),
    mlflowOnce: MlflowClient.fromConfig(cfg, { retry: { attempts: 1 }, ambientSignal: activityCancellation }),
    devices: new DeviceSlots(devices),
    codeVersion: codeVersion(),
  };
}

/** The running activity's cancellation signal; none outside an activity. */
export function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
