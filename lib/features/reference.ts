/**
 * A deliberately simple, brute-force implementation of the windowed-feature semantics of
 * kernel.ts, written straight from the definition: for every target row, scan every row of
 * the same entity and keep those with tᵢ − W ≤ t_j < tᵢ. O(n²) per entity; for tests only.
 *
 * Sums are compensated (Neumaier) so the reference is not the less accurate side of a
 * comparison; std is two-pass (mean first, then squared deviations) on values shifted by the first one.
 */
import {
  type AggSpec,
  type FeatureColumns,
  type KernelInput,
  emptyValue,
  resolveTargets,
  validateAggSpecs,
} from './kernel';

function compensatedSum(xs: readonly number[]): number {
  let s = 0;
  let c = 0;
  for (const x of xs) {
    const t = s + x;
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    s = t;
  }
  return s + c;
}

function aggregate(spec: AggSpec, input: KernelInput, ti: number, history: readonly number[]): number {
  const { ts } = input;
  const values = (spec.of !== undefined ? input.values?.[spec.of] : undefined) ?? new Float64Array(0);
  const nonNull = history.map((j) => values[j]!).filter((x) => !Number.isNaN(x));
  switch (spec.fn) {
    case 'count':
      return history.length;
    case 'sum':
      return nonNull.length === 0 ? 0 : compensatedSum(nonNull);
    case 'mean':
      return nonNull.length === 0 ? NaN : compensatedSum(nonNull) / nonNull.length;
    case 'min':
      return nonNull.length === 0 ? NaN : nonNull.reduce((m, x) => (x < m ? x : m));
    case 'max':
      return nonNull.length === 0 ? NaN : nonNull.reduce((m, x) => (x > m ? x : m));
    case 'std': {
      const n = nonNull.length;
      if (n < 2) return NaN;
      if (nonNull.every((x) => x === nonNull[0])) return 0;
      // Two-pass on values shifted by the first one (exact for values of similar magnitude),
      // so a large common level (1e9 + tiny noise) does not swamp the deviations.
      const shifted = nonNull.map((x) => x - nonNull[0]!);
      const mean = compensatedSum(shifted) / n;
      return Math.sqrt(compensatedSum(shifted.map((d) => (d - mean) ** 2)) / (n - 1));
    }
    case 'count_distinct': {
      const ids = input.ids?.[spec.of!] ?? new Int32Array(0);
      return new Set(history.map((j) => ids[j]!).filter((id) => id >= 0)).size;
    }
    case 'time_since_prev':
      return history.length === 0 ? NaN : ti - history.reduce((m, j) => Math.max(m, ts[j]!), -Infinity);
  }
}

/** Same contract as computeWindowedFeatures, computed by brute force. */
export function computeWindowedFeaturesReference(input: KernelInput, aggs: readonly AggSpec[]): FeatureColumns {
  validateAggSpecs(aggs, { values: Object.keys(input.values ?? {}), ids: Object.keys(input.ids ?? {}) });
  const { selection } = resolveTargets(input);
  const { ts, key } = input;
  const isValid = (i: number): boolean => key[i]! >= 0 && Number.isFinite(ts[i]!);

  const rowsByKey = new Map<number, number[]>();
  for (let j = 0; j < ts.length; j++) {
    if (!isValid(j)) continue;
    const rows = rowsByKey.get(key[j]!) ?? [];
    rows.push(j);
    rowsByKey.set(key[j]!, rows);
  }

  const targets: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    const isTarget = selection.kind === 'range' ? i >= selection.start && i < selection.end : selection.mask[i] !== 0;
    if (isTarget) targets.push(i);
  }

  const cols = aggs.map(() => new Float64Array(targets.length));
  targets.forEach((i, o) => {
    const valid = isValid(i);
    const ti = ts[i]!;
    const entityRows = valid ? (rowsByKey.get(key[i]!) ?? []) : [];
    const historyByWindow = new Map<number, number[]>();
    aggs.forEach((spec, a) => {
      if (!valid) {
        cols[a]![o] = emptyValue(spec.fn);
        return;
      }
      const w = spec.windowMs ?? Infinity;
      let history = historyByWindow.get(w);
      if (!history) historyByWindow.set(w, (history = entityRows.filter((j) => ts[j]! >= ti - w && ts[j]! < ti)));
      cols[a]![o] = aggregate(spec, input, ti, history);
    });
  });
  return Object.fromEntries(aggs.map((spec, a) => [spec.name, cols[a]!]));
}
