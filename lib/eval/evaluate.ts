/**
 * The evaluation's arithmetic, free of I/O: candidate (and champion) scores on the labelled
 * holdout rows → metrics overall and per slice, the paired AUC difference, curves for the
 * plots, and the gates. The activity (activities/evaluation.ts) feeds it and publishes it.
 */
import { evaluationGates, gatesPassed, type GateResult, type MetricValues, type SliceMetrics } from './gates';
import {
  binaryMetrics,
  curves,
  delongPaired,
  histogram01,
  type AtThreshold,
  type AucDifference,
  type CurveSet,
  type MetricName,
} from './metrics';
import { EVAL_GATE_METRICS } from '../spec/model-spec';

/** The metrics of each model, overall and per slice: those an evaluation gate can name. */
export const METRIC_NAMES: MetricName[] = [...EVAL_GATE_METRICS];

export type SliceColumn = { column: string; codes: Int32Array; values: string[] };

export type EvalInputs = {
  candidate: Float64Array;
  champion: Float64Array | null;
  labels: Uint8Array;
  slices: SliceColumn[];
  fixedFpr: number;
  operatingThreshold: number;
  gates: string[];
};

export type ModelMetrics = {
  values: MetricValues;
  atFpr: { target: number; threshold: number; fpr: number } | null;
  atThreshold: AtThreshold & { threshold: number };
};

export type SliceRow = SliceMetrics & {
  column: string;
  value: string;
  delta: Partial<Record<MetricName, number | null>> | null;
};

export type EvalResult = {
  n: number;
  positives: number;
  candidate: ModelMetrics;
  champion: ModelMetrics | null;
  /** candidate − champion per metric; null without a champion. */
  delta: Record<MetricName, number | null> | null;
  aucDifference: AucDifference | null;
  slices: SliceRow[];
  gates: GateResult[];
  passed: boolean;
  curves: { candidate: CurveSet; champion: CurveSet | null };
  /** Score histograms (50 bins on [0, 1]) of each model, by class. */
  histograms: {
    bins: number;
    candidate: { positives: number[]; negatives: number[] };
    champion: { positives: number[]; negatives: number[] } | null;
  };
};

function deltaOf(a: MetricValues, b: MetricValues): Record<MetricName, number | null> {
  const out = {} as Record<MetricName, number | null>;
  for (const k of METRIC_NAMES) {
    const x = a[k];
    const y = b[k];
    out[k] = x === null || y === null ? null : x - y;
  }
  return out;
}

function byClass(scores: Float64Array, labels: Uint8Array, bins: number): { positives: number[]; negatives: number[] } {
  let p = 0;
  for (let i = 0; i < labels.length; i++) p += labels[i]!;
  const pos = new Float64Array(p);
  const neg = new Float64Array(labels.length - p);
  for (let i = 0, a = 0, b = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[a++] = scores[i]!;
    else neg[b++] = scores[i]!;
  }
  return { positives: histogram01(pos, bins), negatives: histogram01(neg, bins) };
}

/** Groups row indices by code: rows of code c are order[start[c] .. start[c + 1]). */
function groupRows(codes: Int32Array, k: number): { order: Int32Array; start: Int32Array } {
  const start = new Int32Array(k + 1);
  for (let i = 0; i < codes.length; i++) start[codes[i]! + 1]!++;
  for (let c = 0; c < k; c++) start[c + 1]! += start[c]!;
  const fill = start.slice(0, k);
  const order = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) order[fill[codes[i]!]!++] = i;
  return { order, start };
}

/** One slice column's rows: metrics of every value that has rows, the largest slices first. */
function sliceRows(x: EvalInputs, s: SliceColumn, opts: Parameters<typeof binaryMetrics>[2]): SliceRow[] {
  const out: SliceRow[] = [];
  const { order, start } = groupRows(s.codes, s.values.length);
  for (let c = 0; c < s.values.length; c++) {
    const rows = order.subarray(start[c], start[c + 1]);
    if (rows.length === 0) continue;
    const labels = new Uint8Array(rows.length);
    const sc = new Float64Array(rows.length);
    const sh = x.champion ? new Float64Array(rows.length) : null;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      labels[i] = x.labels[r]!;
      sc[i] = x.candidate[r]!;
      if (sh) sh[i] = x.champion![r]!;
    }
    const mc = binaryMetrics(sc, labels, opts);
    const mh = sh ? binaryMetrics(sh, labels, opts) : null;
    out.push({
      column: s.column,
      value: s.values[c]!,
      slice: `${s.column}=${s.values[c]!}`,
      n: rows.length,
      positives: mc.positives,
      candidate: mc.values,
      champion: mh ? mh.values : null,
      delta: mh ? deltaOf(mc.values, mh.values) : null,
    });
  }
  return out.sort((a, b) => b.n - a.n || (a.value < b.value ? -1 : 1));
}

export function evaluateScores(x: EvalInputs): EvalResult {
  const opts = { fixedFpr: x.fixedFpr, operatingThreshold: x.operatingThreshold };
  const cand = binaryMetrics(x.candidate, x.labels, opts);
  const champ = x.champion ? binaryMetrics(x.champion, x.labels, opts) : null;
  const strip = (m: typeof cand): ModelMetrics => ({ values: m.values, atFpr: m.atFpr, atThreshold: m.atThreshold });
  const slices = x.slices.flatMap((s) => sliceRows(x, s, opts));

  const gates = evaluationGates(x.gates, { candidate: cand.values, champion: champ ? champ.values : null, slices });
  const bins = 50;
  return {
    n: cand.n,
    positives: cand.positives,
    candidate: strip(cand),
    champion: champ ? strip(champ) : null,
    delta: champ ? deltaOf(cand.values, champ.values) : null,
    aucDifference: x.champion ? delongPaired(x.candidate, x.champion, x.labels, cand.ranked, champ!.ranked) : null,
    slices,
    gates,
    passed: gatesPassed(gates),
    curves: {
      candidate: curves(x.candidate, x.labels, cand.ranked),
      champion: champ && x.champion ? curves(x.champion, x.labels, champ.ranked) : null,
    },
    histograms: {
      bins,
      candidate: byClass(x.candidate, x.labels, bins),
      champion: x.champion ? byClass(x.champion, x.labels, bins) : null,
    },
  };
}
