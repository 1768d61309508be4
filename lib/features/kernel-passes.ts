/**
 * The sliding-window passes of the feature kernel. Each pass walks every active entity
 * group of a {@link Layout} once for one window length and writes the outputs of the
 * target rows; all state lives in local numbers and reused typed arrays.
 *
 * Shared walk (one group [a, b), first/last target positions ft/lt):
 *  - positions are visited run by run, a run being the positions with one equal timestamp t;
 *    because the group is time-sorted, "events strictly before t" are exactly the positions
 *    before the run's start p;
 *  - the window of the run is [l, p) with l the first position whose timestamp is >= t − W;
 *    the right edge only moves to p (adding positions) and l only moves forward
 *    (removing positions), so each position is added and removed at most once;
 *  - the walk starts at the run of the first target, with l = r = lowerBound(t − W), so
 *    lookback rows older than the window of the first target are never touched, and stops
 *    after the run of the last target.
 */
import { type Layout } from './kernel-layout';

/** Below this ratio of M2 to the shifted sum of squares, the variance is recomputed two-pass. */
const CANCELLATION_RATIO = 2 ** -24;
/**
 * Below this ratio of M2 to the largest sum of squares the accumulator has held since the
 * shift was last anchored, it is recomputed too: a compensated sum still carries an error of
 * about ops·eps²·(largest partial sum), which matters once a huge outlier has passed through.
 */
const PEAK_RATIO = 2 ** -36;

/** First position in [lo, hi) whose timestamp is >= x, or hi. `sts` ascending on [lo, hi). */
export function lowerBound(sts: Float64Array, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sts[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Start of the run of equal timestamps that contains position `p` (not before `a`). */
function runStart(sts: Float64Array, a: number, p: number): number {
  const t = sts[p]!;
  while (p > a && sts[p - 1] === t) p--;
  return p;
}

/** count: events (any value, null or not) of the entity in [t − W, t). */
export function countPass(L: Layout, windowMs: number, out: Float64Array): void {
  const { sts, outIdx, groups, numGroups } = L;
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let rs = runStart(sts, a, ft);
    let l = lowerBound(sts, a, rs, sts[ft]! - windowMs);
    for (let k = ft; k <= lt; k++) {
      const t = sts[k]!;
      if (k > rs && t !== sts[k - 1]) rs = k;
      const o = outIdx[k]!;
      if (o < 0) continue;
      // sts[rs] = t >= t − W, so l never passes rs.
      const lb = t - windowMs;
      while (sts[l]! < lb) l++;
      out[o] = rs - l;
    }
  }
}

/** time_since_prev: t minus the latest event time of the entity in [t − W, t) (W may be Infinity). */
export function timeSincePass(L: Layout, windowMs: number, out: Float64Array): void {
  const { sts, outIdx, groups, numGroups } = L;
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let rs = runStart(sts, a, ft);
    for (let k = ft; k <= lt; k++) {
      const t = sts[k]!;
      if (k > rs && t !== sts[k - 1]) rs = k;
      const o = outIdx[k]!;
      if (o < 0 || rs === a) continue; // no earlier event: stays NaN
      const prev = sts[rs - 1]!;
      if (prev >= t - windowMs) out[o] = t - prev;
    }
  }
}

/**
 * sum and mean of one value column: a Neumaier-compensated running sum (add on entry,
 * subtract on exit), reset to an exact 0 whenever the window holds no non-null value.
 * sum is 0 and mean NaN when the window has no non-null value.
 */
export function sumPass(
  L: Layout,
  windowMs: number,
  sv: Float64Array,
  oSum: Float64Array | null,
  oMean: Float64Array | null,
): void {
  const { sts, outIdx, groups, numGroups } = L;
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const b = groups[4 * g + 1]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let p = runStart(sts, a, ft);
    let l = lowerBound(sts, a, p, sts[p]! - windowMs);
    let r = l;
    let nn = 0; // non-null values in the window
    let s = 0; // the sum is s + c
    let c = 0;
    while (p <= lt) {
      const t = sts[p]!;
      let q = p + 1;
      while (q < b && sts[q] === t) q++;
      for (; r < p; r++) {
        const x = sv[r]!;
        if (x !== x) continue; // null
        nn++;
        const u = s + x;
        if (Math.abs(s) >= Math.abs(x)) c += s - u + x;
        else c += x - u + s;
        s = u;
      }
      const lb = t - windowMs;
      for (; sts[l]! < lb; l++) {
        const x = sv[l]!;
        if (x !== x) continue;
        nn--;
        if (nn === 0) {
          s = 0;
          c = 0;
          continue;
        }
        const u = s - x;
        if (Math.abs(s) >= Math.abs(x)) c += s - u - x;
        else c += s - (u + x);
        s = u;
      }
      const vSum = nn > 0 ? s + c : 0;
      const vMean = nn > 0 ? (s + c) / nn : NaN;
      for (let k = p; k < q; k++) {
        const o = outIdx[k]!;
        if (o < 0) continue;
        if (oSum !== null) oSum[o] = vSum;
        if (oMean !== null) oMean[o] = vMean;
      }
      p = q;
    }
  }
}

