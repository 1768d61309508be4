/**
 * Sweep planning: a model spec's small search space expanded into trials, deterministically
 * (the same spec always gives the same trials in the same order). Pure: used by workflows.
 */
export type ParamValue = string | number | boolean;
export type Trial = { index: number; params: Record<string, ParamValue> };

type SweepSpec = { params: Record<string, ParamValue[]>; max_trials: number };

/** A small seeded PRNG (mulberry32) so trial selection is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function planTrials(base: Record<string, ParamValue>, sweep: SweepSpec | undefined, seed: number): Trial[] {
  if (!sweep) return [{ index: 0, params: { ...base } }];
  const keys = Object.keys(sweep.params).sort();
  let combos: Record<string, ParamValue>[] = [{}];
  for (const k of keys) combos = combos.flatMap((c) => (sweep.params[k] ?? []).map((v) => ({ ...c, [k]: v })));
  if (combos.length > sweep.max_trials) {
    const r = rng(seed);
    for (let i = combos.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [combos[i], combos[j]] = [combos[j] as Record<string, ParamValue>, combos[i] as Record<string, ParamValue>];
    }
    combos = combos.slice(0, sweep.max_trials);
  }
  return combos.map((c, index) => ({ index, params: { ...base, ...c } }));
}

/** The best trial by a metric; trials without the metric never win. */
export function pickBest<T extends { metrics: Record<string, number | null> }>(
  trials: T[],
  metric: string,
  goal: 'maximize' | 'minimize',
): T | undefined {
  let best: T | undefined;
  for (const t of trials) {
    const v = t.metrics[metric];
    if (typeof v !== 'number' || Number.isNaN(v)) continue;
    const b = best?.metrics[metric];
    if (best === undefined || typeof b !== 'number' || (goal === 'maximize' ? v > b : v < b)) best = t;
  }
  return best;
}
