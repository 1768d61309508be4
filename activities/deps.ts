import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../lib/config';
import type { DeviceSlots } from '../lib/devices';
import type { MlflowClient } from '../lib/mlflow';

/** What the activities are built over. Tests inject their own, typed as the real ones. */
export type ActivityDeps = {
  config: Config;
  s3: S3Client;
  mlflow: MlflowClient;
  /** Training slots of this worker (GPU ids, or one CPU slot). */
  devices: DeviceSlots;
  /** Recorded on every model version (git commit). */
  codeVersion: string;
};
