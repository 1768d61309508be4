import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../lib/infra/config';
import type { DeviceSlots } from '../lib/trainer/gpu-slots';
import type { MlflowClient } from '../lib/registry/mlflow';

/** What the activities are built over. Tests inject their own, typed as the real ones. */
export type ActivityDeps = {
  config: Config;
  s3: S3Client;
  mlflow: MlflowClient;
  /**
   * The same MLflow server, one attempt per call: for creates that must not be repeated blindly (a
   * create whose response was lost would make a second object); the caller searches before each try.
   */
  mlflowOnce: MlflowClient;
  /** Training slots of this worker (GPU ids, or one CPU slot). */
  devices: DeviceSlots;
  /** Recorded on every model version (git commit). */
  codeVersion: string;
  /** The deployed model specs; default: `$MLO_MODELS_DIR`, else the project's `models/`. */
  modelsDir?: string;
};
