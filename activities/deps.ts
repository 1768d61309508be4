import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../lib/config';

/** What the activities are built over. Tests inject their own, typed as the real ones. */
export type ActivityDeps = {
  config: Config;
  s3: S3Client;
};
