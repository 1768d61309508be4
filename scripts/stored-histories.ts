/**
 * The stored workflow histories the replay test replays: test/fixtures/histories/<release>/<name>.json,
 * one directory per release that recorded some. They are immutable: a release adds a directory
 * and never rewrites a file, so every stored run keeps replaying against every later release.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/infra/config';

export const HISTORIES_DIR = path.join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

/** The code that records or replays histories: the workflows and what they import. */
export const WORKFLOW_SOURCES = ['workflows', 'lib/core'];

/** Every stored history, as paths relative to `dir` (`<release>/<name>.json`), sorted. */
export function storedHistoryFiles(dir: string = HISTORIES_DIR): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

/** A release name usable as a directory: letters, digits, ".", "_", "+", "-". */
export function checkReleaseName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(name))
    throw new Error(
      `the release name "${name}" is not a directory name of letters, digits, ".", "_", "+" or "-" ` +
        '(at most 64, starting with a letter or digit), e.g. MLO_FIXTURES_RELEASE=0.2.0',
    );
  return name;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/**
 * The default release name of a recording: `<package version>+<short commit>` of HEAD. Refused
 * when the workflow code has uncommitted changes: the histories would be named after a commit
 * that did not produce them.
 */
export function defaultReleaseName(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  const changed = git(['status', '--porcelain', '--untracked-files=all', '--', ...WORKFLOW_SOURCES]);
  if (changed)
    throw new Error(
      `the workflow code has uncommitted changes (${changed.split('\n').length} files under ` +
        `${WORKFLOW_SOURCES.join(', ')}); commit them first, so that the histories are named by the commit ` +
        'that recorded them, or name the release: MLO_FIXTURES_RELEASE=<name> npm run record-fixtures',
    );
  return `${pkg.version}+${git(['rev-parse', '--short=7', 'HEAD'])}`;
}

/**
 * Writes one history of `release`, refusing to replace any file: a stored history is never
 * rewritten. Returns the file written.
 */
export function writeStoredHistory(release: string, name: string, json: string, dir: string = HISTORIES_DIR): string {
  const file = path.join(dir, checkReleaseName(release), `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.writeFileSync(file, json, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new Error(
      `${path.relative(PROJECT_ROOT, file)} exists: stored histories are immutable and are never rewritten; ` +
        'record under a new release name (MLO_FIXTURES_RELEASE=<name> npm run record-fixtures)',
      { cause: err },
    );
  }
  return file;
}
