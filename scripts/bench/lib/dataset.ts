/**
 * The benchmark's raw dataset: generated once with the project's own generator into
 * `.bench/data/<params>/` and reused while its manifest matches (the generator is
 * deterministic, so the same parameters give the same bytes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateDataset, LocalDirSink, type DatasetManifest } from '../../../lib/datagen';
import { PROJECT_ROOT } from '../../../lib/infra/config';

type DatasetOptions = { events: number; days: number; start: string; seed: number };

export const BENCH_ROOT = path.join(PROJECT_ROOT, '.bench');
const PREFIX = 'raw/';

function datasetDir(o: DatasetOptions): string {
  return path.join(BENCH_ROOT, 'data', `events=${o.events}-days=${o.days}-start=${o.start}-seed=${o.seed}`);
}

/** Generates the dataset unless a matching one is there; returns its directory and manifest. */
export async function ensureDataset(
  o: DatasetOptions,
  log: (s: string) => void,
): Promise<{ dir: string; manifest: DatasetManifest; reused: boolean }> {
  const dir = datasetDir(o);
  const sink = new LocalDirSink(dir);
  let lastLog = 0;
  const r = await generateDataset(
    { events: o.events, days: o.days, start: o.start, seed: o.seed, prefix: PREFIX },
    sink,
    (p) => {
      if (p.kind === 'payments' && (Date.now() - lastLog > 5000 || p.dayIndex === p.days - 1)) {
        lastLog = Date.now();
        log(`  generating ${p.day} (${p.dayIndex + 1}/${p.days})`);
      }
    },
  );
  return { dir, manifest: r.manifest, reused: r.reused };
}

export async function readBytes(dir: string, key: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(new LocalDirSink(dir).pathOf(key)));
}

/**
 * A Parquet copy of the dataset's Arrow IPC files under `<dir>/parquet/` (pyarrow, snappy, row
 * groups of `rowGroup` rows, strings dictionary-encoded as Spark and pyarrow write them), made once;
 * returns each Arrow key's Parquet key.
 */
export async function ensureParquetCopy(
  dir: string,
  keys: string[],
  rowGroup: number,
  log: (s: string) => void,
): Promise<Map<string, string>> {
  const out = new Map(keys.map((k) => [k, `parquet/rg=${rowGroup}/${k.replace(/\.arrow$/, '.parquet')}`]));
  const todo = keys.filter((k) => !existsSync(path.join(dir, ...out.get(k)!.split('/'))));
  if (todo.length === 0) return out;
  log(`  writing ${todo.length} Parquet files (pyarrow, row groups of ${rowGroup} rows)`);
  const script = String.raw`
import sys, os, pyarrow.ipc as ipc, pyarrow.parquet as pq
root, rg = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    src, dst = line.rstrip('\n').split('\t')
    t = ipc.open_file(os.path.join(root, src)).read_all()
    os.makedirs(os.path.dirname(os.path.join(root, dst)), exist_ok=True)
    tmp = os.path.join(root, dst) + '.tmp'
    pq.write_table(t, tmp, row_group_size=rg, compression='snappy')
    os.replace(tmp, os.path.join(root, dst))
`;
  const r = spawnSync(path.join(PROJECT_ROOT, '.venv', 'bin', 'python'), ['-c', script, dir, String(rowGroup)], {
    input: todo.map((k) => `${k}\t${out.get(k)!}`).join('\n'),
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`writing the Parquet copy failed: ${r.stderr || r.error?.message}`);
  return out;
}
