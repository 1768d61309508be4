/**
 * Gates of the model spec (`evaluation.gates`, `shadow.gates`), parsed with lib/spec's
 * `parseGate` and judged on the computed metrics. Each gate gets a value, its threshold and a
 * status: pass, fail, or n/a (a relative gate with no champion; a slice gate no slice reaches).
 * A value that cannot be computed (null, NaN) fails its gate: a gate never passes on no evidence.
 */
import { EVAL_GATE_METRICS, parseGate, SHADOW_GATE_METRICS, type Gate } from '../spec/model-spec';
import { BadInputError } from '../core/errors';
import type { MetricName } from './metrics';

export type GateStatus = 'pass' | 'fail' | 'n/a';

export type SliceGateRow = {
  slice: string;
  n: number;
  positives: number;
  value: number | null;
  status: GateStatus;
  note?: string;
};

export type GateResult = {
  gate: string;
  metric: string;
  op: Gate['op'];
  threshold: number;
  /** The value judged: the metric, the delta, or for a slice gate the worst slice's value. */
  value: number | null;
  status: GateStatus;
  /** Why n/a or fail, in words (e.g. "n/a: no champion", "2 slices fail: country=BR …"). */
  note: string;
  /** Slice gates: every slice considered, failing ones first. */
  slices?: SliceGateRow[];
};

export function compare(value: number, op: Gate['op'], threshold: number): boolean {
  switch (op) {
    case '>=':
      return value >= threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '<':
      return value < threshold;
  }
}

/** Parses a spec section's gates; a gate that does not parse is bad input naming it. */
export function parseGates(texts: string[], allowed: readonly string[], section: string): Gate[] {
  return texts.map((t, i) => {
    const g = parseGate(t, allowed);
    if (typeof g === 'string') throw new BadInputError(`${section}.gates[${i}]: ${g}`);
    return g;
  });
}

/** The metric a gate reads, without "slice_" and "_delta". */
function baseMetric(g: Gate): string {
  return g.metric.replace(/^slice_/, '').replace(/_delta$/, '');
}

function isDelta(g: Gate): boolean {
  return g.metric.endsWith('_delta');
}

const fmt = (x: number | null) =>
  x === null || Number.isNaN(x) ? 'n/a' : Number.isInteger(x) ? String(x) : x.toFixed(4);

function judge(g: Gate, value: number | null, extra: Partial<GateResult> = {}): GateResult {
  if (value === null || Number.isNaN(value)) {
    return {
      gate: g.text,
      metric: g.metric,
      op: g.op,
      threshold: g.threshold,
      value: null,
      status: 'fail',
      note: 'fail: the value could not be computed',
      ...extra,
    };
  }
  const ok = compare(value, g.op, g.threshold);
  return {
    gate: g.text,
    metric: g.metric,
    op: g.op,
    threshold: g.threshold,
    value,
    status: ok ? 'pass' : 'fail',
    note: `${fmt(value)} ${ok ? 'meets' : 'fails'} ${g.op} ${g.threshold}`,
    ...extra,
  };
}

function na(g: Gate, note: string, value: number | null = null): GateResult {
  return { gate: g.text, metric: g.metric, op: g.op, threshold: g.threshold, value, status: 'n/a', note };
}

export type MetricValues = Record<MetricName, number | null>;

export type SliceMetrics = {
  /** e.g. "country=BR" */
  slice: string;
  n: number;
  positives: number;
  candidate: MetricValues;
  champion: MetricValues | null;
};

/**
 * Judges the evaluation gates. Absolute gates read the candidate's metric; `<m>_delta` reads
 * candidate − champion (n/a without a champion); `slice_<m>[_delta] … where n >= N` holds for
 * every slice with at least N rows (slices where the metric is undefined, e.g. AUC with one
 * class, are listed and skipped).
 */
export function evaluationGates(
  texts: string[],
  m: { candidate: MetricValues; champion: MetricValues | null; slices: SliceMetrics[] },
): GateResult[] {
  return parseGates(texts, EVAL_GATE_METRICS, 'evaluation').map((g) => {
    const base = baseMetric(g) as MetricName;
    const delta = isDelta(g);
    if (delta && !m.champion) return na(g, 'n/a: no champion (the first version is judged on absolute gates alone)');
    if (g.slice) return sliceGate(g, base, delta, m.slices);
    const c = m.candidate[base];
    if (!delta) return judge(g, c);
    const h = m.champion![base];
    return judge(g, c === null || h === null ? null : c - h);
  });
}

/** One slice's row of a slice gate: its value (or delta), or n/a when the metric is undefined on it. */
function sliceRow(g: Gate, base: MetricName, delta: boolean, s: SliceMetrics): SliceGateRow {
  const c = s.candidate[base];
  const h = delta ? (s.champion?.[base] ?? null) : 0;
  if (c === null || h === null) {
    const ranking = base === 'auc' || base === 'pr_auc' || base === 'recall_at_fpr';
    const oneClass = !ranking ? null : s.positives === 0 ? 'no positives' : s.positives === s.n ? 'no negatives' : null;
    const note = `${base} ${oneClass === null ? 'undefined' : `undefined: one class (${oneClass})`}`;
    return { slice: s.slice, n: s.n, positives: s.positives, value: null, status: 'n/a', note };
  }
  const v = delta ? c - h : c;
  return {
    slice: s.slice,
    n: s.n,
    positives: s.positives,
    value: v,
    status: compare(v, g.op, g.threshold) ? 'pass' : 'fail',
  };
}