/**
 * min of one value column over one window, with a monotonic deque of positions (`dq`, sized
 * to the largest group); NaN when the window has no non-null value. For max, pass the
 * negated column and `sign` = -1.
 */
export function minPass(
  L: Layout,
  windowMs: number,
  sv: Float64Array,
  sign: 1 | -1,
  out: Float64Array,
  dq: Int32Array,
): void {
  const { sts, outIdx, groups, numGroups } = L;
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const b = groups[4 * g + 1]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let p = runStart(sts, a, ft);
    let l = lowerBound(sts, a, p, sts[p]! - windowMs);
    let r = l;
    let head = 0;
    let tail = 0;
    while (p <= lt) {
      const t = sts[p]!;
      let q = p + 1;
      while (q < b && sts[q] === t) q++;
      for (; r < p; r++) {
        const x = sv[r]!;
        if (x !== x) continue;
        while (tail > head && sv[dq[tail - 1]!]! >= x) tail--;
        dq[tail++] = r;
      }
      const lb = t - windowMs;
      while (sts[l]! < lb) l++;
      while (head < tail && dq[head]! < l) head++;
      const v = head < tail ? sign * sv[dq[head]!]! : NaN;
      for (let k = p; k < q; k++) {
        const o = outIdx[k]!;
        if (o >= 0) out[o] = v;
      }
      p = q;
    }
  }
}

/** Two-pass sample M2 over the non-null values of [l, p), shifted by their mean; returns [K, S, Q]. */
function recomputeShifted(sv: Float64Array, l: number, p: number, nn: number, res: Float64Array): void {
  let ms = 0;
  let mc = 0;
  for (let i = l; i < p; i++) {
    const x = sv[i]!;
    if (x !== x) continue;
    const u = ms + x;
    if (Math.abs(ms) >= Math.abs(x)) mc += ms - u + x;
    else mc += x - u + ms;
    ms = u;
  }
  const K = (ms + mc) / nn;
  let S = 0;
  let Sc = 0;
  let Q = 0;
  let Qc = 0;
  for (let i = l; i < p; i++) {
    const x = sv[i]!;
    if (x !== x) continue;
    const d = x - K;
    let u = S + d;
    if (Math.abs(S) >= Math.abs(d)) Sc += S - u + d;
    else Sc += d - u + S;
    S = u;
    const d2 = d * d;
    u = Q + d2;
    if (Q >= d2) Qc += Q - u + d2;
    else Qc += d2 - u + Q;
    Q = u;
  }
  res[0] = K;
  res[1] = S + Sc;
  res[2] = Q + Qc;
}

/**
 * Sample standard deviation (divisor n − 1) of one value column over one window; NaN for
 * fewer than 2 non-null values.
 *
 * Compensated running sums of d = x − K and d² for a shift K. The window is known to be
 * constant when no two of its non-null values differ (tracked in O(1): the position of the
 * last value that differed from the current run of equal values); then std is exactly 0 and K
 * is re-anchored to that value with exact zero sums. When M2 = Σd² − (Σd)²/n has lost too
 * many bits to cancellation (M2 < 2⁻²⁴·Σd²), or is tiny next to the largest Σd² held since the
 * last anchoring (an outlier passed through), the window is recomputed two-pass and K
 * re-anchored at its mean, so the result stays accurate whatever the level of the values.
 */
