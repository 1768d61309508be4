/**
 * Scoring: mlo's Arrow → tensor → onnxruntime-node path against a bare session.run and Python onnxruntime,
 * same GBDT model and rows.
 *
 *   npm run bench -- scoring [--rows 1048576] [--batch 65536] [--rounds 300] [--reps 3]
 *   npx tsx scripts/bench/scoring.ts [same flags]
 *
 * 1. Data and model (Python, cached in `.bench/scoring/<params>/` while the parameters match):
 *    `--rows` rows of the fixture snapshot's 8 Float64 features (trainers/tools/make_fixture_snapshot.py's
 *    generator: same distributions and label model, ~3 % NaN in one column), written as one Arrow
 *    IPC file as a feature partition is; a LightGBM model trained on the first 50,000 rows with the
 *    GBDT trainer's parameters (trainers/gbdt/train.py: `lgb_params`, defaults, `--rounds` rounds)
 *    and exported by the trainer's own `export_onnx` (onnxmltools, zipmap off, canonical bytes).
 * 2. mlo (timed): from the decoded Arrow table in memory (decoding the file is not timed, on
 *    either side) — `featureColumns` (zero-copy Float64 views), then `scoreRows`: per batch of
 *    `--batch` rows, `fillTensor` into one reused Float32Array (row-major, NaN/∞ checks) and
 *    `ScoringModel.run` (session.run + the probability column copied out and range-checked).
 * 3. bare onnxruntime-node (timed): session.run over subarrays of ONE prepared Float32Array
 *    holding every row, same batches, outputs not read: the limit for any path through
 *    onnxruntime-node.
 * 4. Python onnxruntime (timed, in a child process): from the pyarrow table in memory, per batch
 *    `np.column_stack` of the Float64 columns → float32 → `sess.run` → column 1 as float64 —
 *    the same job as mlo's path. Its bare `sess.run` over a prepared float32 matrix is measured
 *    too and reported as `python_bare_rows_per_s`.
 * Every session is single-threaded (intra_op_num_threads = inter_op_num_threads = 1, sequential).
 * Each side runs one warm-up pass, then `--reps` timed passes, the four sides interleaved in
 * every repetition (Python waits while Node runs and the other way round); the best time of
 * each side counts, as the machine is shared and noise only ever adds time.
 * Check: mlo's scores equal the bare run's and Python's (max |Δ| printed; > 1e-6 fails, exit 1).
 *
 * Last line: one JSON object with the three rates and both ratios (mlo / bare ≥ 0.95 and
 * mlo / Python ≥ 1.0 are the targets).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env as ortEnv, InferenceSession, Tensor } from 'onnxruntime-node';
import { PROJECT_ROOT } from '../../lib/infra/config';
import type { Table } from 'apache-arrow';
import { readIpcTable } from '../../lib/features/arrow-io';
import { ScoringModel } from '../../lib/eval/onnx-model';
import { scoreRows } from '../../lib/eval/score';
import { featureColumns, fillTensor, newFillStats } from '../../lib/eval/tensor';
import { flagsOrExitCode, type ParsedFlags } from './lib/args';
import { runMain } from './lib/main';
import { ensureVenv } from '../../lib/stack/tools';

const FLAGS = {
  rows: { kind: 'int', default: 1_048_576, help: 'feature rows to score (at least 1M for the reported figure)' },
  batch: { kind: 'int', default: 65_536, help: 'rows per session.run' },
  rounds: { kind: 'int', default: 300, help: 'boosting rounds of the GBDT model' },
  reps: { kind: 'int', default: 3, help: 'timed repetitions of each side (best counts)' },
  seed: { kind: 'int', default: 7, help: 'data seed' },
} as const;

const PYTHON = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');

/** Writes the data and the model (argv: outdir rows rounds seed root). */
const PREPARE_PY = String.raw`
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[5]) / "trainers"))
sys.path.insert(0, str(Path(sys.argv[5]) / "trainers" / "tools"))
import numpy as np, pyarrow as pa, pyarrow.ipc as ipc, lightgbm as lgb
from gbdt.train import PARAMS, export_onnx, lgb_params
from common import resolve_params
from make_fixture_snapshot import FEATURES, draw_features
out, rows, rounds, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng([seed, 0])
n = rows
country_web = rng.random(n) < 0.5
cols, y, sum_null = draw_features(rng, n, country_web)
cols[FEATURES.index("card_amount_sum_24h")][sum_null] = np.nan
names = FEATURES
table = pa.table({k: pa.array(v, pa.float64()) for k, v in zip(names, cols)})
with ipc.new_file(str(out / "data.arrow"), table.schema) as w:
    w.write_table(table)
p = resolve_params({"rounds": rounds, "num_threads": 2}, PARAMS, "gbdt")
X = np.column_stack(cols)[:50_000].astype(np.float32)
b = lgb.train(lgb_params(p, 42), lgb.Dataset(X, y[:50_000], free_raw_data=False), num_boost_round=rounds)
(out / "model.onnx").write_bytes(export_onnx(b, len(names)))
(out / "params.json").write_text(json.dumps({"rows": rows, "rounds": rounds, "seed": seed, "trees": b.num_trees()}))
`;

