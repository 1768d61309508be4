/**
 * Metrics of a binary classifier's scores, over typed arrays (no JS object per row).
 *
 * Definitions (the report and the final hand-off document them the same way):
 * - Rows are flagged ("blocked") when `score >= threshold`.
 * - ROC AUC is the Mann–Whitney statistic P(s⁺ > s⁻) + ½·P(s⁺ = s⁻): a tied positive/negative
 *   pair counts one half, which equals the trapezoidal area under the ROC curve whose points are
 *   the distinct scores (scikit-learn's `roc_auc_score`). Undefined (null) with a single class.
 * - PR AUC is average precision, Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct scores from the highest
 *   down, with no interpolation (scikit-learn's `average_precision_score`). Null without positives.
 * - Log loss is −mean(y·ln p + (1−y)·ln(1−p)) with p clipped to [1e-15, 1 − 1e-15].
 * - Brier score is mean((p − y)²).
 * - ECE: 10 equal-width bins of the score on [0, 1] (bin k holds k/10 ≤ p < (k+1)/10, the last
 *   bin also p = 1), ECE = Σₖ (nₖ/N)·|mean(y in k) − mean(p in k)|; empty bins contribute 0.
 * - Recall at a fixed FPR: the highest recall over thresholds at the distinct scores whose false
 *   positive rate is at most the target (no interpolation between ROC points); with it the
 *   threshold used and the FPR actually reached.
 * - Recall at the operating threshold: TP/(TP+FN) with `score >= threshold`.
 * - AUC difference: DeLong et al. (1988), paired on the same rows, with the structural components
 *   of Sun & Xu (2014); a two-sided normal interval and p-value.
 * - PSI: 10 bins at the deciles of the reference (champion) scores, right-closed, edges that
 *   coincide (ties) merged; proportions floored at 1e-4 before Σ (a − e)·ln(a/e).
 * - KS: the two-sample statistic sup |F₁(x) − F₂(x)| over all scores.
 */

const LOG_LOSS_EPS = 1e-15;
const ECE_BINS = 10;
const PSI_BINS = 10;
const PSI_FLOOR = 1e-4;
/** z of the two-sided 95 % normal interval. */
const Z95 = 1.959963984540054;

/** Scores of the positives and of the negatives, each sorted ascending. */
export type Ranked = { pos: Float64Array; neg: Float64Array };

export function rank(scores: ArrayLike<number>, labels: ArrayLike<number>): Ranked {
  let p = 0;
  for (let i = 0; i < labels.length; i++) p += labels[i] === 1 ? 1 : 0;
  const pos = new Float64Array(p);
  const neg = new Float64Array(labels.length - p);
  for (let i = 0, a = 0, b = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[a++] = scores[i]!;
    else neg[b++] = scores[i]!;
  }
  pos.sort();
  neg.sort();
  return { pos, neg };
}

/** Number of elements of the ascending array `a` that are < x. */
export function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of elements of the ascending array `a` that are <= x. */
function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ROC AUC with ties counted one half; null with a single class. */
export function rocAuc(r: Ranked): number | null {
  const P = r.pos.length;
  const N = r.neg.length;
  if (P === 0 || N === 0) return null;
  let sum = 0;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < P; i++) {
    const s = r.pos[i]!;
    while (lo < N && r.neg[lo]! < s) lo++;
    if (hi < lo) hi = lo;
    while (hi < N && r.neg[hi]! <= s) hi++;
    sum += lo + 0.5 * (hi - lo);
  }
  return sum / P / N;
}

/** One point of the ROC/PR curves: rows with score >= threshold are flagged. */
export type CurvePoint = { threshold: number; tp: number; fp: number };

/**
 * The curve's points at every distinct score, from the highest down, starting with the
 * empty point (threshold +∞: nothing flagged).
 */
