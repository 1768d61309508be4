/**
 * Data gates (`data.gates`, lib/spec/data-gates.ts) judged on a feature snapshot's manifest: per
 * day partition, the gate's value against its threshold. A value that cannot be computed (a column
 * without statistics) fails: a gate never passes on no evidence. A trailing-median gate on a day
 * with no earlier day in its window is n/a.
 */
import { BadInputError } from '../core/errors';
import type { FeatureSnapshotPartition } from '../features/manifest';
import { parseDataGate, type DataGate, type DataMetric } from '../spec/data-gates';
import { addDays } from '../core/windows';

export type DataGateResult = {
  gate: string;
  day: string;
  value: number | null;
  /** The threshold the value was held to (factor × median for a trailing gate). */
  threshold: number | null;
  status: 'pass' | 'fail' | 'n/a';
  note: string;
};

type Partition = Pick<FeatureSnapshotPartition, 'day' | 'rows' | 'labeledRows' | 'positives' | 'stats'>;

export function metricText(m: DataMetric): string {
  return 'column' in m ? `${m.fn}(${m.column})` : m.fn;
}

function metricValue(p: Partition, m: DataMetric): number | null {
  switch (m.fn) {
    case 'rows':
      return p.rows;
    case 'labeled_rows':
      return p.labeledRows;
    case 'positives':
      return p.positives;
    case 'null_rate':
      return p.stats?.columns[m.column]?.nullRate ?? null;
    case 'min':
      return p.stats?.columns[m.column]?.min ?? null;
    case 'max':
      return p.stats?.columns[m.column]?.max ?? null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function holds(v: number, op: DataGate['op'], t: number): boolean {
  return op === '>=' ? v >= t : op === '<=' ? v <= t : op === '>' ? v > t : v < t;
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6))));

/** Parses the spec's data gates; one that does not parse is bad input naming it. */
export function parseDataGates(texts: string[]): DataGate[] {
  return texts.map((t, i) => {
    const g = parseDataGate(t);
    if (typeof g === 'string') throw new BadInputError(`data.gates[${i}]: ${g}`);
    return g;
  });
}

/** Every gate on every day partition, in day order. */
export function evaluateDataGates(texts: string[], partitions: Partition[]): DataGateResult[] {
  const gates = parseDataGates(texts);
  const byDay = [...partitions].sort((a, b) => (a.day < b.day ? -1 : 1));
  const out: DataGateResult[] = [];
  for (const g of gates) {
    const name = metricText(g.metric);
    for (const p of byDay) {
      const value = metricValue(p, g.metric);
      const base = { gate: g.text, day: p.day, value };
      if (value === null) {
        const why = 'column' in g.metric ? ` (no statistics for column "${g.metric.column}" in this partition)` : '';
        out.push({ ...base, threshold: null, status: 'fail', note: `${name} could not be computed${why}` });
        continue;
      }
      let threshold: number;
      let how: string;
      if ('value' in g.threshold) {
        threshold = g.threshold.value;
        how = fmt(threshold);
      } else {
        const t = g.threshold;
        const from = addDays(p.day, -t.days);
        const earlier = byDay
          .filter((q) => q.day >= from && q.day < p.day)
          .map((q) => metricValue(q, t.median))
          .filter((x): x is number => x !== null);
        if (earlier.length === 0) {
          out.push({ ...base, threshold: null, status: 'n/a', note: `n/a: no earlier day within ${t.days}d` });
          continue;
        }
        const med = median(earlier);
        threshold = t.factor * med;
        how =
          `${t.factor === 1 ? '' : `${fmt(t.factor)} × `}median ${fmt(med)} of ${metricText(t.median)} ` +
          `over ${earlier.length} earlier day(s) = ${fmt(threshold)}`;
      }
      const ok = holds(value, g.op, threshold);
      out.push({
        ...base,
        threshold,
        status: ok ? 'pass' : 'fail',
        note: `${name} = ${fmt(value)} ${ok ? 'meets' : 'fails'} ${g.op} ${how}`,
      });
    }
  }
  return out;
}

/** A failed gate in one line: day, gate, value, threshold. */
export function dataGateLine(r: DataGateResult): string {
  return `${r.day}: "${r.gate}": ${r.note}`;
}
