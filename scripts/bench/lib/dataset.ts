/**
 * The benchmark's raw dataset: generated once with the project's own generator into
 * `.bench/data/<params>/` and reused while its manifest matches (the generator is
 * deterministic, so the same parameters give the same bytes).
 */
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
