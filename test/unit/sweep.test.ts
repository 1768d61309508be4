import { describe, expect, it } from 'vitest';
import { pickBest, planTrials } from '../../lib/core/sweep';

describe('sweep planning', () => {
  it('no sweep: one trial with the base params', () => {
    expect(planTrials({ rounds: 100 }, undefined, 1)).toEqual([{ index: 0, params: { rounds: 100 } }]);
  });

  it('expands the grid over the base params, in a stable order', () => {
    const t = planTrials(
      { rounds: 100, learning_rate: 0.05 },
      { params: { learning_rate: [0.03, 0.1], num_leaves: [31, 63] }, max_trials: 8 },
      1,
    );
    expect(t.map((x) => x.params)).toEqual([
      { rounds: 100, learning_rate: 0.03, num_leaves: 31 },
      { rounds: 100, learning_rate: 0.03, num_leaves: 63 },
      { rounds: 100, learning_rate: 0.1, num_leaves: 31 },
      { rounds: 100, learning_rate: 0.1, num_leaves: 63 },
    ]);
    expect(t.map((x) => x.index)).toEqual([0, 1, 2, 3]);
  });

  it('caps the grid at max_trials with a seeded, reproducible choice', () => {
    const sweep = { params: { a: [1, 2, 3, 4], b: ['x', 'y', 'z'] }, max_trials: 5 };
    const one = planTrials({}, sweep, 42);
    expect(one).toHaveLength(5);
    expect(planTrials({}, sweep, 42)).toEqual(one);
    expect(new Set(one.map((t) => JSON.stringify(t.params))).size).toBe(5);
    expect(planTrials({}, sweep, 7).map((t) => t.params)).not.toEqual(one.map((t) => t.params));
  });

  it('picks the best trial by the metric and goal; trials without it never win', () => {
    const trials = [
      { id: 'a', metrics: { valid_auc: 0.91, valid_logloss: 0.2 } },
      { id: 'b', metrics: { valid_auc: 0.93, valid_logloss: 0.25 } },
      { id: 'c', metrics: { valid_auc: null, valid_logloss: 0.1 } },
    ];
    expect(pickBest(trials, 'valid_auc', 'maximize')?.id).toBe('b');
    expect(pickBest(trials, 'valid_logloss', 'minimize')?.id).toBe('c');
    expect(pickBest(trials, 'missing', 'maximize')).toBeUndefined();
  });
});
