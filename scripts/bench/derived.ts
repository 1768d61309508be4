/**
 * Derived features: mlo's vectorised expression evaluator against the closed-form code it
 * replaced and against a row-at-a-time interpreter, same expressions, same rows.
 *
 *   npm run bench -- derived [--rows 200000] [--reps 3]
 *
 * Data: `--rows` generated events in memory (seeded): amount (Float64, 10 % null), items (Int32),
 * channel, country (Dictionary<Utf8>), ip_country (Utf8), ts (Timestamp ms).
 * 1. The forms mlo had before its expression language (fraud-detector's derived features):
 *    `derivedColumn` against the old per-form loops (scripts/bench/lib/legacy-derived.ts).
 * 2. Expressions only the language can write: `derivedColumn` against the row-at-a-time reference
 *    interpreter of the tests (test/helpers/expr-reference.ts; it reads cells through Vector.get).
 * Each side reads its input columns from the Arrow table in every pass (no cache survives a pass);
 * within a pass mlo reads a column used by several expressions once, as it does in a partition. One warm-up pass, then `--reps` timed passes, sides interleaved; the best time counts.
 * Check: every output equals its reference bit for bit (NaN = NaN); a difference exits 1.
 *
 * Last line: one JSON object: rows/s of each side and the ratios mlo / closed-form (1.0 = same
 * speed) and mlo / interpreter.
 */
import { Dictionary, Float64, Int32, Table, TimestampMillisecond, Utf8, vectorFromArray } from 'apache-arrow';
import { derivedColumn, parseExpr } from '../../lib/features/expr';
import { legacyForm } from '../../lib/features/featureset';
import { derivedReference } from '../../test/helpers/expr-reference';
import { legacyDerived } from './lib/legacy-derived';
import { runMain } from './lib/main';

const LEGACY = [
  'log1p(amount)',
  'hour_of_day(ts)',
  "channel == 'ecommerce'",
  'ip_country != country',
  'day_of_week(ts)',
];
const NEW = [
  'amount / items',
  "channel in ('ecommerce', 'moto') and coalesce(amount, 0) > 50",
  'clip(log1p(abs(amount - 20)), 0, 5) * 2 + hour_of_day(ts) / 24',
  'hour_of_day(ts) < 6 and day_of_week(ts) in (0, 6) or is_null(amount)',
];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive whole number`);
  return v;
}

function table(n: number): Table {
  let s = 42;
  const r = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const words = ['ecommerce', 'pos', 'moto', 'DE', 'FR', 'US'];
  const day = Date.UTC(2026, 0, 1);
  return new Table({
    amount: vectorFromArray(
      Array.from({ length: n }, () => (r() < 0.1 ? null : Math.round(r() * 1e5) / 100)),
      new Float64(),
    ),
    items: vectorFromArray(
      Array.from({ length: n }, () => Math.floor(r() * 5)),
      new Int32(),
    ),
    channel: vectorFromArray(
      Array.from({ length: n }, () => pick(words.slice(0, 3))),
      new Dictionary(new Utf8(), new Int32()),
    ),
    country: vectorFromArray(
      Array.from({ length: n }, () => pick(words.slice(3))),
      new Dictionary(new Utf8(), new Int32()),
    ),
    ip_country: vectorFromArray(
      Array.from({ length: n }, () => (r() < 0.2 ? null : pick(words.slice(3)))),
      new Utf8(),
    ),
    ts: vectorFromArray(
      Array.from({ length: n }, () => day + Math.floor(r() * 30 * 86_400_000)),
      new TimestampMillisecond(),
    ),
  });
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++)
    if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)))) return false;
  return true;
}

/** A fresh copy of the table (same data, new Table object), so no reader cache survives a pass. */
function fresh(t: Table): Table {
  return new Table(Object.fromEntries(t.schema.fields.map((f) => [f.name, t.getChild(f.name)!])));
}

async function main(): Promise<number> {
  const rows = arg('rows', 200_000);
  const reps = arg('reps', 3);
  const t = table(rows);
  const sides: Record<string, { exprs: string[]; run: (tb: Table, e: string) => Float64Array }> = {
    mlo_legacy_forms: { exprs: LEGACY, run: (tb, e) => derivedColumn(tb, 'bench', 'f', e) },
    closed_form: { exprs: LEGACY, run: (tb, e) => legacyDerived(tb, legacyForm(parseExpr(e))!) },
    mlo_new: { exprs: NEW, run: (tb, e) => derivedColumn(tb, 'bench', 'f', e) },
    interpreter: { exprs: NEW, run: (tb, e) => derivedReference(parseExpr(e), tb) },
  };
  // Check first: every side's outputs against their reference.
  let ok = true;
  for (const e of LEGACY) ok &&= sameBits(sides.mlo_legacy_forms!.run(fresh(t), e), sides.closed_form!.run(t, e));
  for (const e of NEW) ok &&= sameBits(sides.mlo_new!.run(fresh(t), e), sides.interpreter!.run(t, e));
  if (!ok) {
    console.error('outputs differ from their reference');
    return 1;
  }
  const best: Record<string, number> = {};
  for (let rep = 0; rep <= reps; rep++) {
    for (const [name, side] of Object.entries(sides)) {
      const tb = fresh(t);
      const t0 = process.hrtime.bigint();
      for (const e of side.exprs) side.run(tb, e);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (rep > 0) best[name] = Math.min(best[name] ?? Infinity, ms);
      if (rep > 0) console.error(`rep ${rep} ${name.padEnd(18)} ${ms.toFixed(1)} ms`);
    }
  }
  const rate = (name: string) => Math.round(rows / (best[name]! / 1000));
  console.log(
    JSON.stringify({
      rows,
      reps,
      legacy_exprs: LEGACY.length,
      new_exprs: NEW.length,
      mlo_legacy_forms_rows_per_s: rate('mlo_legacy_forms'),
      closed_form_rows_per_s: rate('closed_form'),
      mlo_new_rows_per_s: rate('mlo_new'),
      interpreter_rows_per_s: rate('interpreter'),
      mlo_over_closed_form: Number((best.closed_form! / best.mlo_legacy_forms!).toFixed(3)),
      mlo_over_interpreter: Number((best.interpreter! / best.mlo_new!).toFixed(3)),
    }),
  );
  return 0;
}

void runMain(main);
