/**
 * Peak memory of one feature partition of a big day: the backfill dataset's events squashed into
 * ONE day (`--events`, default 5M; timestamps compressed, ids kept), written once by pyarrow as
 * Parquet (snappy, row groups of 128Ki rows) and as Arrow IPC; then, in a fresh child process per
 * format, the activity's read of the day (lib/data's readDayFiles: every file, only the columns the
 * feature set reads), the label index and computeFeaturePartition. Reported: each child's peak
 * RSS (getrusage maxrss), the Parquet file and Arrow file sizes; `ratio` = Arrow peak / Parquet
 * peak (> 1: Parquet's projected read needs less memory).
 *
 *   npm run bench -- partition-rss [--events 5000000] [--days 60]
 */
import { spawnSync, fork } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { eventColumns, labelColumns } from '../../lib/data/columns';
import { localAccess } from '../../lib/data/access';
import { readDayFiles } from '../../lib/data/read';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { buildLabelIndex, computeFeaturePartition } from '../../lib/features/partition';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { findModelSpec } from '../../lib/spec/model-spec';
import { flagsOrExitCode, type ParsedFlags } from './lib/args';
import { ensureDataset } from './lib/dataset';
import { runMain } from './lib/main';

const FLAGS = {
  events: { kind: 'int', default: 5_000_000, help: 'events of the dataset squashed into one day' },
  days: { kind: 'int', default: 60, help: 'days the dataset is generated over' },
  model: { kind: 'string', default: 'fraud-detector', help: 'model spec whose features are computed' },
} as const;

const DAY = '2026-01-01';
const SQUASH = String.raw`
import sys, glob, os
import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq, pyarrow.compute as pc
src, out, day_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
def squash(kind, col):
    t = pa.concat_tables([ipc.open_file(f).read_all() for f in sorted(glob.glob(f'{src}/raw/{kind}/day=*/*.arrow'))])
    ms = t.column(col).cast(pa.int64())
    lo = pc.min(ms).as_py(); hi = pc.max(ms).as_py()
    squashed = pc.add(pc.cast(pc.floor(pc.multiply(pc.cast(pc.subtract(ms, lo), pa.float64()), 86_399_999 / max(1, hi - lo))), pa.int64()), day_ms)
    t = t.set_column(t.schema.get_field_index(col), col, squashed.cast(pa.timestamp('ms', tz='UTC')))
    t = t.sort_by(col) if kind == 'payments' else t
    for fmt in ('parquet', 'arrow'):
        d = f'{out}/{fmt}/{kind}/day=2026-01-01'
        os.makedirs(d, exist_ok=True)
        if fmt == 'parquet':
            pq.write_table(t, f'{d}/part-00000.parquet', row_group_size=131072, compression='snappy')
        else:
            with ipc.new_file(f'{d}/part-00000.arrow', t.schema) as w:
                w.write_table(t)
squash('payments', 'ts')
squash('chargebacks', 'reported_at')
`;

type Flags = ParsedFlags<typeof FLAGS>;
type ChildResult = { rows: number; peakRssMb: number; seconds: number };

/** In the child: one partition computed from the squashed day, its peak RSS reported. */
async function child(dir: string, format: string, model: string): Promise<void> {
  const fs = featureSetFromSpec(findModelSpec(model).spec);
  const access = localAccess(path.join(dir, format));
  const t0 = performance.now();
  const file = (kind: string) => {
    const key = `${kind}/day=${DAY}/part-00000.${format}`;
    return [{ key, etag: '', size: statSync(path.join(dir, format, key)).size }];
  };
  const ev = await readDayFiles(access, file('payments'), { field: 'data.events', columns: eventColumns(fs) });
  const lab = await readDayFiles(access, file('chargebacks'), { field: 'data.labels', columns: labelColumns(fs) });
  const cutoff = Date.parse(`${DAY}T00:00:00Z`) + 2 * 86_400_000;
  const labels = buildLabelIndex(
    [{ day: DAY, where: 'labels', table: lab!.table }],
    fs.labels.key,
    fs.labels.timestamp,
    cutoff,
  );
  const out = computeFeaturePartition(fs, { day: DAY, where: 'events', table: ev!.table }, [], labels, cutoff);
  const r: ChildResult = {
    rows: out.stats.rows,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    seconds: (performance.now() - t0) / 1000,
  };
  process.send?.(r);
}

async function measure(dir: string, format: string, model: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', dir, format, model], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: ChildResult | undefined;
    c.on('message', (m: ChildResult) => (got = m));
    c.on('exit', (code) => (got ? resolve(got) : reject(new Error(`${format} child exited ${code}`))));
  });
}

async function main(): Promise<number> {
  if (process.argv[2] === '--child') {
    await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
    return 0;
  }
  const flags = flagsOrExitCode('partition-rss', FLAGS, process.argv.slice(2), { help: ['--help', '-h'] });
  if (typeof flags === 'number') return flags;
  return run(flags);
}

async function run(flags: Flags): Promise<number> {
  const log = (s: string) => console.log(s);
  const ds = await ensureDataset({ events: flags.events, days: flags.days, start: DAY, seed: 42 }, log);
  const out = path.join(ds.dir, 'one-day');
  if (!existsSync(path.join(out, 'arrow', 'chargebacks'))) {
    log(`squashing ${flags.events} events into ${DAY} (pyarrow)`);
    const r = spawnSync(
      path.join(PROJECT_ROOT, '.venv', 'bin', 'python'),
      ['-c', SQUASH, ds.dir, out, String(Date.parse(`${DAY}T00:00:00Z`))],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`squashing failed: ${r.stderr}`);
  }
  const size = (f: string) => statSync(path.join(out, f, 'payments', `day=${DAY}`, `part-00000.${f}`)).size;
  const pq = await measure(out, 'parquet', flags.model);
  log(
    `parquet: ${pq.rows} rows, peak RSS ${pq.peakRssMb} MB, ${pq.seconds.toFixed(1)} s (file ${(size('parquet') / 2 ** 20).toFixed(0)} MiB)`,
  );
  const ar = await measure(out, 'arrow', flags.model);
  log(
    `arrow:   ${ar.rows} rows, peak RSS ${ar.peakRssMb} MB, ${ar.seconds.toFixed(1)} s (file ${(size('arrow') / 2 ** 20).toFixed(0)} MiB)`,
  );
  console.log(
    JSON.stringify({
      bench: 'partition-rss',
      events: pq.rows,
      parquet_peak_rss_mb: pq.peakRssMb,
      arrow_peak_rss_mb: ar.peakRssMb,
      ratio: Number((ar.peakRssMb / pq.peakRssMb).toFixed(3)),
      parquet_file_mb: Math.round(size('parquet') / 2 ** 20),
      arrow_file_mb: Math.round(size('arrow') / 2 ** 20),
      parquet_seconds: Number(pq.seconds.toFixed(2)),
      arrow_seconds: Number(ar.seconds.toFixed(2)),
    }),
  );
  return 0;
}

void runMain(main);
