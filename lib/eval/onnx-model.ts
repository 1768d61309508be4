/**
 * One ONNX model loaded into onnxruntime-node for scoring, with its contract checked once at
 * load: one float32 input [N, F] whose columns (the `mlo.input_columns` tag) are the snapshot's
 * feature columns in order, and a float output holding the positive-class probability: the
 * trainers' one output `probability` [N], or, in versions registered before it, column 1 of
 * `probabilities` [N, 2] (the `mlo.probability_output` tag says which).
 * Anything else is bad input naming the model and what differs.
 */
import { createHash } from 'node:crypto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { BadInputError } from '../core/errors';
import { VersionTag } from '../registry/tags';
import { missingValueHandling, readOnnxGraph, type OnnxGraphInfo } from './onnx-graph';

export type ProbabilityOutput = { name: string; index: number };

export type ModelDescription = {
  /** "candidate v7", "champion v6": how messages name the model. */
  label: string;
  role: 'candidate' | 'champion';
  version: string;
  uri: string;
  sha256: string;
  input: { name: string; shape: (number | string)[] };
  probability: ProbabilityOutput;
  handlesMissing: boolean;
  missingReason: string;
  producer: string;
  ops: string[];
};

export type LoadOptions = {
  role: 'candidate' | 'champion';
  version: string;
  uri: string;
  /** The snapshot's feature columns, in order. */
  features: string[];
  /** The model version's `mlo.input_columns` tag (a JSON array of column names). */
  inputColumnsTag: string | undefined;
  /** The model version's `mlo.probability_output` tag, `<output>[<index>]`. */
  probabilityTag: string | undefined;
  /**
   * Threads of the session's operators (default 1: deterministic sums, and the CPU pool
   * parallelizes across activities).
   */
  intraOpNumThreads?: number;
};

/**
 * Parses `probabilities[1]` (or a bare output name, whose index then depends on the output's
 * shape: column 1 of [N, 2], the value of [N]); undefined when the text is not of that form.
 */
export function parseProbabilityTag(tag: string): { name: string; index: number | undefined } | undefined {
  const m = /^\s*([^[\]\s]+)\s*(?:\[\s*(\d+)\s*\])?\s*$/.exec(tag);
  if (!m?.[1]) return undefined;
  return { name: m[1], index: m[2] === undefined ? undefined : Number(m[2]) };
}

/** Describes how two ordered column lists differ, for errors. */
export function describeColumnDiff(model: string[], snapshot: string[]): string {
  const parts: string[] = [];
  const inSnap = new Set(snapshot);
  const inModel = new Set(model);
  const missing = snapshot.filter((c) => !inModel.has(c));
  const extra = model.filter((c) => !inSnap.has(c));
  if (model.length !== snapshot.length)
    parts.push(`the model takes ${model.length} columns, the snapshot has ${snapshot.length} features`);
  if (missing.length > 0) parts.push(`snapshot features the model does not take: ${missing.join(', ')}`);
  if (extra.length > 0) parts.push(`model columns not in the snapshot: ${extra.join(', ')}`);
  const moved: string[] = [];
  for (let i = 0; i < Math.min(model.length, snapshot.length); i++) {
    if (model[i] !== snapshot[i] && inSnap.has(model[i]!) && inModel.has(snapshot[i]!))
      moved.push(`position ${i}: model "${model[i]}", snapshot "${snapshot[i]}"`);
  }
  if (moved.length > 0) {
    const more = moved.length > 5 ? `; … ${moved.length - 5} more` : '';
    parts.push(`columns in another order: ${moved.slice(0, 5).join('; ')}${more}`);
  }
  return parts.join('; ');
}

export class ScoringModel {
  private constructor(
    readonly session: InferenceSession,
    readonly description: ModelDescription,
    readonly features: number,
    /** Columns of the probability output per row (2 for [N, 2], 1 for [N] or [N, 1]). */
    private probColumns: number | undefined,
  ) {}

  get label(): string {
    return this.description.label;
  }

