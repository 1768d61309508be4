import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client, s3CredentialMode } from '../../lib/infra/s3';
import { trainerEnv } from '../../lib/trainer/env';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-s3-chain-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The AWS SDK reads its chain from process.env: each test sets exactly what it wants there. */
const AWS_NAMES = Object.keys(process.env).filter((k) => k.startsWith('AWS_'));
let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = Object.fromEntries(AWS_NAMES.map((k) => [k, process.env[k]]));
  for (const k of AWS_NAMES) delete process.env[k];
  // An empty shared config, so the developer's own ~/.aws never answers for a test.
  process.env.AWS_CONFIG_FILE = path.join(dir, 'none-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'none-credentials');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
});
afterEach(() => {
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
});

function profileFiles(): void {
  fs.writeFileSync(
    path.join(dir, 'credentials'),
    '[ml-prod]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = profile-secret\n',
  );
  fs.writeFileSync(path.join(dir, 'config'), '[profile ml-prod]\nregion = eu-west-1\n');
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
  process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
  process.env.AWS_PROFILE = 'ml-prod';
}

describe('S3 credentials', () => {
  it("the dev stack's keys only against the dev stack's endpoint", async () => {
    const s3 = loadConfig({ HOME: dir }).s3;
    expect(s3).toMatchObject({
      endpoint: 'http://127.0.0.1:7070',
      credentialSource: 'dev stack',
      forcePathStyle: true,
    });
    const creds = await createS3Client(s3).config.credentials();
    expect(creds.accessKeyId).toBe('mlo-dev');
  });

  it('static keys when both are set; one without the other is an error naming both', async () => {
    const s3 = loadConfig({
      HOME: dir,
      MLO_S3_ENDPOINT: 'https://minio.internal:9000',
      MLO_S3_ACCESS_KEY_ID: 'AKIASTATIC',
      MLO_S3_SECRET_ACCESS_KEY: 'static-secret',
    }).s3;
    expect(s3CredentialMode(s3)).toBe('static');
    expect((await createS3Client(s3).config.credentials()).accessKeyId).toBe('AKIASTATIC');
    expect(() => loadConfig({ HOME: dir, MLO_S3_ACCESS_KEY_ID: 'AKIASTATIC' })).toThrow(
      /MLO_S3_ACCESS_KEY_ID and MLO_S3_SECRET_ACCESS_KEY go together/,
    );
  });

  it("no static key on another endpoint: the AWS SDK's default chain (here a shared profile) resolves them", async () => {
    profileFiles();
    const s3 = loadConfig({ HOME: dir, MLO_S3_ENDPOINT: 'aws', MLO_S3_BUCKET: 'risk-ml' }).s3;
    expect(s3).toMatchObject({ endpoint: undefined, region: undefined, credentialSource: 'default chain' });
    expect(s3.forcePathStyle).toBe(false);
    expect(s3.accessKeyId).toBeUndefined();
    const client = createS3Client(s3);
    const creds = await client.config.credentials();
    expect(creds.accessKeyId).toBe('AKIAPROFILEKEY');
    // the region too comes from the profile
    expect(await client.config.region()).toBe('eu-west-1');
    // without a named profile, the AWS_* key variables come first in the chain
    delete process.env.AWS_PROFILE;
    process.env.AWS_ACCESS_KEY_ID = 'AKIAENVKEY';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret';
    expect((await createS3Client(s3).config.credentials()).accessKeyId).toBe('AKIAENVKEY');
  });

  it('with no source and AWS_EC2_METADATA_DISABLED, the chain fails without asking the instance metadata', async () => {
    const s3 = loadConfig({ HOME: dir, MLO_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com' }).s3;
    const failure = await createS3Client(s3)
      .config.credentials()
      .then(
        () => undefined,
        (err: Error) => err,
      );
    expect(failure?.name).toBe('CredentialsProviderError');
    expect(failure?.message).toMatch(/EC2 Metadata|AWS_EC2_METADATA_DISABLED|Could not load credentials/i);
  });

  it("a trainer gets the worker's static keys, or without them the chain's settings (never a secret of it)", () => {
    const contract = { mlflowTrackingUri: 'http://m', mlflowRunId: 'r', cudaVisibleDevices: '' };
    const worker = {
      PATH: '/bin',
      AWS_PROFILE: 'ml-prod',
      AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/token',
      AWS_ROLE_ARN: 'arn:aws:iam::1:role/ml',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SECRET_ACCESS_KEY: 'the-workers-own',
    };
    const chain = trainerEnv(worker, { ...contract, s3: { bucket: 'risk-ml' } });
    expect(chain).toMatchObject({
      AWS_PROFILE: 'ml-prod',
      AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/token',
      AWS_ROLE_ARN: 'arn:aws:iam::1:role/ml',
      AWS_EC2_METADATA_DISABLED: 'true',
      MLO_S3_BUCKET: 'risk-ml',
    });
    expect(chain.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(chain.MLO_S3_ENDPOINT).toBeUndefined();
    const keyed = trainerEnv(worker, {
      ...contract,
      s3: { bucket: 'b', endpoint: 'http://e', accessKeyId: 'k', secretAccessKey: 's', region: 'r' },
    });
    expect(keyed).toMatchObject({ AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', MLO_S3_ENDPOINT: 'http://e' });
    expect(keyed.AWS_PROFILE).toBeUndefined();
  });

  it("the trainers' boto3 client takes the same chain without static keys", () => {
    profileFiles();
    const python = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
    const script = [
      'import sys; sys.path.insert(0, "trainers")',
      'from common.s3 import S3',
      's3 = S3()',
      'c = s3._client',
      'creds = c._request_signer._credentials',
      'print(creds.access_key if creds else "none", c.meta.region_name, c.meta.endpoint_url)',
    ].join('\n');
    const run = (env: Record<string, string>) =>
      spawnSync(python, ['-c', script], {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      });
    const awsEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('AWS_'))) as Record<
      string,
      string
    >;
    const fromProfile = run(awsEnv);
    expect(fromProfile.stderr.toString()).toBe('');
    expect(fromProfile.stdout.toString().trim()).toBe('AKIAPROFILEKEY eu-west-1 https://s3.eu-west-1.amazonaws.com');
    const none = run({
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    });
    expect(none.stdout.toString().trim()).toMatch(/^none /);
    const keyed = run({
      AWS_ACCESS_KEY_ID: 'AKIASTATIC',
      AWS_SECRET_ACCESS_KEY: 's',
      MLO_S3_ENDPOINT: 'http://127.0.0.1:7070',
    });
    expect(keyed.stdout.toString().trim()).toBe('AKIASTATIC us-east-1 http://127.0.0.1:7070');
  });
});