/** Failing slices first, then passing ones, then n/a. */
function bySeverity(a: SliceGateRow, b: SliceGateRow): number {
  if (a.status === b.status) return 0;
  if (a.status === 'fail') return -1;
  if (b.status === 'fail') return 1;
  return a.status === 'pass' ? -1 : 1;
}

/**
 * A slice gate holds for every slice with at least `minCount` rows; its value is the worst
 * slice's. Slices where the metric is undefined (one class) are listed and skipped.
 */
function sliceGate(g: Gate, base: MetricName, delta: boolean, slices: SliceMetrics[]): GateResult {
  const min = g.minCount ?? 1;
  const rows = slices.filter((s) => s.n >= min).map((s) => sliceRow(g, base, delta, s));
  const judged = rows.filter((r) => r.status !== 'n/a');
  const failing = judged.filter((r) => r.status === 'fail');
  const lowerIsWorse = g.op === '>=' || g.op === '>';
  const worst = judged.reduce<SliceGateRow | undefined>(
    (w, r) => (!w || (lowerIsWorse ? r.value! < w.value! : r.value! > w.value!) ? r : w),
    undefined,
  );
  rows.sort(bySeverity);
  const skipped = rows.length - judged.length;
  const skippedNote = skipped > 0 ? `; ${skipped} slice(s) with n ≥ ${min} have no ${base} (one class)` : '';
  if (judged.length === 0)
    return { ...na(g, `n/a: no slice with n ≥ ${min} has a ${base}${skippedNote}`), slices: rows };
  const result = {
    gate: g.text,
    metric: g.metric,
    op: g.op,
    threshold: g.threshold,
    value: worst?.value ?? null,
    slices: rows,
  };
  if (failing.length > 0) {
    const list = failing
      .slice(0, 5)
      .map((r) => `${r.slice} (n=${r.n}, ${fmt(r.value)})`)
      .join(', ');
    const more = failing.length > 5 ? ', …' : '';
    return {
      ...result,
      status: 'fail',
      note: `${failing.length} of ${judged.length} slices with n ≥ ${min} fail: ${list}${more}${skippedNote}`,
    };
  }
  const worstText = `worst ${worst?.slice ?? ''}: ${fmt(worst?.value ?? null)}`;
  return {
    ...result,
    status: 'pass',
    note: `all ${judged.length} slices with n ≥ ${min} meet ${g.op} ${g.threshold} (${worstText})${skippedNote}`,
  };
}

export type ShadowValues = {
  hasChampion: boolean;
  psi: number | null;
  ks: number | null;
  agreement: number | null;
  block_rate: number;
  champion_block_rate: number | null;
  candidate_p99_ms: number;
  champion_p99_ms: number | null;
};

/**
 * Judges the shadow gates: psi, ks, agreement and block_rate_delta compare with the champion
 * (n/a without one); block_rate and candidate_p99_ms are the candidate's own. `<m>_delta` is
 * candidate − champion where both have the metric (block_rate, candidate_p99_ms vs the
 * champion's p99). Slice gates do not apply to shadow scoring and fail, naming why.
 */
export function shadowGates(texts: string[], v: ShadowValues): GateResult[] {
  return parseGates(texts, SHADOW_GATE_METRICS, 'shadow').map((g) => {
    if (g.slice)
      return { ...judge(g, null), note: 'fail: shadow scoring has no slices; move this gate to evaluation.gates' };
    const needsChampion = [
      'psi',
      'ks',
      'agreement',
      'block_rate_delta',
      'psi_delta',
      'ks_delta',
      'agreement_delta',
      'candidate_p99_ms_delta',
    ].includes(g.metric);
    if (needsChampion && !v.hasChampion) return na(g, 'n/a: no champion to compare with');
    switch (g.metric) {
      case 'psi':
        return judge(g, v.psi);
      case 'ks':
        return judge(g, v.ks);
      case 'agreement':
        return judge(g, v.agreement);
      case 'block_rate':
        return judge(g, v.block_rate);
      case 'block_rate_delta':
        return judge(g, v.champion_block_rate === null ? null : v.block_rate - v.champion_block_rate);
      case 'candidate_p99_ms':
        return judge(g, v.candidate_p99_ms);
      case 'candidate_p99_ms_delta':
        return judge(g, v.champion_p99_ms === null ? null : v.candidate_p99_ms - v.champion_p99_ms);
      default:
        return {
          ...judge(g, null),
          note:
            `fail: ${g.metric} is not defined for shadow scoring ` +
            '(psi, ks and agreement already compare with the champion)',
        };
    }
  });
}

export function gatesPassed(results: GateResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}
