/**
 * Checkpoints of one trial across its attempts. Each attempt writes under its own prefix,
 * `<trial prefix>attempt-<n>/`, so two trainers of one trial (an orphan and its retry) never write
 * the same objects; a retry resumes from the newest valid checkpoint of any earlier attempt.
 *
 * Valid means complete and written by the trainer: one object `step-<n>.<ext>` whose metadata
 * carries `step` and the `sha256` of its bytes (trainers/README.md §8), and whose bytes match it.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { getObjectBytes, headObject, listKeys, parseS3Uri, putObject, s3Uri } from '../infra/s3';

export type Checkpoint = { uri: string; step: number; attempt: number };

const CHECKPOINT_KEY = /(?:^|\/)attempt-(\d+)\/step-(\d+)\.[A-Za-z0-9]+$/;

/** The prefix one attempt of a trial writes its checkpoints under. */
export function attemptPrefix(trialPrefix: string, attempt: number): string {
  return `${trialPrefix}attempt-${attempt}/`;
}

/** The checkpoints under a trial prefix, newest step first (a later attempt first on a tie). */
export async function listCheckpoints(s3: S3Client, trialPrefix: string, signal?: AbortSignal): Promise<Checkpoint[]> {
  const { bucket, key } = parseS3Uri(trialPrefix);
  const found: Checkpoint[] = [];
  for (const o of await listKeys(s3, bucket, key, signal)) {
    const m = CHECKPOINT_KEY.exec(o.key.slice(key.length));
    if (m) found.push({ uri: s3Uri(bucket, o.key), attempt: Number(m[1]), step: Number(m[2]) });
  }
  return found.sort((a, b) => b.step - a.step || b.attempt - a.attempt);
}

/** Why a checkpoint is not valid, or undefined when it is. */
export async function checkpointProblem(
  s3: S3Client,
  c: Checkpoint,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const { bucket, key } = parseS3Uri(c.uri);
  const head = await headObject(s3, bucket, key, signal);
  if (!head) return 'it is gone';
  const { sha256, step } = head.metadata;
  if (!sha256 || step === undefined) return 'it has no sha256/step metadata (not written as a complete checkpoint)';
  if (Number(step) !== c.step) return `its metadata says step ${step}, its name step ${c.step}`;
  const digest = createHash('sha256')
    .update(await getObjectBytes(s3, bucket, key, signal))
    .digest('hex');
  return digest === sha256 ? undefined : `its bytes hash to ${digest.slice(0, 12)}…, not ${sha256.slice(0, 12)}…`;
}

/**
 * The newest valid checkpoint under a trial prefix, or null when none is. Invalid ones are
 * reported to `skipped` and passed over.
 */
export async function newestValidCheckpoint(
  s3: S3Client,
  trialPrefix: string,
  opts: { signal?: AbortSignal; skipped?: (c: Checkpoint, why: string) => void } = {},
): Promise<Checkpoint | null> {
  for (const c of await listCheckpoints(s3, trialPrefix, opts.signal)) {
    const why = await checkpointProblem(s3, c, opts.signal);
    if (why === undefined) return c;
    opts.skipped?.(c, why);
  }
  return null;
}

const RESULT_KEY = /(?:^|\/)attempt-(\d+)\/result\.json$/;

/**
 * Keeps a trainer's result line next to its attempt's checkpoints, `<attempt prefix>result.json`:
 * with the heartbeat, which the SDK may not have sent yet when the worker dies, the second record
 * that the trial's trainer exited 0.
 */
export async function saveResult(
  s3: S3Client,
  trialPrefix: string,
  attempt: number,
  result: unknown,
  signal?: AbortSignal,
): Promise<void> {
  const { bucket, key } = parseS3Uri(`${attemptPrefix(trialPrefix, attempt)}result.json`);
  await putObject(s3, bucket, key, JSON.stringify(result), { contentType: 'application/json', signal });
}

/** A result an earlier attempt of the trial saved, or undefined. */
export async function savedResult(s3: S3Client, trialPrefix: string, signal?: AbortSignal): Promise<unknown> {
  const { bucket, key } = parseS3Uri(trialPrefix);
  const found = (await listKeys(s3, bucket, key, signal)).find((o) => RESULT_KEY.test(o.key.slice(key.length)));
  if (!found) return undefined;
  return JSON.parse(Buffer.from(await getObjectBytes(s3, bucket, found.key, signal)).toString('utf8')) as unknown;
}
