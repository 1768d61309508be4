/**
 * `npm test`: provisions the dev stack if needed (building tools and the Python venv on a
 * fresh machine), then runs lint, typecheck and vitest (unit and integration projects).
 * A stack that this run started is stopped at the end; one that was already up stays up.
 * Set MLO_KEEP_STACK=1 to keep a stack this run started.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/infra/config';
import { isMloError, StackError } from '../lib/core/errors';
import { stackDown, stackUp } from '../lib/stack/stack';

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

const RESULTS = path.join(PROJECT_ROOT, '.stack', 'vitest-results.json');

/** vitest's counts, for the plain closing line `N passed, N failed`. */
function vitestCounts(): { passed: number; failed: number; skipped: number } | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
    };
    return { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests };
  } catch {
    return undefined;
  }
}

/**
 * The browser tests (test/browser) drive the machine's Chromium, never a downloaded one:
 * MLO_CHROMIUM when set, else Debian's package at /usr/bin/chromium, installed here with
 * apt-get when missing (CI starts from fresh machines). Idempotent: skipped when present.
 */
async function ensureChromium(): Promise<void> {
  const custom = process.env.MLO_CHROMIUM;
  if (custom) {
    if (!fs.existsSync(custom))
      throw new StackError(
        `MLO_CHROMIUM is ${custom}, and there is no file there. ` +
          "Point it at a Chromium or Chrome binary, or unset it to use Debian's /usr/bin/chromium.",
      );
    return;
  }
  if (fs.existsSync('/usr/bin/chromium')) return;
  const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  const asRoot = process.getuid?.() === 0;
  if (!has('apt-get') || (!asRoot && !has('sudo'))) {
    const cannot = has('apt-get') ? 'this user cannot run apt-get (not root, no sudo)' : 'apt-get is not available';
    throw new StackError(
      `The browser tests need Chromium, /usr/bin/chromium is missing and ${cannot} to install it. ` +
        'Install Chromium with your package manager (on Debian/Ubuntu: ' +
        '`apt-get update && apt-get install -y --no-install-recommends chromium`), ' +
        'or set MLO_CHROMIUM=<path to a Chromium or Chrome binary>.',
    );
  }
  // As root run apt-get itself; otherwise through passwordless sudo (as on CI runners).
  const [cmd, pre] = asRoot ? ['apt-get', [] as string[]] : ['sudo', ['-n', 'apt-get']];
  console.log("installing Debian's chromium for the browser tests (apt-get; first time only)");
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    const c = await run(cmd, [...pre, ...args], { DEBIAN_FRONTEND: 'noninteractive' });
    if (c !== 0) {
      throw new StackError(
        `\`${[cmd, ...pre, ...args].join(' ')}\` failed (exit ${c}) while installing Chromium for the browser tests. ` +
          'Install it yourself (`apt-get update && apt-get install -y --no-install-recommends chromium`, as root), ' +
          'or set MLO_CHROMIUM=<path to a Chromium or Chrome binary>.',
      );
    }
  }
  if (!fs.existsSync('/usr/bin/chromium'))
    throw new StackError(
      'apt-get installed chromium, yet /usr/bin/chromium is missing; ' +
        'set MLO_CHROMIUM=<path to a Chromium or Chrome binary>.',
    );
}

/** lint, format, typecheck and vitest (with the extra arguments), in order; the first failure's exit code. */
async function runChecks(): Promise<number> {
  const steps: [string, string, string[]][] = [
    ['lint', 'npx', ['eslint', '.', '--max-warnings', '0']],
    ['format', 'npx', ['prettier', '--check', '.']],
    ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
    [
      'vitest',
      'npx',
      [
        'vitest',
        'run',
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${RESULTS}`,
        ...process.argv.slice(2),
      ],
    ],
  ];
  for (const [name, cmd, args] of steps) {
    console.log(`\n== ${name}`);
    const c = await run(cmd, args);
    if (c !== 0) {
      console.error(`\n${name} failed (exit ${c})`);
      return c;
    }
  }
  return 0;
}

async function main(): Promise<number> {
  fs.rmSync(RESULTS, { force: true });
  const t0 = Date.now();
  console.log('== dev stack');
  const up = await stackUp();
  const startedHere = up.parts.some((p) => p.result === 'started');
  console.log(up.parts.map((p) => `${p.title}: ${p.result}`).join('; '));
  let code: number;
  try {
    console.log('\n== chromium (browser tests)');
    await ensureChromium();
    code = await runChecks();
  } finally {
    if (startedHere && process.env.MLO_KEEP_STACK !== '1') {
      console.log('\n== stopping the dev stack this run started (MLO_KEEP_STACK=1 keeps it)');
      await stackDown();
    }
  }
  console.log(`\nnpm test ${code === 0 ? 'passed' : 'failed'} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  const counts = vitestCounts();
  if (counts)
    console.log(
      `vitest: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`,
    );
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(isMloError(err) ? err.message : err);
    process.exit(1);
  },
);
