import type { Config } from '../lib/infra/config';
import { codeVersion } from '../lib/infra/code-version';
import { DeviceSlots } from '../lib/trainer/gpu-slots';
import { MlflowClient } from '../lib/registry/mlflow';
import { createS3Client } from '../lib/infra/s3';
import type { ActivityDeps } from './deps';

/** The real clients, from validated configuration. */
export function buildDeps(cfg: Config, devices: string[] = []): ActivityDeps {
  return {
    config: cfg,
    s3: createS3Client(cfg.s3),
    mlflow: MlflowClient.fromConfig(cfg),
    mlflowOnce: MlflowClient.fromConfig(cfg, { retry: { attempts: 1 } }),
    devices: new DeviceSlots(devices),
    codeVersion: codeVersion(),
  };
}