  static async load(bytes: Uint8Array, o: LoadOptions): Promise<ScoringModel> {
    const label = `${o.role} v${o.version}`;
    const where = `${label} (${o.uri})`;
    let graph: OnnxGraphInfo;
    try {
      graph = readOnnxGraph(bytes);
    } catch (err) {
      throw new BadInputError(`${where} is not an ONNX model: ${(err as Error).message}`);
    }
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(bytes, {
        intraOpNumThreads: o.intraOpNumThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (err) {
      throw new BadInputError(`${where} cannot be loaded by onnxruntime ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      const m = ScoringModel.check(session, graph, bytes, o, label, where);
      return m;
    } catch (err) {
      await session.release().catch(() => undefined);
      throw err;
    }
  }

  private static check(
    session: InferenceSession,
    graph: OnnxGraphInfo,
    bytes: Uint8Array,
    o: LoadOptions,
    label: string,
    where: string,
  ): ScoringModel {
    const F = o.features.length;
    const input = checkInput(session.inputMetadata, o.features);
    const columnProblems = checkInputColumns(o.inputColumnsTag, o.features);
    const output = checkProbabilityOutput(session.outputMetadata, o.probabilityTag);
    const problems = [...input.problems, ...columnProblems, ...output.problems];
    const prob = output.probability;
    if (problems.length > 0 || !prob || prob.index === undefined || !input.meta) {
      throw new BadInputError(
        `${where} does not fit the snapshot or mlo's model contract:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
    const missing = missingValueHandling(graph, input.meta.name);
    const description: ModelDescription = {
      label,
      role: o.role,
      version: o.version,
      uri: o.uri,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      input: { name: input.meta.name, shape: input.shape },
      probability: { name: prob.name, index: prob.index },
      handlesMissing: missing.handles,
      missingReason: missing.reason,
      producer: graph.producer,
      ops: [...new Set(graph.nodes.map((n) => n.opType))],
    };
    return new ScoringModel(session, description, F, output.columns);
  }

  /**
   * Scores `n` rows of `input` (row-major [n, F]) and writes each row's probability to
   * `out[at + i]`. Returns the wall time of `session.run` in milliseconds. A probability that
   * is not a number in [0, 1] is bad input naming the row (`describeRow(i)`, i in 0..n-1).
   */
  async run(
    input: Float32Array,
    n: number,
    out: Float64Array,
    at: number,
    describeRow: (i: number) => string,
  ): Promise<number> {
    const d = this.description;
    const feeds = {
      [d.input.name]: new Tensor(
        'float32',
        input.length === n * this.features ? input : input.subarray(0, n * this.features),
        [n, this.features],
      ),
    };
    const t0 = process.hrtime.bigint();
    let res: InferenceSession.ReturnType;
    try {
      res = await this.session.run(feeds, [d.probability.name]);
    } catch (err) {
      // Scoring is deterministic: what fails once fails on every retry.
      const why = (err as Error).message.split('\n')[0];
      throw new BadInputError(`${d.label}: onnxruntime failed to score ${n} rows (${describeRow(0)} …): ${why}`);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const t = res[d.probability.name];
    if (!t) throw new BadInputError(`${d.label} returned no output "${d.probability.name}"`);
    const data = t.data;
    if (!(data instanceof Float32Array) && !(data instanceof Float64Array))
      throw new BadInputError(`${d.label}: output "${d.probability.name}" is ${t.type}, not a float tensor`);
    const cols = this.probColumns ?? (n > 0 ? data.length / n : 1);
    if (!Number.isInteger(cols) || cols * n !== data.length || d.probability.index >= cols) {
      throw new BadInputError(
        `${d.label}: output "${d.probability.name}" has shape [${t.dims.join(', ')}] for ${n} rows; ` +
          `expected [${n}, >${d.probability.index}]`,
      );
    }
    this.probColumns = cols;
    copyProbabilities(d, data, cols, n, out, at, describeRow);
    t.dispose();
    return ms;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

type ValueMetadata = InferenceSession.ValueMetadata;
type TensorMetadata = Extract<ValueMetadata, { isTensor: true }>;

/** The input: one float32 tensor [N, F]. */
function checkInput(
  ins: readonly ValueMetadata[],
  features: string[],
): { meta: ValueMetadata | undefined; shape: (number | string)[]; problems: string[] } {
  const F = features.length;
  const problems: string[] = [];
  const input = ins[0];
  let shape: (number | string)[] = [];
  if (ins.length !== 1 || !input) {
    problems.push(
      `it has ${ins.length} inputs (${ins.map((i) => i.name).join(', ')}); mlo feeds exactly one, the feature tensor`,
    );
  } else if (!input.isTensor) {
    problems.push(`its input "${input.name}" is not a tensor`);
  } else {
    shape = [...input.shape];
    if (input.type !== 'float32') problems.push(`its input "${input.name}" is ${input.type}; mlo feeds float32`);
    if (input.shape.length !== 2)
      problems.push(`its input "${input.name}" has shape [${input.shape.join(', ')}]; expected [N, ${F}]`);
    else if (typeof input.shape[1] === 'number' && input.shape[1] !== F) {
      problems.push(
        `its input "${input.name}" takes ${input.shape[1]} features, the snapshot has ${F} (${features.join(', ')})`,
      );
    }
  }
  return { meta: input, shape, problems };
}

/** The columns it was trained on (its version's input-columns tag): the snapshot's features, in order. */
function checkInputColumns(tag: string | undefined, features: string[]): string[] {
  const TAG = VersionTag.inputColumns;
  if (tag === undefined)
    return [`its model version has no ${TAG} tag, so mlo cannot check which feature columns it takes`];
  let cols: unknown;
  try {
    cols = JSON.parse(tag);
  } catch {
    cols = undefined;
  }
  if (!Array.isArray(cols) || !cols.every((c): c is string => typeof c === 'string'))
    return [`its ${TAG} tag is not a JSON list of column names: ${tag.slice(0, 200)}`];
  if (cols.length !== features.length || cols.some((c, i) => c !== features[i]))
    return [
      `its input columns (${TAG}) are not the snapshot's feature columns in order: ` +
        describeColumnDiff(cols, features),
    ];
  return [];
}

type ProbabilityCheck = {
  /** The output and column holding the probability; index undefined when it cannot be known. */
  probability: { name: string; index: number | undefined } | undefined;
  /** Columns of the output per row, when its shape declares them. */
  columns: number | undefined;
  problems: string[];
};

/**
 * The probability output: named by the version's tag; without one, the output called
 * "probability" (the trainers' one output, [N]) or else "probabilities" (column 1 of [N, 2], the
 * two outputs of models exported before the single output).
 */
function checkProbabilityOutput(outs: readonly ValueMetadata[], tag: string | undefined): ProbabilityCheck {
  const TAG = VersionTag.probabilityOutput;
  const names = outs.map((x) => x.name).join(', ');
  if (tag === undefined) {
    const name = ['probability', 'probabilities'].find((n) => outs.some((x) => x.name === n));
    if (!name) {
      const problem =
        `it has no probability output: its outputs are ${names}, none is "probability" or "probabilities", ` +
        `and its model version has no ${TAG} tag naming one`;
      return { probability: undefined, columns: undefined, problems: [problem] };
    }
    return checkProbabilityShape(outs, { name, index: undefined });
  }
  const prob = parseProbabilityTag(tag);
  if (!prob)
    return {
      probability: undefined,
      columns: undefined,
      problems: [`its ${TAG} tag "${tag}" is not of the form <output>[<index>]`],
    };
  return checkProbabilityShape(outs, prob);
}

/** Where in the named output the probability is, from its declared shape. */
function checkProbabilityShape(
  outs: readonly ValueMetadata[],
  prob: { name: string; index: number | undefined },
): ProbabilityCheck {
  const meta = outs.find((x) => x.name === prob.name);
  const fail = (problem: string): ProbabilityCheck => ({ probability: prob, columns: undefined, problems: [problem] });
  if (!meta) {
    const names = outs.map((x) => x.name).join(', ');
    return fail(
      `it has no output "${prob.name}" (its probability output per ${VersionTag.probabilityOutput}); ` +
        `its outputs are ${names}`,
    );
  }
  if (!meta.isTensor || (meta.type !== 'float32' && meta.type !== 'float64')) {
    const what = meta.isTensor ? `a ${meta.type} tensor` : 'not a tensor';
    return fail(
      `its output "${prob.name}" is ${what} (a map or sequence: export without ZipMap); ` +
        'a probability output is a float tensor',
    );
  }
  return probabilityColumn(meta, prob);
}

function probabilityColumn(meta: TensorMetadata, prob: { name: string; index: number | undefined }): ProbabilityCheck {
  const rank = meta.shape.length;
  if (rank === 2) {
    const cols = meta.shape[1];
    const index = prob.index ?? (cols === 1 ? 0 : 1);
    const known = typeof cols === 'number';
    const problems =
      known && index >= cols
        ? [`its output "${prob.name}" has ${cols} column(s); the probability is said to be column ${index}`]
        : [];
    return { probability: { name: prob.name, index }, columns: known ? cols : undefined, problems };
  }
  if (rank === 1) {
    const problems =
      (prob.index ?? 0) !== 0
        ? [`its output "${prob.name}" is one value per row; the probability cannot be column ${prob.index}`]
        : [];
    return { probability: { name: prob.name, index: 0 }, columns: 1, problems };
  }
  // Shape not declared: column 1 unless the tag says otherwise; checked on the first run.
  if (rank === 0) return { probability: { name: prob.name, index: prob.index ?? 1 }, columns: undefined, problems: [] };
  return {
    probability: prob,
    columns: undefined,
    problems: [
      `its output "${prob.name}" has shape [${meta.shape.join(', ')}]; a probability output is [N] or [N, classes]`,
    ],
  };
}

/**
 * Copies column `d.probability.index` of each of the `n` rows of `data` (`cols` per row) to
 * `out[at + i]`; a value that is not a probability in [0, 1] is bad input naming its row.
 */
function copyProbabilities(
  d: ModelDescription,
  data: Float32Array | Float64Array,
  cols: number,
  n: number,
  out: Float64Array,
  at: number,
  describeRow: (i: number) => string,
): void {
  const idx = d.probability.index;
  let acc = 0;
  for (let i = 0, k = idx; i < n; i++, k += cols) {
    const p = data[k]!;
    out[at + i] = p;
    // acc stays 0 for p in [0, 1]; NaN or a value outside makes it non-zero.
    acc += p >= 0 && p <= 1 ? 0 : 1;
  }
  if (acc === 0) return;
  for (let i = 0, k = idx; i < n; i++, k += cols) {
    const p = data[k]!;
    if (!(p >= 0 && p <= 1)) {
      const hint = Number.isNaN(p)
        ? d.handlesMissing
          ? ''
          : ` (${d.missingReason}; a NaN feature may have reached it)`
        : '; the output named as its probability does not hold probabilities';
      throw new BadInputError(
        `${d.label}: output "${d.probability.name}"[${idx}] is ${p} at ${describeRow(i)}, ` +
          `not a probability in [0, 1]${hint}`,
      );
    }
  }
}
