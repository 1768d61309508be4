/**
 * `npm test`: provisions the dev stack if needed (building tools and the Python venv on a
 * fresh machine), then runs lint, typecheck and vitest (unit and integration projects).
 * A stack that this run started is stopped at the end; one that was already up stays up.
 * Set MLO_KEEP_STACK=1 to keep a stack this run started.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/config';
import { isMloError } from '../lib/errors';
import { stackDown, stackUp } from '../lib/stack/stack';

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: 'inherit', env: process.env });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

const RESULTS = path.join(PROJECT_ROOT, '.stack', 'vitest-results.json');

/** vitest's counts, for the plain closing line `N passed, N failed`. */
function vitestCounts(): { passed: number; failed: number; skipped: number } | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
    return { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests };
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  fs.rmSync(RESULTS, { force: true });
  const t0 = Date.now();
  console.log('== dev stack');
  const up = await stackUp();
  const startedHere = up.parts.some((p) => p.result === 'started');
  console.log(up.parts.map((p) => `${p.title}: ${p.result}`).join('; '));
  let code = 0;
  try {
    const steps: [string, string, string[]][] = [
      ['lint', 'npx', ['eslint', '.', '--max-warnings', '0']],
      ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
      ['vitest', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${RESULTS}`, ...process.argv.slice(2)]],
    ];
    for (const [name, cmd, args] of steps) {
      console.log(`\n== ${name}`);
      const c = await run(cmd, args);
      if (c !== 0) {
        console.error(`\n${name} failed (exit ${c})`);
        code = c;
        break;
      }
    }
  } finally {
    if (startedHere && process.env.MLO_KEEP_STACK !== '1') {
      console.log('\n== stopping the dev stack this run started (MLO_KEEP_STACK=1 keeps it)');
      await stackDown();
    }
  }
  console.log(`\nnpm test ${code === 0 ? 'passed' : 'failed'} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  const counts = vitestCounts();
  if (counts) console.log(`vitest: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(isMloError(err) ? err.message : err);
    process.exit(1);
  },
);
