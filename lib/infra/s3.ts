/**
 * S3 access over any S3 API (AWS, or the dev stack's versitygw; path-style on custom endpoints).
 * Credentials: static keys when configured, else the AWS SDK's default chain (AWS_* variables,
 * shared profiles and SSO, web identity/IRSA, container and instance roles; the instance-metadata
 * probe is off wherever AWS_EC2_METADATA_DISABLED=true).
 * Every write is one PUT of a complete object, so a reader never sees half a file.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { Config } from './config';

export function createS3Client(cfg: Config['s3']): S3Client {
  // The SDK version is pinned in package-lock.json; its notice about future releases needing
  // Node 22 says nothing about this one, so keep it out of every command's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    ...(cfg.region ? { region: cfg.region } : {}),
    forcePathStyle: cfg.forcePathStyle,
    // No static keys: the SDK's default credential chain (credentialDefaultProvider) resolves them.
    ...(cfg.accessKeyId && cfg.secretAccessKey
      ? {
          credentials: {
            accessKeyId: cfg.accessKeyId,
            secretAccessKey: cfg.secretAccessKey,
            ...(cfg.sessionToken ? { sessionToken: cfg.sessionToken } : {}),
          },
        }
      : {}),
    maxAttempts: 5,
  });
}

/** How the client finds its keys: static ones, or the AWS SDK's default credential chain. */
export function s3CredentialMode(cfg: Config['s3']): 'static' | 'default chain' {
  return cfg.accessKeyId && cfg.secretAccessKey ? 'static' : 'default chain';
}

/** Parses `s3://bucket/key` into its parts; throws naming the URI if it is not one. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m?.[1] || !m[2]) throw new Error(`not an S3 URI: "${uri}" (expected s3://<bucket>/<key>)`);
  return { bucket: m[1], key: m[2] };
}

export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array | string,
  opts: { contentType?: string; metadata?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: opts.contentType,
      Metadata: opts.metadata,
    }),
    { abortSignal: opts.signal },
  );
}

export async function getObjectBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return out.Body.transformToByteArray();
}

/** Object metadata, or undefined when the key does not exist. */
export async function headObject(
  s3: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<{ size: number; etag: string; metadata: Record<string, string> } | undefined> {
  try {
    const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return { size: out.ContentLength ?? 0, etag: out.ETag ?? '', metadata: out.Metadata ?? {} };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<{ key: string; size: number; etag: string; lastModified?: Date }[]> {
  const keys: { key: string; size: number; etag: string; lastModified?: Date }[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }), {
      abortSignal: signal,
    });
    for (const o of out.Contents ?? [])
      if (o.Key) keys.push({ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified });
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Creates the bucket if it does not exist yet. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (
      err instanceof S3ServiceException &&
      (err.name === 'BucketAlreadyOwnedByYou' || err.name === 'BucketAlreadyExists')
    )
      return;
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof NoSuchKey || err instanceof NotFound) return true;
  if (err instanceof S3ServiceException)
    return (
      err.$metadata.httpStatusCode === 404 ||
      err.name === 'NotFound' ||
      err.name === 'NoSuchKey' ||
      err.name === 'NoSuchBucket'
    );
  return false;
}
