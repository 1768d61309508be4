/**
 * Shadow scoring's arithmetic: agreement and block rates at the threshold, PSI/KS wiring,
 * latency percentiles, the top-N disagreements heap, and the no-champion case.
 */
import { describe, expect, it } from 'vitest';
import { shadowScores, TopDisagreements, type Disagreement } from '../../lib/eval/shadow';

const d = (delta: number, id: number): Disagreement => ({
  id,
  ts: null,
  day: '2025-01-01',
  candidate: 0.5 + delta / 2,
  champion: 0.5 - delta / 2,
  delta,
});

describe('TopDisagreements', () => {
  it('keeps the N largest |Δ|, largest first, whatever the order they arrive in', () => {
    const top = new TopDisagreements(3);
    const deltas = [0.1, -0.9, 0.3, 0.05, 0.8, -0.2, 0.85, -0.01];
    deltas.forEach((x, i) => top.offer(d(x, i)));
    expect(top.sorted().map((t) => t.delta)).toEqual([-0.9, 0.85, 0.8]);
    expect(top.wants(0.79)).toBe(false);
    expect(top.wants(0.81)).toBe(true);
    expect(new TopDisagreements(0).wants(1)).toBe(false);
  });
});

describe('shadowScores', () => {
  it('agreement, block rates and their change at the threshold; flips both ways', () => {
    const champion = Float64Array.from([0.1, 0.6, 0.7, 0.2, 0.9, 0.3]);
    const candidate = Float64Array.from([0.2, 0.4, 0.8, 0.6, 0.95, 0.5]);
    const r = shadowScores({
      candidate,
      champion,
      threshold: 0.5,
      latencyMs: { candidate: [3, 1, 2, 10], champion: [1, 1, 1, 1] },
      batchRows: [2, 2, 1, 1],
      gates: ['block_rate_delta <= 0.1', 'agreement >= 0.5'],
      top: [],
    });
    // champion blocks rows 1, 2, 4; candidate blocks 2, 3, 4, 5
    expect(r.champion!.blockRate).toBeCloseTo(3 / 6, 15);
    expect(r.candidate.blockRate).toBeCloseTo(4 / 6, 15);
    expect(r.blockRateDelta).toBeCloseTo(1 / 6, 15);
    expect(r.agreement).toBeCloseTo(3 / 6, 15);
    expect(r.flips).toEqual({ newlyBlocked: 2, newlyAllowed: 1 });
    expect(r.gates.map((g) => g.status)).toEqual(['fail', 'pass']);
    expect(r.passed).toBe(false);
    expect(r.latency.candidate).toMatchObject({ batches: 4, p50: 2, p99: 10, max: 10 });
    expect(r.latency.candidate.meanRowsPerSecond).toBeCloseTo((6 / 16) * 1000, 12);
    expect(r.psi!.psi).toBeGreaterThan(0);
    expect(r.ks).toBeCloseTo(1 / 3, 12);
  });

  it('identical models: no shift, full agreement', () => {
    const x = Float64Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 1000);
    const r = shadowScores({
      candidate: x,
      champion: x.slice(),
      threshold: 0.9,
      latencyMs: { candidate: [1], champion: [1] },
      batchRows: [1000],
      gates: ['psi <= 0.01', 'block_rate_delta <= 0'],
      top: [],
    });
    expect(r.psi!.psi).toBe(0);
    expect(r.ks).toBe(0);
    expect(r.agreement).toBe(1);
    expect(r.passed).toBe(true);
  });

  it('without a champion: the candidate distribution alone, comparisons n/a', () => {
    const x = Float64Array.from([0.1, 0.2, 0.7]);
    const r = shadowScores({
      candidate: x,
      champion: null,
      threshold: 0.5,
      latencyMs: { candidate: [2, 4], champion: null },
      batchRows: [2, 1],
      gates: ['psi <= 0.2', 'block_rate <= 0.5'],
      top: [],
    });
    expect(r.champion).toBeNull();
    expect(r.psi).toBeNull();
    expect(r.agreement).toBeNull();
    expect(r.candidate.blockRate).toBeCloseTo(1 / 3, 15);
    expect(r.candidate.quantiles.p50).toBe(0.2);
    expect(r.gates.map((g) => g.status)).toEqual(['n/a', 'pass']);
    expect(r.passed).toBe(true);
  });
});