export function curvePoints(r: Ranked): CurvePoint[] {
  const out: CurvePoint[] = [{ threshold: Infinity, tp: 0, fp: 0 }];
  let i = r.pos.length - 1;
  let j = r.neg.length - 1;
  let tp = 0;
  let fp = 0;
  while (i >= 0 || j >= 0) {
    const a = i >= 0 ? r.pos[i]! : -Infinity;
    const b = j >= 0 ? r.neg[j]! : -Infinity;
    const t = a > b ? a : b;
    while (i >= 0 && r.pos[i] === t) {
      tp++;
      i--;
    }
    while (j >= 0 && r.neg[j] === t) {
      fp++;
      j--;
    }
    out.push({ threshold: t, tp, fp });
  }
  return out;
}

/** Average precision (scikit-learn's definition); null without positives. */
export function averagePrecision(r: Ranked, pts: CurvePoint[] = curvePoints(r)): number | null {
  const P = r.pos.length;
  if (P === 0) return null;
  let ap = 0;
  let prevTp = 0;
  for (const p of pts) {
    if (p.tp > prevTp) ap += ((p.tp - prevTp) / P) * (p.tp / (p.tp + p.fp));
    prevTp = p.tp;
  }
  return ap;
}

/** The highest recall reached with FPR <= target; null with a single class. */
export function recallAtFpr(
  r: Ranked,
  target: number,
  pts: CurvePoint[] = curvePoints(r),
): { recall: number; threshold: number; fpr: number } | null {
  const P = r.pos.length;
  const N = r.neg.length;
  if (P === 0 || N === 0) return null;
  let best = pts[0]!;
  for (const p of pts) {
    if (p.fp / N <= target) best = p;
    else break;
  }
  return { recall: best.tp / P, threshold: best.threshold, fpr: best.fp / N };
}

export type AtThreshold = {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  recall: number | null;
  precision: number | null;
  fpr: number | null;
  flaggedRate: number;
};

/** Confusion counts and rates when rows with score >= threshold are flagged. */
export function atThreshold(r: Ranked, threshold: number): AtThreshold {
  const P = r.pos.length;
  const N = r.neg.length;
  const tp = P - lowerBound(r.pos, threshold);
  const fp = N - lowerBound(r.neg, threshold);
  return {
    tp,
    fp,
    fn: P - tp,
    tn: N - fp,
    recall: P > 0 ? tp / P : null,
    precision: tp + fp > 0 ? tp / (tp + fp) : null,
    fpr: N > 0 ? fp / N : null,
    flaggedRate: P + N > 0 ? (tp + fp) / (P + N) : 0,
  };
}

export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(scores[i]!, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    s -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return labels.length > 0 ? s / labels.length : NaN;
}

export function brier(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const d = scores[i]! - (labels[i] === 1 ? 1 : 0);
    s += d * d;
  }
  return labels.length > 0 ? s / labels.length : NaN;
}

export type ReliabilityBin = {
  from: number;
  to: number;
  count: number;
  meanScore: number | null;
  positiveRate: number | null;
};

/** Expected calibration error over `bins` equal-width bins, and the reliability table. */
export function calibration(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  bins = ECE_BINS,
): { ece: number; bins: ReliabilityBin[] } {
  const cnt = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const p = scores[i]!;
    const k = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    cnt[k]!++;
    sumP[k]! += p;
    sumY[k]! += labels[i] === 1 ? 1 : 0;
  }
  const n = labels.length;
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let k = 0; k < bins; k++) {
    const c = cnt[k]!;
    const mp = c > 0 ? sumP[k]! / c : null;
    const my = c > 0 ? sumY[k]! / c : null;
    if (c > 0 && n > 0) ece += (c / n) * Math.abs(my! - mp!);
    out.push({ from: k / bins, to: (k + 1) / bins, count: c, meanScore: mp, positiveRate: my });
  }
  return { ece: n > 0 ? ece : NaN, bins: out };
}

// ---- DeLong -------------------------------------------------------------------------------

export type AucDifference = {
  aucA: number;
  aucB: number;
  /** aucA − aucB */
  delta: number;
  se: number;
  ciLow: number;
  ciHigh: number;
  z: number | null;
  pValue: number | null;
  method: 'delong-paired';
  level: 0.95;
};

