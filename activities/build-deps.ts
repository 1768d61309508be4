import type { Config } from '../lib/config';
import { codeVersion } from '../lib/code-version';
import { DeviceSlots } from '../lib/devices';
import { MlflowClient } from '../lib/mlflow';
import { createS3Client } from '../lib/s3';
import type { ActivityDeps } from './deps';

/** The real clients, from validated configuration. */
export function buildDeps(cfg: Config, devices: string[] = []): ActivityDeps {
  return { config: cfg, s3: createS3Client(cfg.s3), mlflow: MlflowClient.fromConfig(cfg), devices: new DeviceSlots(devices), codeVersion: codeVersion() };
}
