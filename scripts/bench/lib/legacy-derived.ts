/**
 * Derived features as mlo computed them before its expression language, for the closed set of
 * forms it had (log1p, hour_of_day, day_of_week of a column; a column == or != a column or a
 * literal): the reference of the bit-identity test and of the `derived` benchmark.
 */
import type { Table } from 'apache-arrow';
import { codedColumn, numericColumn, timestampMs } from '../../../lib/features/arrow-io';
import type { LegacyDerived } from '../../../lib/features/featureset';

const DAY = 86_400_000;

export function legacyDerived(table: Table, e: LegacyDerived): Float64Array {
  const n = table.numRows;
  const out = new Float64Array(n);
  const col = (name: string) => table.getChild(name)!;
  if ('column' in e && e.op === 'log1p') {
    const x = numericColumn(col(e.column), 'w', e.column);
    for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]!);
  } else if ('column' in e) {
    const x = timestampMs(col(e.column), 'w', e.column);
    if (e.op === 'hour_of_day')
      for (let i = 0; i < n; i++) out[i] = Math.floor((((x[i]! % DAY) + DAY) % DAY) / 3_600_000);
    else for (let i = 0; i < n; i++) out[i] = (Math.floor(x[i]! / DAY) + 4) % 7;
  } else {
    const left = codedColumn(col(e.left), 'w', e.left);
    const eq = e.op === 'eq';
    if ('column' in e.right) {
      const right = codedColumn(col(e.right.column), 'w', e.right.column);
      const leftIndex = new Map(left.dict.map((s, k) => [s, k]));
      const tr = new Int32Array(right.dict.length).map((_, k) => leftIndex.get(right.dict[k]!) ?? -2);
      for (let i = 0; i < n; i++) {
        const l = left.codes[i]!;
        const r = right.codes[i]!;
        out[i] = l < 0 || r < 0 ? NaN : (l === tr[r]) === eq ? 1 : 0;
      }
    } else {
      const code = left.dict.indexOf(String(e.right.literal));
      for (let i = 0; i < n; i++) {
        const l = left.codes[i]!;
        out[i] = l < 0 ? NaN : (l === code) === eq ? 1 : 0;
      }
    }
  }
  return out;
}
