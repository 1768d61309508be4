/**
 * The model spec's data checks and data gates (`data.checks`, `data.gates`).
 *
 * `data.checks` sets the thresholds of `mlo data check` and of the backfill's per-partition checks:
 *
 *   data:
 *     checks:
 *       max_null_rate: { amount: 0.01 }   # over it: an error (default: none for ordinary columns)
 *       warn_null_rate: 0.05              # ordinary columns over it: a warning (default 0.05)
 *       arrival_allowance: 6h             # a file landing later than its day's end + this is late (default 6h)
 *
 * The id, the event time and every entity key must hold no null (an error), whatever the spec says.
 *
 * `data.gates` are judged per day partition of the run's feature snapshot, on the statistics its
 * manifest records, before training; one failing day stops the run:
 *
 *   <metric> <op> <number>
 *   <metric> <op> [<number> *] trailing_median(<metric>, <N>d)
 *
 *   metric: rows | labeled_rows | positives | null_rate(<column>) | min(<column>) | max(<column>)
 *   op:     >= <= > <
 *
 * e.g. "rows >= 0.5 * trailing_median(rows, 14d)", "null_rate(amount) <= 0.01", "min(amount) >= 0".
 * `trailing_median(m, Nd)` is the median of m over the snapshot's N days before the judged day (the
 * days present); a day with no such earlier day is n/a for that gate. Columns are the input columns
 * the spec uses (raw feature columns, inputs of derived features, entity keys, aggregated columns,
 * slices, the id and the event time).
 */
import { z } from 'zod';
import { DURATION_HELP, parseDuration } from '../core/duration';

export const DATA_GATE_METRICS = ['rows', 'labeled_rows', 'positives'] as const;
export const DATA_GATE_COLUMN_METRICS = ['null_rate', 'min', 'max'] as const;

/** One side of a gate: a partition's metric, optionally of a column. */
export type DataMetric =
  { fn: (typeof DATA_GATE_METRICS)[number] } | { fn: (typeof DATA_GATE_COLUMN_METRICS)[number]; column: string };

export type DataGate = {
  text: string;
  metric: DataMetric;
  op: '>=' | '<=' | '>' | '<';
  /** A number, or factor × the trailing median of a metric over `days` earlier days. */
  threshold: { value: number } | { factor: number; median: DataMetric; days: number };
};

export const DATA_GATE_HELP =
  'write "<metric> <op> <number>" or "<metric> <op> [<number> *] trailing_median(<metric>, <N>d)", ' +
  'metric one of rows, labeled_rows, positives, null_rate(<column>), min(<column>), max(<column>); ' +
  'e.g. "rows >= 0.5 * trailing_median(rows, 14d)" or "null_rate(amount) <= 0.01"';

const NUM = String.raw`-?\d+(?:\.\d+)?(?:e-?\d+)?`;
const METRIC = String.raw`[a-z_]+(?:\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\))?`;

export function parseDataMetric(text: string): DataMetric | string {
  const s = text.trim();
  if ((DATA_GATE_METRICS as readonly string[]).includes(s)) return { fn: s as (typeof DATA_GATE_METRICS)[number] };
  const m = /^([a-z_]+)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(s);
  if (m?.[1] && m[2] && (DATA_GATE_COLUMN_METRICS as readonly string[]).includes(m[1]))
    return { fn: m[1] as (typeof DATA_GATE_COLUMN_METRICS)[number], column: m[2] };
  return (
    `unknown data metric "${s}"; use one of ${DATA_GATE_METRICS.join(', ')}, ` +
    `${DATA_GATE_COLUMN_METRICS.map((f) => `${f}(<column>)`).join(', ')}`
  );
}

