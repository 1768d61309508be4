/**
 * The evaluation metrics against hand-computed values and against scikit-learn / scipy.
 *
 * The "reference" dataset below is a deterministic formula (200 rows, scores rounded to two
 * decimals so that ties occur, 69 positives); the expected numbers were computed from the same
 * formula with the project venv (scikit-learn 1.9.1, scipy 1.17.1, numpy 2.4.6):
 *   roc_auc_score, average_precision_score, log_loss (p clipped to [1e-15, 1-1e-15]),
 *   brier_score_loss, roc_curve(drop_intermediate=False) for recall at FPR <= 0.1,
 *   scipy.stats.ks_2samp(a, b).statistic, ECE with 10 equal-width bins by numpy, the paired
 *   DeLong test by the fast algorithm of Sun & Xu (2014) in numpy (midranks, np.cov, norm.sf),
 *   and PSI with deciles by np.quantile(method="inverted_cdf"), right-closed bins
 *   (np.searchsorted side="left"), proportions floored at 1e-4.
 */
import { describe, expect, it } from 'vitest';
import {
  atThreshold,
  averagePrecision,
  binaryMetrics,
  brier,
  calibration,
  curvePoints,
  delongPaired,
  ks,
  logLoss,
  percentile,
  psi,
  quantileSorted,
  rank,
  recallAtFpr,
  rocAuc,
  sortedCopy,
} from '../../lib/eval/metrics';

const N = 200;
const r2 = (v: number) => Math.floor(v * 100 + 0.5) / 100;
const x = Array.from({ length: N }, (_, i) => ((i * 37 + 11) % 101) / 101);
const y = Uint8Array.from({ length: N }, (_, i) => ((i * 53 + 7) % 17 < 6 ? 1 : 0));
const a = Float64Array.from({ length: N }, (_, i) => r2(0.5 * x[i]! + 0.2 * y[i]! + (0.3 * ((i * 13) % 7)) / 7));
const b = Float64Array.from({ length: N }, (_, i) => r2(0.7 * x[i]! + 0.25 * y[i]!));

describe('ranking metrics, by hand', () => {
  // scikit-learn's own doc example: roc_auc_score = 0.75, average_precision_score = 0.8333…
  const s = [0.1, 0.4, 0.35, 0.8];
  const l = [0, 0, 1, 1];

  it('ROC AUC and average precision of the four-row example', () => {
    const r = rank(s, l);
    expect(rocAuc(r)).toBeCloseTo(0.75, 12);
    // thresholds 0.8 (P=1, R=.5), 0.4 (P=.5, R=.5), 0.35 (P=2/3, R=1): .5·1 + .5·(2/3)
    expect(averagePrecision(r)).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12);
  });

  it('ties count one half in AUC and form one threshold in AP', () => {
    const r = rank([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]);
    expect(rocAuc(r)).toBe(0.5);
    expect(averagePrecision(r)).toBe(0.5);
    // one positive tied with one of two negatives, above the other: (1 + 0.5) / 2
    expect(rocAuc(rank([0.7, 0.7, 0.2], [1, 0, 0]))).toBe(0.75);
    expect(curvePoints(rank([0.7, 0.7, 0.2], [1, 0, 0]))).toEqual([
      { threshold: Infinity, tp: 0, fp: 0 },
      { threshold: 0.7, tp: 1, fp: 1 },
      { threshold: 0.2, tp: 1, fp: 2 },
    ]);
  });

  it('is undefined with a single class', () => {
    const r = rank([0.2, 0.9], [1, 1]);
    expect(rocAuc(r)).toBeNull();
    expect(recallAtFpr(r, 0.1)).toBeNull();
    expect(averagePrecision(rank([0.2, 0.9], [0, 0]))).toBeNull();
  });

  it('recall at a fixed FPR takes the best ROC point at or under the target, without interpolation', () => {
    // negatives 0.9, 0.5, 0.3, 0.2, 0.1 and positives 0.95, 0.6, 0.4
    const r = rank([0.9, 0.5, 0.3, 0.2, 0.1, 0.95, 0.6, 0.4], [0, 0, 0, 0, 0, 1, 1, 1]);
    expect(recallAtFpr(r, 0.1)).toEqual({ recall: 1 / 3, threshold: 0.95, fpr: 0 });
    expect(recallAtFpr(r, 0.2)).toEqual({ recall: 2 / 3, threshold: 0.6, fpr: 0.2 });
    expect(recallAtFpr(r, 0.39)).toEqual({ recall: 2 / 3, threshold: 0.6, fpr: 0.2 });
    expect(recallAtFpr(r, 0.4)).toEqual({ recall: 1, threshold: 0.4, fpr: 0.4 });
  });

  it('counts at the operating threshold flag score >= threshold', () => {
    const r = rank([0.5, 0.49, 0.7, 0.5], [1, 1, 0, 0]);
    expect(atThreshold(r, 0.5)).toEqual({
      tp: 1,
      fp: 2,
      fn: 1,
      tn: 0,
      recall: 0.5,
      precision: 1 / 3,
      fpr: 1,
      flaggedRate: 0.75,
    });
  });
});

