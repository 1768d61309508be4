/**
 * Setup of every test file (unit and integration): the AWS credential chain never probes the
 * instance-metadata address (no test machine is an EC2 instance, and the probe would wait on a
 * timeout), and the Temporal settings come from the dev stack's own profile
 * (<stack dir>/temporal.toml, written by `npm run stack -- up`) when it exists, so a default profile
 * in the developer's ~/.config/temporalio never points the tests elsewhere, unless the run names a
 * configuration file itself. Child processes the tests start inherit both; a suite that runs its
 * own stack instance on other ports drops TEMPORAL_CONFIG_FILE (test/chaos/env.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadStackConfig } from '../../lib/infra/config';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
if (!process.env.TEMPORAL_CONFIG_FILE) {
  // stackPaths(...).temporalProfile, without loading the stack's module into every test file
  const profile = path.join(loadStackConfig().dir, 'temporal.toml');
  if (fs.existsSync(profile)) process.env.TEMPORAL_CONFIG_FILE = profile;
}
