/**
 * Shadow scoring's arithmetic, free of I/O: champion and candidate scores on the same recent
 * events → distribution shift (PSI over the champion's deciles, KS), decision agreement and
 * block rates at the operating threshold, latency percentiles, the events on which the two
 * disagree most, and the shadow gates.
 */
import { gatesPassed, shadowGates, type GateResult } from './gates';
import { histogram01, ks, percentile, psi, quantileSorted, sortedCopy, type PsiResult } from './metrics';

export type Disagreement = {
  id: string | number | null;
  ts: string | null;
  day: string;
  candidate: number;
  champion: number;
  delta: number;
};

/** The N largest |candidate − champion|, kept in a min-heap while the events stream by. */
export class TopDisagreements {
  private heap: Disagreement[] = [];
  constructor(readonly size: number) {}

  /** Whether an event with this |Δ| would enter (saves resolving its id otherwise). */
  wants(absDelta: number): boolean {
    return this.size > 0 && (this.heap.length < this.size || absDelta > Math.abs(this.heap[0]!.delta));
  }

  offer(d: Disagreement): void {
    if (!this.wants(Math.abs(d.delta))) return;
    const h = this.heap;
    if (h.length < this.size) {
      h.push(d);
      let i = h.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (Math.abs(h[p]!.delta) <= Math.abs(h[i]!.delta)) break;
        [h[p], h[i]] = [h[i]!, h[p]!];
        i = p;
      }
      return;
    }
    h[0] = d;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && Math.abs(h[l]!.delta) < Math.abs(h[m]!.delta)) m = l;
      if (r < h.length && Math.abs(h[r]!.delta) < Math.abs(h[m]!.delta)) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }

  /** Largest |Δ| first. */
  sorted(): Disagreement[] {
    return [...this.heap].sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta));
  }
}

export type Distribution = {
  mean: number;
  quantiles: Record<'p01' | 'p10' | 'p50' | 'p90' | 'p99', number>;
  blockRate: number;
  histogram: number[];
};
export type Latency = { batches: number; p50: number; p99: number; max: number; meanRowsPerSecond: number };

export type ShadowInputs = {
  candidate: Float64Array;
  champion: Float64Array | null;
  threshold: number;
  latencyMs: { candidate: number[]; champion: number[] | null };
  batchRows: number[];
  gates: string[];
  top: Disagreement[];
};

export type ShadowResult = {
  n: number;
  threshold: number;
  candidate: Distribution;
  champion: Distribution | null;
  psi: PsiResult | null;
  ks: number | null;
  agreement: number | null;
  blockRateDelta: number | null;
  /** Events the candidate blocks and the champion lets through, and the reverse. */
  flips: { newlyBlocked: number; newlyAllowed: number } | null;
  latency: { candidate: Latency; champion: Latency | null };
  top: Disagreement[];
  gates: GateResult[];
  passed: boolean;
  histogramBins: number;
};

const BINS = 50;

function distribution(x: Float64Array, sorted: Float64Array, threshold: number): Distribution {
  let sum = 0;
  let blocked = 0;
  for (let i = 0; i < x.length; i++) {
    sum += x[i]!;
    if (x[i]! >= threshold) blocked++;
  }
  const q = (p: number) => quantileSorted(sorted, p);
  return {
    mean: x.length > 0 ? sum / x.length : NaN,
    quantiles: { p01: q(0.01), p10: q(0.1), p50: q(0.5), p90: q(0.9), p99: q(0.99) },
    blockRate: x.length > 0 ? blocked / x.length : 0,
    histogram: histogram01(x, BINS),
  };
}

function latency(ms: number[], rows: number[]): Latency {
  const total = ms.reduce((a, b) => a + b, 0);
  const n = rows.reduce((a, b) => a + b, 0);
  return {
    batches: ms.length,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.length > 0 ? Math.max(...ms) : NaN,
    meanRowsPerSecond: total > 0 ? (n / total) * 1000 : NaN,
  };
}

export function shadowScores(x: ShadowInputs): ShadowResult {
  const n = x.candidate.length;
  const cs = sortedCopy(x.candidate);
  const candidate = distribution(x.candidate, cs, x.threshold);
  let champion: Distribution | null = null;
  let p: PsiResult | null = null;
  let k: number | null = null;
  let agreement: number | null = null;
  let flips: ShadowResult['flips'] = null;
  if (x.champion) {
    const hs = sortedCopy(x.champion);
    champion = distribution(x.champion, hs, x.threshold);
    p = psi(hs, cs);
    k = ks(hs, cs);
    let agree = 0;
    let newlyBlocked = 0;
    let newlyAllowed = 0;
    for (let i = 0; i < n; i++) {
      const a = x.candidate[i]! >= x.threshold;
      const b = x.champion[i]! >= x.threshold;
      if (a === b) agree++;
      else if (a) newlyBlocked++;
      else newlyAllowed++;
    }
    agreement = n > 0 ? agree / n : null;
    flips = { newlyBlocked, newlyAllowed };
  }
  const lat = {
    candidate: latency(x.latencyMs.candidate, x.batchRows),
    champion: x.latencyMs.champion ? latency(x.latencyMs.champion, x.batchRows) : null,
  };
  const gates = shadowGates(x.gates, {
    hasChampion: champion !== null,
    psi: p ? p.psi : null,
    ks: k,
    agreement,
    block_rate: candidate.blockRate,
    champion_block_rate: champion ? champion.blockRate : null,
    candidate_p99_ms: lat.candidate.p99,
    champion_p99_ms: lat.champion ? lat.champion.p99 : null,
  });
  return {
    n,
    threshold: x.threshold,
    candidate,
    champion,
    psi: p,
    ks: k,
    agreement,
    blockRateDelta: champion ? candidate.blockRate - champion.blockRate : null,
    flips,
    latency: lat,
    top: x.top,
    gates,
    passed: gatesPassed(gates),
    histogramBins: BINS,
  };
}
