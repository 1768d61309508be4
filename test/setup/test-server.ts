/**
 * Global setup of the integration project: installs Temporal's time-skipping test server
 * from Maven Central the first time (the tests of deadlines run on it), so that the one-time
 * resolution is reported here and paid by no test file's hooks. Later runs find it cached.
 */
import { ensureTestServer } from '../helpers/time-skipping';

export default async function installTestServer(): Promise<void> {
  await ensureTestServer((line) => console.log(line));
}
