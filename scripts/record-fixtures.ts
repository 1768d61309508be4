/**
 * `npm run record-fixtures`: records new stored histories under test/fixtures/histories/<release>/
 * by running the workflow tests that record them (test/helpers/fixtures.ts `recordHistory`).
 * The release is MLO_FIXTURES_RELEASE, else `<package version>+<short commit>`. It refuses to
 * record into a release directory that exists: stored histories are immutable, each release adds
 * its own and the replay test replays all of them. Needs the dev stack, like those tests.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/infra/config';
import { checkReleaseName, defaultReleaseName, HISTORIES_DIR, storedHistoryFiles } from './stored-histories';

/** The test files that record histories. */
export const RECORDING_TESTS = [
  'test/workflows/promotion.test.ts',
  'test/workflows/trainAndPromote.test.ts',
  'test/workflows/alias-moves.test.ts',
];

function release(): string {
  const named = process.env.MLO_FIXTURES_RELEASE;
  return named ? checkReleaseName(named) : defaultReleaseName();
}

function main(): number {
  let name: string;
  try {
    name = release();
  } catch (err) {
    console.error(`record-fixtures: ${(err as Error).message}`);
    return 2;
  }
  const dir = path.join(HISTORIES_DIR, name);
  const rel = path.relative(PROJECT_ROOT, dir);
  if (fs.existsSync(dir)) {
    console.error(
      `record-fixtures: ${rel}/ exists (${storedHistoryFiles(dir).length} histories): stored histories are ` +
        'immutable and are never rewritten. Record under a new release: commit your change (the default ' +
        'name is <version>+<commit>) or set MLO_FIXTURES_RELEASE=<new name>. If an earlier recording into ' +
        `it failed and it is not committed, delete it first: rm -r ${rel}`,
    );
    return 2;
  }
  console.log(`record-fixtures: recording into ${rel}/`);
  const r = spawnSync(
    process.execPath,
    [path.join(PROJECT_ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...RECORDING_TESTS],
    {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
      env: { ...process.env, MLO_RECORD_FIXTURES: '1', MLO_FIXTURES_RELEASE: name },
    },
  );
  const written = storedHistoryFiles(dir);
  console.log(`record-fixtures: ${written.length} histories in ${rel}/: ${written.join(', ') || 'none'}`);
  if (r.status !== 0) console.error(`record-fixtures: the recording tests failed; ${rel}/ is incomplete: rm -r ${rel}`);
  return r.status ?? 1;
}

if (require.main === module) process.exit(main());