/** The structural components of one model's AUC: V10 per positive, V01 per negative, in row order. */
function components(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  r: Ranked,
): { v10: Float64Array; v01: Float64Array; auc: number } {
  const P = r.pos.length;
  const N = r.neg.length;
  const v10 = new Float64Array(P);
  const v01 = new Float64Array(N);
  let a = 0;
  let b = 0;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const s = scores[i]!;
    if (labels[i] === 1) {
      const lo = lowerBound(r.neg, s);
      const hi = upperBound(r.neg, s);
      const v = (lo + 0.5 * (hi - lo)) / N;
      v10[a++] = v;
      sum += v;
    } else {
      const lo = lowerBound(r.pos, s);
      const hi = upperBound(r.pos, s);
      v01[b++] = (P - hi + 0.5 * (hi - lo)) / P;
    }
  }
  return { v10, v01, auc: sum / P };
}

function cov(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (x[i]! - mx) * (y[i]! - my);
  return s / (n - 1);
}

/**
 * Paired DeLong test of AUC(A) − AUC(B) on the same rows. Null with a single class or fewer
 * than two positives or negatives (the variance needs two of each).
 */
export function delongPaired(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  labels: ArrayLike<number>,
  ra: Ranked = rank(a, labels),
  rb: Ranked = rank(b, labels),
): AucDifference | null {
  const P = ra.pos.length;
  const N = ra.neg.length;
  if (P < 2 || N < 2) return null;
  const ca = components(a, labels, ra);
  const cb = components(b, labels, rb);
  const s10 = cov(ca.v10, ca.v10) + cov(cb.v10, cb.v10) - 2 * cov(ca.v10, cb.v10);
  const s01 = cov(ca.v01, ca.v01) + cov(cb.v01, cb.v01) - 2 * cov(ca.v01, cb.v01);
  const variance = Math.max(0, s10 / P + s01 / N);
  const se = Math.sqrt(variance);
  const delta = ca.auc - cb.auc;
  const z = se > 0 ? delta / se : null;
  return {
    aucA: ca.auc,
    aucB: cb.auc,
    delta,
    se,
    ciLow: delta - Z95 * se,
    ciHigh: delta + Z95 * se,
    z,
    pValue: z === null ? (delta === 0 ? 1 : 0) : 2 * normalSf(Math.abs(z)),
    method: 'delong-paired',
    level: 0.95,
  };
}

/** Upper tail of the standard normal, P(Z > x), via erfc (relative error below 1.2e-7: plenty for a p-value). */
function normalSf(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes' erfcc: fractional error below 1.2e-7 everywhere.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

// ---- distribution shift -------------------------------------------------------------------

export function sortedCopy(x: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(x);
  a.sort();
  return a;
}

/** The q-quantile of an ascending array: the smallest value with at least q of the mass at or below it. */
export function quantileSorted(a: Float64Array, q: number): number {
  if (a.length === 0) return NaN;
  const k = Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
  return a[k]!;
}

export type PsiResult = { psi: number; edges: number[]; expected: number[]; actual: number[] };

/** Population stability index of `actual` against the deciles of `expected` (both ascending). */
export function psi(expectedSorted: Float64Array, actualSorted: Float64Array, bins = PSI_BINS): PsiResult {
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = quantileSorted(expectedSorted, k / bins);
    if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
  }
  // A bin is (edge[k-1], edge[k]]: values <= the first edge fall in bin 0.
  const share = (a: Float64Array): number[] => {
    const out: number[] = [];
    let prev = 0;
    for (const e of edges) {
      const c = upperBound(a, e);
      out.push((c - prev) / a.length);
      prev = c;
    }
    out.push((a.length - prev) / a.length);
    return out;
  };
  const expected = share(expectedSorted);
  const actual = share(actualSorted);
  let v = 0;
  for (let k = 0; k < expected.length; k++) {
    const e = Math.max(expected[k]!, PSI_FLOOR);
    const a = Math.max(actual[k]!, PSI_FLOOR);
    v += (a - e) * Math.log(a / e);
  }
  return { psi: v, edges, expected, actual };
}