/**
 * Python onnxruntime as a child process that times one pass per command read from stdin
 * ("job", "bare", "save", "quit") and answers each with one JSON line (argv: dir batch).
 */
const PYTHON_SERVER_PY = String.raw`
import json, sys, time
import numpy as np, onnxruntime as ort, pyarrow as pa, pyarrow.ipc as ipc
d, batch = sys.argv[1], int(sys.argv[2])
table = ipc.open_file(pa.memory_map(d + "/data.arrow")).read_all()
cols = [table.column(i).combine_chunks() for i in range(table.num_columns)]
n = table.num_rows
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL; so.log_severity_level = 3
sess = ort.InferenceSession(d + "/model.onnx", so, providers=["CPUExecutionProvider"])
scores = np.empty(n, dtype=np.float64)
def job():
    for s in range(0, n, batch):
        e = min(n, s + batch)
        X = np.column_stack([c.slice(s, e - s).to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32)
        scores[s:e] = sess.run(["probability"], {"features": X})[0]
Xall = np.ascontiguousarray(np.column_stack([c.to_numpy(zero_copy_only=False) for c in cols]).astype(np.float32))
def bare():
    for s in range(0, n, batch):
        sess.run(["probability"], {"features": Xall[s:s + batch]})
print(json.dumps({"ready": True, "ort": ort.__version__, "rows": n}), flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "quit":
        break
    if cmd == "save":
        np.save(d + "/python-scores.npy", scores)
        print(json.dumps({"saved": True}), flush=True)
        continue
    t = time.perf_counter()
    job() if cmd == "job" else bare()
    print(json.dumps({"s": time.perf_counter() - t}), flush=True)
`;

