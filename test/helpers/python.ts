/**
 * Python children of the tests: the venv's interpreter run from the project root (the trainers,
 * the fixture snapshot generator, reference computations with onnxruntime and scikit-learn),
 * the environment that points them at the configured S3, and the fixture snapshot itself.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, type Config } from '../../lib/infra/config';

/** The project venv's interpreter (`npm run stack -- up` creates `.venv`). */
export const VENV_PYTHON = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');

/** The 8 Float64 feature columns of the fixture snapshot (trainers/tools/make_fixture_snapshot.py). */
export const FIXTURE_FEATURES = [
  'amount_log',
  'amount_zscore_card',
  'card_tx_count_1h',
  'card_tx_count_24h',
  'card_amount_sum_24h',
  'merchant_distinct_7d',
  'geo_mismatch',
  'account_age_days_log',
];

/**
 * Lines that open a Python `-c` script reading S3 objects: `sys`, `json`, `boto3`, `numpy as np`,
 * `onnxruntime as ort`, `pyarrow as pa`, `pyarrow.ipc as ipc`, and `get(uri)`, the bytes of an
 * `s3://bucket/key` object, from the endpoint in `sys.argv[1]`.
 */
export const PY_S3_READER = [
  'import sys, json, boto3, numpy as np, onnxruntime as ort, pyarrow as pa, pyarrow.ipc as ipc',
  's3 = boto3.client("s3", endpoint_url=sys.argv[1])',
  'get = lambda u: s3.get_object(Bucket=u[5:].split("/", 1)[0], Key=u[5:].split("/", 1)[1])["Body"].read()',
];

/** This process's environment with the configured S3 endpoint and credentials, then `extra`. */
export function pythonEnv(cfg: Pick<Config, 's3'>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MLO_S3_ENDPOINT: cfg.s3.endpoint,
    AWS_ACCESS_KEY_ID: cfg.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: cfg.s3.secretAccessKey,
    AWS_DEFAULT_REGION: cfg.s3.region,
    ...extra,
  };
}

export type PythonRun = { code: number | null; stdout: string; stderr: string; ms: number };

/** Runs the venv's Python with `args` from the project root; `env` is its whole environment. */
export function runPython(args: string[], env: NodeJS.ProcessEnv): Promise<PythonRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PYTHON, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/**
 * Writes a fixture snapshot under `prefix` (`s3://bucket/…/`) with make_fixture_snapshot.py and
 * its `args` (`--seed`, `--days`, …); the run and `manifestUri`, the last line it printed.
 */
export async function makeFixtureSnapshot(
  prefix: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<PythonRun & { manifestUri: string }> {
  const r = await runPython(['trainers/tools/make_fixture_snapshot.py', prefix, ...args], env);
  return { ...r, manifestUri: r.stdout.trim().split('\n').at(-1) ?? '' };
}