export function stdPass(L: Layout, windowMs: number, sv: Float64Array, out: Float64Array): void {
  const { sts, outIdx, groups, numGroups } = L;
  const res = new Float64Array(3);
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const b = groups[4 * g + 1]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let p = runStart(sts, a, ft);
    let l = lowerBound(sts, a, p, sts[p]! - windowMs);
    let r = l;
    let nn = 0;
    let hasK = false;
    let K = 0;
    let S = 0; // Σd = S + Sc
    let Sc = 0;
    let Q = 0; // Σd² = Q + Qc
    let Qc = 0;
    let qPeak = 0; // largest Q since K was anchored
    let lastVal = 0; // latest non-null value added
    let lastPos = -1; // its position
    let diffPos = -1; // last non-null position before the current run of values equal to lastVal
    while (p <= lt) {
      const t = sts[p]!;
      let q = p + 1;
      while (q < b && sts[q] === t) q++;
      for (; r < p; r++) {
        const x = sv[r]!;
        if (x !== x) continue;
        nn++;
        if (!hasK) {
          K = x;
          hasK = true;
        }
        const d = x - K;
        let u = S + d;
        if (Math.abs(S) >= Math.abs(d)) Sc += S - u + d;
        else Sc += d - u + S;
        S = u;
        const d2 = d * d;
        u = Q + d2;
        if (Math.abs(Q) >= d2) Qc += Q - u + d2;
        else Qc += d2 - u + Q;
        Q = u;
        if (Q > qPeak) qPeak = Q;
        if (lastPos >= 0 && x !== lastVal) diffPos = lastPos;
        lastVal = x;
        lastPos = r;
      }
      const lb = t - windowMs;
      for (; sts[l]! < lb; l++) {
        const x = sv[l]!;
        if (x !== x) continue;
        nn--;
        if (nn === 0) {
          S = Sc = Q = Qc = qPeak = 0;
          hasK = false;
          continue;
        }
        const d = x - K;
        let u = S - d;
        if (Math.abs(S) >= Math.abs(d)) Sc += S - u - d;
        else Sc += S - (u + d);
        S = u;
        const d2 = d * d;
        u = Q - d2;
        if (Math.abs(Q) >= d2) Qc += Q - u - d2;
        else Qc += Q - (u + d2);
        Q = u;
      }

      let k = p;
      while (k < q && outIdx[k]! < 0) k++;
      if (k < q) {
        let v = NaN;
        if (nn >= 2) {
          if (diffPos < l) {
            // Every non-null value in the window equals lastVal: exactly 0, and re-anchor.
            v = 0;
            K = lastVal;
            S = Sc = Q = Qc = qPeak = 0;
          } else {
            const Sv = S + Sc;
            const Qv = Q + Qc;
            let m2 = Qv - (Sv * Sv) / nn;
            if (!(m2 > Qv * CANCELLATION_RATIO) || m2 < qPeak * PEAK_RATIO) {
              recomputeShifted(sv, l, p, nn, res);
              K = res[0]!;
              S = res[1]!;
              Q = res[2]!;
              Sc = Qc = 0;
              qPeak = Q;
              m2 = Q - (S * S) / nn;
            }
            v = m2 > 0 ? Math.sqrt(m2 / (nn - 1)) : 0;
          }
        }
        for (; k < q; k++) {
          const o = outIdx[k]!;
          if (o >= 0) out[o] = v;
        }
      }
      p = q;
    }
  }
}

/**
 * count_distinct of one id column over one window. `sid` holds dense ids per sorted position
 * (-1: null, not counted); `cnt` is a zeroed counter per dense id, left zeroed on return.
 */
export function distinctPass(L: Layout, windowMs: number, sid: Int32Array, cnt: Int32Array, out: Float64Array): void {
  const { sts, outIdx, groups, numGroups } = L;
  for (let g = 0; g < numGroups; g++) {
    const a = groups[4 * g]!;
    const b = groups[4 * g + 1]!;
    const ft = groups[4 * g + 2]!;
    const lt = groups[4 * g + 3]!;
    let p = runStart(sts, a, ft);
    let l = lowerBound(sts, a, p, sts[p]! - windowMs);
    let r = l;
    let distinct = 0;
    while (p <= lt) {
      const t = sts[p]!;
      let q = p + 1;
      while (q < b && sts[q] === t) q++;
      for (; r < p; r++) {
        const id = sid[r]!;
        if (id < 0) continue;
        const c = cnt[id]!;
        cnt[id] = c + 1;
        if (c === 0) distinct++;
      }
      const lb = t - windowMs;
      for (; sts[l]! < lb; l++) {
        const id = sid[l]!;
        if (id < 0) continue;
        const c = cnt[id]! - 1;
        cnt[id] = c;
        if (c === 0) distinct--;
      }
      for (let k = p; k < q; k++) {
        const o = outIdx[k]!;
        if (o >= 0) out[o] = distinct;
      }
      p = q;
    }
    for (let k = l; k < r; k++) {
      const id = sid[k]!;
      if (id >= 0) cnt[id] = 0;
    }
  }
}
