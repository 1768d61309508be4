/**
 * Reading one Parquet day file from S3 with the backfill's projection, two ways: ranged GETs through
 * parquet-wasm (footer + needed column chunks) vs one whole-object GET read from memory.
 *
 *   MLO_STACK_DIR=… npx tsx scripts/bench/lib/s3-read-probe.ts <local parquet file> [reps]
 *
 * Its figures set lib/data/access.ts's WHOLE_OBJECT_MAX_BYTES.
 */
import { readFileSync } from 'node:fs';
import { s3Access } from '../../../lib/data/access';
import { eventColumns } from '../../../lib/data/columns';
import { readParquet } from '../../../lib/data/parquet';
import { featureSetFromSpec } from '../../../lib/features/featureset';
import { loadConfig } from '../../../lib/infra/config';
import { createS3Client, getObjectBytes, headObject, putObject } from '../../../lib/infra/s3';
import { findModelSpec } from '../../../lib/spec/model-spec';

async function main(): Promise<void> {
  const [file, repsArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: s3-read-probe.ts <parquet file> [reps]');
  const reps = Number(repsArg ?? 5);
  const cfg = loadConfig();
  const s3 = createS3Client(cfg.s3);
  const key = `tmp/s3-read-probe/${process.pid}.parquet`;
  const bytes = readFileSync(file);
  await putObject(s3, cfg.s3.bucket, key, bytes, { contentType: 'application/vnd.apache.parquet' });
  const head = (await headObject(s3, cfg.s3.bucket, key))!;
  const columns = eventColumns(featureSetFromSpec(findModelSpec('fraud-detector').spec));
  const f = { key, etag: head.etag, size: head.size };
  const ranged: number[] = [];
  const whole: number[] = [];
  let requests = 0;
  let fetched = 0;
  for (let r = 0; r < reps; r++) {
    const access = s3Access(s3, cfg.s3.bucket, undefined, undefined, 0); // ranged GETs always
    let t0 = performance.now();
    await readParquet(await access.blob(f), key, { columns });
    ranged.push(performance.now() - t0);
    requests = access.stats.requests;
    fetched = access.stats.bytes;
    t0 = performance.now();
    const b = await getObjectBytes(s3, cfg.s3.bucket, key);
    await readParquet(new Blob([b]), key, { columns });
    whole.push(performance.now() - t0);
  }
  const best = (xs: number[]) => Math.min(...xs).toFixed(1);
  console.log(
    JSON.stringify({
      file_bytes: bytes.byteLength,
      columns: columns.length,
      ranged_ms: Number(best(ranged)),
      ranged_requests: requests,
      ranged_bytes: fetched,
      whole_ms: Number(best(whole)),
    }),
  );
  s3.destroy();
}

void main();