/** Two-sample Kolmogorov–Smirnov statistic of two ascending arrays. */
export function ks(aSorted: Float64Array, bSorted: Float64Array): number {
  const n = aSorted.length;
  const m = bSorted.length;
  if (n === 0 || m === 0) return NaN;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n || j < m) {
    const x = i < n && (j >= m || aSorted[i]! <= bSorted[j]!) ? aSorted[i]! : bSorted[j]!;
    while (i < n && aSorted[i]! <= x) i++;
    while (j < m && bSorted[j]! <= x) j++;
    const diff = Math.abs(i / n - j / m);
    if (diff > d) d = diff;
  }
  return d;
}

/** Counts of scores in `bins` equal-width bins on [0, 1] (the last bin holds 1). */
export function histogram01(x: ArrayLike<number>, bins: number): number[] {
  const out = new Array<number>(bins).fill(0);
  for (let i = 0; i < x.length; i++) {
    const k = Math.min(bins - 1, Math.max(0, Math.floor(x[i]! * bins)));
    out[k]!++;
  }
  return out;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: ArrayLike<number>, p: number): number {
  return quantileSorted(sortedCopy(values), p / 100);
}

// ---- one model on one set of rows ---------------------------------------------------------

export type MetricName = 'auc' | 'pr_auc' | 'log_loss' | 'brier' | 'ece' | 'recall_at_fpr' | 'recall_at_threshold';

export type BinaryMetrics = {
  n: number;
  positives: number;
  /** Keyed by the gate names of the spec (lib/spec EVAL_GATE_METRICS). */
  values: Record<MetricName, number | null>;
  atFpr: { target: number; threshold: number; fpr: number } | null;
  atThreshold: AtThreshold & { threshold: number };
};

export type CurveSet = {
  roc: { fpr: number; tpr: number }[];
  pr: { recall: number; precision: number }[];
  reliability: ReliabilityBin[];
};

export type MetricOptions = { fixedFpr: number; operatingThreshold: number };

/** Every metric of one model on one set of rows; `withCurves` adds plot-ready curves (≤ 200 points). */
export function binaryMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: MetricOptions,
  r: Ranked = rank(scores, labels),
): BinaryMetrics & { ranked: Ranked } {
  const pts = curvePoints(r);
  const fpr = recallAtFpr(r, opts.fixedFpr, pts);
  const thr = atThreshold(r, opts.operatingThreshold);
  const cal = calibration(scores, labels);
  return {
    n: labels.length,
    positives: r.pos.length,
    values: {
      auc: rocAuc(r),
      pr_auc: averagePrecision(r, pts),
      log_loss: labels.length > 0 ? logLoss(scores, labels) : null,
      brier: labels.length > 0 ? brier(scores, labels) : null,
      ece: labels.length > 0 ? cal.ece : null,
      recall_at_fpr: fpr ? fpr.recall : null,
      recall_at_threshold: thr.recall,
    },
    atFpr: fpr ? { target: opts.fixedFpr, threshold: fpr.threshold, fpr: fpr.fpr } : null,
    atThreshold: { ...thr, threshold: opts.operatingThreshold },
    ranked: r,
  };
}

/** Plot-ready ROC, PR and reliability curves, thinned to at most `maxPoints` points each. */
export function curves(scores: ArrayLike<number>, labels: ArrayLike<number>, r: Ranked, maxPoints = 200): CurveSet {
  const P = r.pos.length;
  const N = r.neg.length;
  const pts = thin(curvePoints(r), maxPoints);
  return {
    roc: pts.map((p) => ({ fpr: N > 0 ? p.fp / N : 0, tpr: P > 0 ? p.tp / P : 0 })),
    pr: pts
      .filter((p) => p.tp + p.fp > 0)
      .map((p) => ({ recall: P > 0 ? p.tp / P : 0, precision: p.tp / (p.tp + p.fp) })),
    reliability: calibration(scores, labels).bins,
  };
}

function thin<T>(a: T[], max: number): T[] {
  if (a.length <= max) return a;
  const out: T[] = [];
  const step = (a.length - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(a[Math.round(k * step)]!);
  return out;
}