describe('probability metrics, by hand', () => {
  it('log loss, clipped', () => {
    expect(logLoss([0.8, 0.3], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 14);
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(1e-15), 10);
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1 - (1 - 1e-15)), 12);
  });

  it('Brier score', () => {
    expect(brier([0.8, 0.3, 1], [1, 0, 1])).toBeCloseTo((0.04 + 0.09 + 0) / 3, 15);
  });

  it('ECE over 10 equal-width bins; p = 1 falls in the last bin', () => {
    // bin 0: 0.05, 0.05 (y 0, 1) → |0.5 − 0.05| · 2/5; bin 9: 0.95, 1.0, 0.9 (y 1, 1, 0) → |2/3 − 0.95| · 3/5
    const { ece, bins } = calibration([0.05, 0.05, 0.95, 1.0, 0.9], [0, 1, 1, 1, 0]);
    expect(ece).toBeCloseTo((2 / 5) * 0.45 + (3 / 5) * Math.abs(2 / 3 - 0.95), 12);
    expect(bins[9]).toMatchObject({ count: 3, positiveRate: 2 / 3 });
    expect(bins[0]).toMatchObject({ count: 2, meanScore: 0.05, positiveRate: 0.5 });
    expect(bins[4]).toMatchObject({ count: 0, meanScore: null });
  });

  it('quantiles and percentiles are nearest-rank', () => {
    const s = sortedCopy([5, 1, 4, 2, 3]);
    expect(quantileSorted(s, 0.5)).toBe(3);
    expect(quantileSorted(s, 0.2)).toBe(1);
    expect(quantileSorted(s, 0.21)).toBe(2);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 99)).toBe(100);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 50)).toBe(50);
  });
});

