import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from './config';

/** The code version recorded on every model: MLO_CODE_VERSION, else the git commit (+"-dirty"). */
export function codeVersion(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MLO_CODE_VERSION) return env.MLO_CODE_VERSION;
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}
