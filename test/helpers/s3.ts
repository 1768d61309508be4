import fs from 'node:fs';
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { listKeys } from '../../lib/infra/s3';

/** Deletes every object under `prefix` in batches of 500 (a test's cleanup of what it wrote). */
export async function deleteUnder(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys = await listKeys(s3, bucket, prefix);
  for (let i = 0; i < keys.length; i += 500) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 500).map((k) => ({ Key: k.key })) },
      }),
    );
  }
}

/**
 * A test file's cleanup: its temporary directory, then (when its S3 client was created) the
 * objects under its prefix, and the client itself even when the deletion fails.
 */
export async function removeTestData(opts: {
  tmpDir: string;
  s3: S3Client | undefined;
  bucket: string;
  prefix: string;
}): Promise<void> {
  fs.rmSync(opts.tmpDir, { recursive: true, force: true });
  if (!opts.s3) return;
  try {
    await deleteUnder(opts.s3, opts.bucket, opts.prefix);
  } finally {
    opts.s3.destroy();
  }
}