describe('against scikit-learn on the reference dataset', () => {
  const opts = { fixedFpr: 0.1, operatingThreshold: 0.5 };

  it('matches roc_auc_score, average_precision_score, log_loss, brier_score_loss, recall at FPR and ECE', () => {
    const ma = binaryMetrics(a, y, opts);
    const mb = binaryMetrics(b, y, opts);
    expect(ma.n).toBe(200);
    expect(ma.positives).toBe(69);
    expect(ma.values.auc).toBeCloseTo(0.808496515101228, 12);
    expect(mb.values.auc).toBeCloseTo(0.8143046797212081, 12);
    expect(ma.values.pr_auc).toBeCloseTo(0.7321068522560887, 12);
    expect(mb.values.pr_auc).toBeCloseTo(0.7467325660003122, 12);
    expect(ma.values.log_loss).toBeCloseTo(0.5270060496923697, 12);
    expect(mb.values.log_loss).toBeCloseTo(0.49441856088784475, 12);
    expect(ma.values.brier).toBeCloseTo(0.1765475, 12);
    expect(mb.values.brier).toBeCloseTo(0.1678375, 12);
    expect(ma.values.recall_at_fpr).toBeCloseTo(0.5217391304347826, 12);
    expect(ma.atFpr?.threshold).toBe(0.59);
    expect(mb.values.recall_at_fpr).toBeCloseTo(0.4927536231884058, 12);
    expect(mb.atFpr?.threshold).toBe(0.62);
    expect(ma.values.ece).toBeCloseTo(0.12345, 12);
    expect(mb.values.ece).toBeCloseTo(0.13135, 12);
    expect(ma.values.recall_at_threshold).toBeCloseTo(0.6956521739130435, 12);
    expect(mb.values.recall_at_threshold).toBeCloseTo(0.6666666666666666, 12);
  });

  it('matches the paired DeLong test (fast DeLong, Sun & Xu)', () => {
    const d = delongPaired(a, b, y)!;
    expect(d.aucA).toBeCloseTo(0.8084965151012281, 12);
    expect(d.aucB).toBeCloseTo(0.814304679721208, 12);
    expect(d.delta).toBeCloseTo(-0.005808164619979905, 12);
    expect(d.se).toBeCloseTo(0.018438914083172445, 12);
    expect(d.ciLow).toBeCloseTo(-0.04194777213702629, 12);
    expect(d.ciHigh).toBeCloseTo(0.030331442897066477, 12);
    expect(d.pValue).toBeCloseTo(0.7527654963818317, 6);
  });

  it('DeLong of a model against itself is zero with a zero-width interval', () => {
    const d = delongPaired(a, a, y)!;
    expect(d.delta).toBe(0);
    expect(d.se).toBe(0);
    expect(d.pValue).toBe(1);
    expect(delongPaired([0.1, 0.2], [0.2, 0.1], [1, 0])).toBeNull();
  });

  it('matches scipy ks_2samp and the numpy PSI', () => {
    const sa = sortedCopy(a);
    const sb = sortedCopy(b);
    expect(ks(sa, sb)).toBeCloseTo(0.095, 12);
    const p = psi(sb, sa);
    expect(p.edges).toEqual([0.08, 0.19, 0.29, 0.37, 0.43, 0.5, 0.56, 0.64, 0.76]);
    const close = (got: number[], want: number[]) => want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 12));
    close(p.expected, [0.1, 0.1, 0.11, 0.105, 0.085, 0.11, 0.09, 0.1, 0.1, 0.1]);
    close(p.actual, [0.03, 0.075, 0.14, 0.125, 0.125, 0.11, 0.125, 0.11, 0.1, 0.06]);
    expect(p.psi).toBeCloseTo(0.1505023458866958, 12);
  });
});

describe('distribution shift, by hand', () => {
  it('PSI is 0 for identical distributions and merges tied decile edges', () => {
    const s = sortedCopy([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5, 0.9]);
    const p = psi(s, s);
    expect(p.psi).toBe(0);
    expect(p.edges).toEqual([0.1, 0.5]);
    expect(p.expected).toEqual([0.8, 0.1, 0.1]);
  });

  it('PSI floors empty bins at 1e-4 instead of going infinite', () => {
    const e = sortedCopy([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
    const p = psi(e, sortedCopy([0.05, 0.05]));
    // all of `actual` in bin 0 (share 1 vs 0.1), nine bins at 0 → floor 1e-4 vs 0.1
    const want = (1 - 0.1) * Math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1);
    expect(p.psi).toBeCloseTo(want, 12);
  });

  it('KS of disjoint samples is 1, of equal samples 0', () => {
    expect(ks(sortedCopy([1, 2, 3]), sortedCopy([4, 5]))).toBe(1);
    expect(ks(sortedCopy([1, 2, 2, 3]), sortedCopy([3, 2, 1, 2]))).toBe(0);
    expect(ks(sortedCopy([1, 2, 3, 4]), sortedCopy([1, 2]))).toBe(0.5);
  });
});
