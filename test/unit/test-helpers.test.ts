import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURE_FEATURES, PY_S3_READER, pythonEnv, runPython } from '../helpers/python';
import { deleteUnder, removeTestData } from '../helpers/s3';

const s3Config = {
  s3: {
    endpoint: 'http://127.0.0.1:7070',
    region: 'us-east-1',
    bucket: 'b',
    accessKeyId: 'id',
    secretAccessKey: 'secret',
    forcePathStyle: true,
  },
};

describe('test/helpers/python', () => {
  it('points a child at the configured S3; extra variables come last', () => {
    const env = pythonEnv(s3Config, { CUDA_VISIBLE_DEVICES: '', AWS_DEFAULT_REGION: 'eu-west-1' });
    expect(env).toMatchObject({
      MLO_S3_ENDPOINT: 'http://127.0.0.1:7070',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_DEFAULT_REGION: 'eu-west-1',
      CUDA_VISIBLE_DEVICES: '',
    });
    expect(env.PATH).toBe(process.env.PATH);
  });

  it('names the fixture snapshot features as make_fixture_snapshot.py writes them', () => {
    const py = fs.readFileSync('trainers/tools/make_fixture_snapshot.py', 'utf8');
    const listed = /^FEATURES = \[([^\]]*)\]/m.exec(py)?.[1] ?? '';
    expect([...listed.matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1])).toEqual(FIXTURE_FEATURES);
  });

  it('runs the venv Python from the project root, collecting both streams', async () => {
    const script = [
      ...PY_S3_READER,
      'import os; print(os.getcwd()); print("err", file=sys.stderr); print(callable(get)); sys.exit(3)',
    ].join('\n');
    const r = await runPython(['-c', script, 'http://127.0.0.1:1'], pythonEnv(s3Config));
    expect(r).toMatchObject({ code: 3, stdout: `${process.cwd()}\nTrue\n`, stderr: 'err\n' });
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });
});

describe('test/helpers/s3 deleteUnder', () => {
  it('lists the prefix and deletes its keys in batches of 500', async () => {
    const sent: unknown[] = [];
    const keys = Array.from({ length: 1203 }, (_, i) => ({ Key: `p/${i}` }));
    const s3 = {
      send: (cmd: unknown) => {
        sent.push(cmd);
        return Promise.resolve(cmd instanceof ListObjectsV2Command ? { Contents: keys, IsTruncated: false } : {});
      },
    } as unknown as S3Client;
    await deleteUnder(s3, 'b', 'p/');
    const deletes = sent.filter((c): c is DeleteObjectsCommand => c instanceof DeleteObjectsCommand);
    expect(deletes.map((d) => d.input.Delete?.Objects?.length)).toEqual([500, 500, 203]);
    expect(deletes.every((d) => d.input.Bucket === 'b')).toBe(true);
    expect(deletes.flatMap((d) => d.input.Delete?.Objects ?? [])).toEqual(keys);
  });
});

describe('test/helpers/s3 removeTestData', () => {
  const listing = (sent: unknown[], fail: boolean) =>
    ({
      send: (cmd: unknown) => {
        sent.push(cmd);
        if (fail) return Promise.reject(new Error('S3 is down'));
        return Promise.resolve({ Contents: [{ Key: 'p/a' }], IsTruncated: false });
      },
      destroy: () => sent.push('destroyed'),
    }) as unknown as S3Client;

  it('removes the temporary directory, the objects under the prefix, then the client', async () => {
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-helpers-'));
    const sent: unknown[] = [];
    await removeTestData({ tmpDir, s3: listing(sent, false), bucket: 'b', prefix: 'p/' });
    expect(fs.existsSync(tmpDir)).toBe(false);
    expect(sent.map((c) => (typeof c === 'string' ? c : c?.constructor.name))).toEqual([
      'ListObjectsV2Command',
      'DeleteObjectsCommand',
      'destroyed',
    ]);
  });

  it('destroys the client when the deletion fails, and needs no client', async () => {
    const sent: unknown[] = [];
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-helpers-'));
    await expect(removeTestData({ tmpDir, s3: listing(sent, true), bucket: 'b', prefix: 'p/' })).rejects.toThrow(
      'S3 is down',
    );
    expect(sent.at(-1)).toBe('destroyed');
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-helpers-'));
    await removeTestData({ tmpDir: other, s3: undefined, bucket: 'b', prefix: 'p/' });
    expect(fs.existsSync(other)).toBe(false);
  });
});