/** Parses one data gate; a string is the reason it is not one. */
export function parseDataGate(text: string): DataGate | string {
  const m = new RegExp(String.raw`^\s*(${METRIC})\s*(>=|<=|>|<)\s*(.+?)\s*$`).exec(text);
  if (!m?.[1] || !m[2] || !m[3]) return `"${text}" is not a data gate; ${DATA_GATE_HELP}`;
  const metric = parseDataMetric(m[1]);
  if (typeof metric === 'string') return metric;
  const op = m[2] as DataGate['op'];
  const rhs = m[3];
  if (new RegExp(`^${NUM}$`).test(rhs)) return { text: text.trim(), metric, op, threshold: { value: Number(rhs) } };
  const t = new RegExp(String.raw`^(?:(${NUM})\s*\*\s*)?trailing_median\(\s*(${METRIC})\s*,\s*(\d+)d\s*\)$`).exec(rhs);
  if (!t?.[2] || !t[3])
    return `"${text}": the threshold "${rhs}" is not a number or a trailing median; ${DATA_GATE_HELP}`;
  const median = parseDataMetric(t[2]);
  if (typeof median === 'string') return median;
  const days = Number(t[3]);
  if (days < 1 || days > 365) return `"${text}": trailing_median needs 1 to 365 days, not ${days}`;
  return { text: text.trim(), metric, op, threshold: { factor: t[1] === undefined ? 1 : Number(t[1]), median, days } };
}

/** The columns a gate reads (to check that the spec uses them). */
export function dataGateColumns(g: DataGate): string[] {
  const cols: string[] = [];
  if ('column' in g.metric) cols.push(g.metric.column);
  if ('median' in g.threshold && 'column' in g.threshold.median) cols.push(g.threshold.median.column);
  return cols;
}

const rate = z.number().min(0).max(1);

export const dataChecksSchema = z
  .object({
    max_null_rate: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a column name'), rate).default({}),
    warn_null_rate: rate.default(0.05),
    arrival_allowance: z
      .string()
      .refine((s) => parseDuration(s) !== undefined, { message: `must be ${DURATION_HELP}` })
      .default('6h'),
  })
  .strict();

export type DataChecksSpec = z.infer<typeof dataChecksSchema>;

export const DEFAULT_DATA_CHECKS: DataChecksSpec = { max_null_rate: {}, warn_null_rate: 0.05, arrival_allowance: '6h' };

export const dataGatesSchema = z.array(z.string()).superRefine((gates, ctx) => {
  gates.forEach((g, i) => {
    const r = parseDataGate(g);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', path: [i], message: r });
  });
});

/**
 * The raw input columns a spec's features read, from its YAML shape (derived expressions are
 * scanned for column names): what `data.gates` and `data.checks.max_null_rate` may name.
 */
export function specInputColumns(spec: {
  data: { events: { id: string; timestamp: string } };
  features: {
    columns: string[];
    derived: { expr: string }[];
    aggregations: { entity: string; metrics: { of?: string }[] }[];
    slices: string[];
  };
}): Set<string> {
  const out = new Set<string>([spec.data.events.id, spec.data.events.timestamp, ...spec.features.columns]);
  for (const d of spec.features.derived) {
    const bare = d.expr.replace(/'[^']*'|"[^"]*"/g, ' ');
    for (const m of bare.matchAll(/\b[A-Za-z_][A-Za-z0-9_]*\b(?!\s*\()/g)) out.add(m[0]);
  }
  for (const a of spec.features.aggregations) {
    out.add(a.entity);
    for (const m of a.metrics) if (m.of) out.add(m.of);
  }
  for (const s of spec.features.slices) out.add(s);
  return out;
}

/** Problems of the data part against the columns the spec uses: [path, message] pairs. */
export function dataSpecIssues(
  data: { gates: string[]; checks: DataChecksSpec },
  used: Set<string>,
): [(string | number)[], string][] {
  const issues: [(string | number)[], string][] = [];
  const known = [...used].sort().join(', ');
  data.gates.forEach((text, i) => {
    const g = parseDataGate(text);
    if (typeof g === 'string') return;
    for (const c of dataGateColumns(g))
      if (!used.has(c))
        issues.push([
          ['data', 'gates', i],
          `"${text}" reads column "${c}", which no feature uses; statistics are kept for: ${known}`,
        ]);
  });
  for (const c of Object.keys(data.checks.max_null_rate))
    if (!used.has(c))
      issues.push([
        ['data', 'checks', 'max_null_rate', c],
        `column "${c}" is not an input of any feature; checked columns are: ${known}`,
      ]);
  return issues;
}