/** The Python timing process: send a command, get its JSON answer. */
function pythonServer(
  dir: string,
  batch: number,
): {
  ready: Promise<Record<string, unknown>>;
  ask: (cmd: string) => Promise<Record<string, unknown>>;
  close: () => void;
} {
  const child = spawn(PYTHON, ['-c', PYTHON_SERVER_PY, dir, String(batch)], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: ((line: string) => void)[] = [];
  let buf = '';
  let exited: Error | undefined;
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiting.shift()?.(line);
    }
  });
  const failAll = (err: Error) => {
    exited = err;
    for (const w of waiting.splice(0)) w(JSON.stringify({ error: err.message }));
  };
  child.on('error', failAll);
  child.on('close', (code) => failAll(new Error(`python exited ${code}`)));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (exited) return reject(exited);
      waiting.push((line) => {
        const v = JSON.parse(line) as Record<string, unknown>;
        if (typeof v.error === 'string') reject(new Error(v.error));
        else resolve(v);
      });
    });
  const ready = next();
  return {
    ready,
    ask: async (cmd: string) => {
      await ready;
      const answer = next();
      child.stdin.write(`${cmd}\n`);
      return answer;
    },
    close: () => {
      child.stdin.end('quit\n');
    },
  };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${path.basename(cmd)} ${args[0] === '-c' ? '-c …' : args.join(' ')} exited ${code}`)),
    );
  });
}

const best = (xs: number[]) => Math.min(...xs);
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

type Flags = ParsedFlags<typeof FLAGS>;
type PythonServer = ReturnType<typeof pythonServer>;

/** The data and model directory of these parameters; prepared (in Python) unless cached there. */
async function prepare(flags: Flags): Promise<string> {
  const dir = path.join(
    PROJECT_ROOT,
    '.bench',
    'scoring',
    `rows=${flags.rows}-rounds=${flags.rounds}-seed=${flags.seed}`,
  );
  mkdirSync(dir, { recursive: true });
  const wanted = { rows: flags.rows, rounds: flags.rounds, seed: flags.seed };
  const paramsFile = path.join(dir, 'params.json');
  const cached =
    existsSync(paramsFile) && existsSync(path.join(dir, 'data.arrow')) && existsSync(path.join(dir, 'model.onnx'));
  const have = cached ? (JSON.parse(readFileSync(paramsFile, 'utf8')) as Record<string, number>) : undefined;
  if (!have || have.rows !== wanted.rows || have.rounds !== wanted.rounds || have.seed !== wanted.seed) {
    console.log(
      `preparing ${fmt(flags.rows)} rows and a ${flags.rounds}-round GBDT model ` +
        `in ${path.relative(PROJECT_ROOT, dir)}/ …`,
    );
    const script = path.join(dir, 'prepare.py');
    writeFileSync(script, PREPARE_PY);
    await run(PYTHON, [script, dir, String(flags.rows), String(flags.rounds), String(flags.seed), PROJECT_ROOT]);
  }
  return dir;
}

/** The two Node sides: mlo's path and a bare session over one prepared tensor; each keeps its last scores. */
class NodeSides {
  mloScores: Float64Array = new Float64Array(0);
  bareScores: Float64Array = new Float64Array(0);
  private readonly prepared: Float32Array;
  private readonly n: number;

  constructor(
    private readonly table: Table,
    private readonly features: string[],
    private readonly model: ScoringModel,
    private readonly bare: InferenceSession,
    private readonly batch: number,
  ) {
    this.n = table.numRows;
    const F = features.length;
    this.prepared = new Float32Array(this.n * F);
    fillTensor(
      this.prepared,
      featureColumns(table, features, 'data.arrow'),
      null,
      0,
      this.n,
      { allowNaN: true },
      newFillStats(F),
      'data.arrow',
    );
  }

  /** mlo: feature columns, then scoreRows (fill the tensor, run, copy the probabilities out). */
  async mloPass(): Promise<number> {
    const t0 = process.hrtime.bigint();
    const cols = featureColumns(this.table, this.features, 'data.arrow');
    const [s] = await scoreRows([this.model], cols, null, { batchSize: this.batch, where: 'data.arrow' });
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    this.mloScores = s!;
    return sec;
  }

  /** session.run over subarrays of the prepared tensor; `keep` copies the scores out (for the check). */
  async barePass(keep = false): Promise<number> {
    const { n, batch, prepared } = this;
    const F = this.features.length;
    const t0 = process.hrtime.bigint();
    for (let s = 0; s < n; s += batch) {
      const len = Math.min(batch, n - s);
      const res = await this.bare.run(
        { features: new Tensor('float32', prepared.subarray(s * F, (s + len) * F), [len, F]) },
        ['probability'],
      );
      if (keep) {
        const p = res.probability!.data as Float32Array;
        for (let i = 0; i < len; i++) this.bareScores[s + i] = p[i]!;
      }
    }
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }
}

type Times = { mlo: number[]; bare: number[]; python: number[]; pythonBare: number[] };

/**
 * A warm-up of every side (and the check's reference scores), then the timed passes,
 * interleaved so that a noisy neighbour slows every side alike.
 */
async function timePasses(sides: NodeSides, py: PythonServer, n: number, reps: number): Promise<Times> {
  const pySeconds = async (cmd: 'job' | 'bare') => (await py.ask(cmd)).s as number;
  sides.bareScores = new Float64Array(n);
  await sides.barePass(true);
  await sides.mloPass();
  await pySeconds('job');
  await pySeconds('bare');
  const t: Times = { mlo: [], bare: [], python: [], pythonBare: [] };
  for (let r = 0; r < reps; r++) {
    t.mlo.push(await sides.mloPass());
    t.bare.push(await sides.barePass());
    t.python.push(await pySeconds('job'));
    t.pythonBare.push(await pySeconds('bare'));
    console.log(
      `  rep ${r + 1}: mlo ${t.mlo[r]!.toFixed(3)} s, bare ${t.bare[r]!.toFixed(3)} s, ` +
        `python ${t.python[r]!.toFixed(3)} s, python bare ${t.pythonBare[r]!.toFixed(3)} s`,
    );
  }
  return t;
}

/** The largest |mlo − other| over every row. */
function maxAbsDiff(a: Float64Array, b: Float64Array, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** The rates, ratios and score differences as text, and the summary object of the last line. */
function report(
  t: Times,
  d: { bare: number; python: number },
  info: { n: number; features: number; trees: number; batch: number; reps: number; pythonOrt: unknown },
): Record<string, unknown> {
  const { n } = info;
  const mlo = n / best(t.mlo);
  const bareRate = n / best(t.bare);
  const python = n / best(t.python);
  const pythonBare = n / best(t.pythonBare);
  console.log(`mlo (Arrow → tensor → onnxruntime-node ${ortEnv.versions.node ?? ''}) ${fmt(mlo)} rows/s`);
  console.log(`bare onnxruntime-node session.run      ${fmt(bareRate)} rows/s`);
  console.log(
    `python onnxruntime ${String(info.pythonOrt)} (Arrow → numpy → run) ${fmt(python)} rows/s ` +
      `(bare sess.run ${fmt(pythonBare)} rows/s)`,
  );
  console.log(
    `mlo / bare ${(mlo / bareRate).toFixed(3)} (target ≥ 0.95), mlo / python ${(mlo / python).toFixed(3)} ` +
      `(target ≥ 1.0), max |Δ| vs bare ${d.bare.toExponential(2)}, vs python ${d.python.toExponential(2)}`,
  );
  return {
    bench: 'scoring',
    rows: n,
    features: info.features,
    trees: info.trees,
    batch: info.batch,
    reps: info.reps,
    mlo_rows_per_s: Math.round(mlo),
    bare_rows_per_s: Math.round(bareRate),
    python_rows_per_s: Math.round(python),
    python_bare_rows_per_s: Math.round(pythonBare),
    mlo_vs_bare: Number((mlo / bareRate).toFixed(4)),
    mlo_vs_python: Number((mlo / python).toFixed(4)),
    mlo_vs_python_bare: Number((mlo / pythonBare).toFixed(4)),
    max_abs_diff_vs_python: d.python,
    onnxruntime_node: ortEnv.versions.node ?? 'unknown',
    onnxruntime_python: info.pythonOrt,
  };
}

/** mlo's scoring model and a bare session of the same bytes, both single-threaded. */
async function openSessions(
  dir: string,
  modelBytes: Buffer,
  features: string[],
): Promise<{ model: ScoringModel; bare: InferenceSession }> {
  const model = await ScoringModel.load(modelBytes, {
    role: 'candidate',
    version: 'bench',
    uri: path.join(dir, 'model.onnx'),
    features,
    inputColumnsTag: JSON.stringify(features),
    probabilityTag: 'probability[0]',
    intraOpNumThreads: 1,
  });
  const bare = await InferenceSession.create(modelBytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  return { model, bare };
}

async function main(): Promise<number> {
  const flags = flagsOrExitCode('scoring', FLAGS, process.argv.slice(2));
  if (typeof flags === 'number') return flags;
  // The Python side runs in the project's venv: provisioned here as `npm run demo` does (a no-op when current).
  await ensureVenv((line) => console.log(line));
  const dir = await prepare(flags);
  const params = JSON.parse(readFileSync(path.join(dir, 'params.json'), 'utf8')) as { trees: number };
  const table = readIpcTable(readFileSync(path.join(dir, 'data.arrow')), 'data.arrow');
  const modelBytes = readFileSync(path.join(dir, 'model.onnx'));
  // The data file holds the fixture snapshot's feature columns, in their order, and nothing else.
  const features = table.schema.fields.map((f) => f.name);
  const n = table.numRows;
  const batch = flags.batch;
  console.log(
    `${fmt(n)} rows × ${features.length} features, GBDT ${params.trees} trees, batches of ${fmt(batch)}, ` +
      `${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
  );

  const { model, bare } = await openSessions(dir, modelBytes, features);
  const sides = new NodeSides(table, features, model, bare, batch);
  console.log('starting python onnxruntime …');
  const py = pythonServer(dir, batch);
  const pyInfo = await py.ready;
  const times = await timePasses(sides, py, n, flags.reps);
  await model.release();
  await bare.release();
  await py.ask('save');
  py.close();
  const pyScores = readNpyFloat64(path.join(dir, 'python-scores.npy'));

  const diffs = {
    bare: maxAbsDiff(sides.mloScores, sides.bareScores, n),
    python: maxAbsDiff(sides.mloScores, pyScores, n),
  };
  const summary = report(times, diffs, {
    n,
    features: features.length,
    trees: params.trees,
    batch,
    reps: flags.reps,
    pythonOrt: pyInfo.ort,
  });
  const ok = diffs.bare <= 1e-6 && diffs.python <= 1e-6;
  if (!ok) console.error('scores differ by more than 1e-6: the comparison is not of the same computation');
  console.log(JSON.stringify(summary));
  return ok ? 0 : 1;
}

/** Reads a 1-D little-endian float64 .npy file. */
function readNpyFloat64(file: string): Float64Array {
  const buf = readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  if (!header.includes("'<f8'")) throw new Error(`${file}: expected little-endian float64, header ${header}`);
  const start = 10 + headerLen;
  const out = new Float64Array((buf.length - start) / 8);
  for (let i = 0; i < out.length; i++) out[i] = buf.readDoubleLE(start + i * 8);
  return out;
}

void runMain(main);
