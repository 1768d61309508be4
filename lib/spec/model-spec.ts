/**
 * The model spec: one YAML file per model in `models/`, validated once at the edge.
 * Every stage reads its part. Validation reports every problem at once, each naming the
 * file, the field path and the fix; unknown fields are errors (a typo must not be ignored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { DURATION_HELP, parseDuration } from '../core/duration';
import { BadInputError } from '../core/errors';
import { hashOf } from '../infra/hash';
import { PROJECT_ROOT } from '../infra/config';
import { AGG_FNS, type AggFn } from '../features/kernel';
import { dataChecksSchema, dataGatesSchema, dataSpecIssues, DEFAULT_DATA_CHECKS, specInputColumns } from './data-gates';
import { checkDerived, ExprError, parseExpr, type ColumnTypes, type Expr, type ExprType } from '../features/expr';
import { checkLabelFields, LABEL_VALUE_FIELDS, WARMUP_FIELD } from './labels';
import { rawSourceFields, snapshotFormat } from './data-source';

export const MODELS_DIR = path.join(PROJECT_ROOT, 'models');

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a column name: letters, digits and "_", not starting with a digit');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, { message: `must be ${DURATION_HELP}` });
const prefix = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9._\-/=]+\/$/, 'must be an S3 key prefix ending in "/", e.g. raw/payments/');
const email = z.string().regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address');

// ---- features -------------------------------------------------------------------------

const NEEDS_OF = new Set<AggFn>(['sum', 'mean', 'min', 'max', 'std', 'count_distinct']);

const metricSchema = z
  .object({
    fn: z.enum(AGG_FNS, { error: (i) => `unknown aggregation "${String(i.input)}"; use one of ${AGG_FNS.join(', ')}` }),
    of: identifier.optional(),
    name: identifier.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (NEEDS_OF.has(m.fn) && !m.of)
      ctx.addIssue({ code: 'custom', path: ['of'], message: `aggregation "${m.fn}" needs "of: <column>"` });
    if (!NEEDS_OF.has(m.fn) && m.of)
      ctx.addIssue({ code: 'custom', path: ['of'], message: `aggregation "${m.fn}" takes no "of"` });
  });

/**
 * Derived per-event columns: an expression of the language in docs/expressions.md, over the
 * target day's columns. Parsed here (syntax errors name the position and the fix), type-checked
 * against the column types the spec declares (see specColumnTypes), and again against the data.
 */
export type DerivedExpr = Expr;

/** Parses a derived expression; throws ExprError (position, problem, fix). */
export function parseDerivedExpr(expr: string): DerivedExpr {
  return parseExpr(expr);
}

const derivedSchema = z
  .object({
    name: identifier,
    expr: z.string().superRefine((e, ctx) => {
      try {
        parseExpr(e);
      } catch (err) {
        if (!(err instanceof ExprError)) throw err;
        ctx.addIssue({ code: 'custom', message: `${err.describe('      ')}` });
      }
    }),
  })
  .strict();

const aggregationSchema = z
  .object({
    entity: identifier,
    windows: z.array(duration).min(1, 'needs at least one window, e.g. [1h, 24h]'),
    metrics: z.array(metricSchema).min(1, 'needs at least one metric, e.g. [{ fn: count }]'),
  })
  .strict();

const featuresSchema = z
  .object({
    columns: z.array(identifier).default([]),
    derived: z.array(derivedSchema).default([]),
    aggregations: z.array(aggregationSchema).default([]),
    /** String columns carried into the snapshot for slicing evaluation. */
    slices: z.array(identifier).default([]),
    /** Days whose longest window reaches before the first raw day: see lib/spec/labels.ts. */
    warmup: WARMUP_FIELD,
    /** Format of the snapshot's partition files (lib/spec/data-source.ts); absent = arrow. */
    format: snapshotFormat.optional(),
  })
  .strict();

// ---- gates --------------------------------------------------------------------------

export const EVAL_GATE_METRICS = [
  'auc',
  'pr_auc',
  'log_loss',
  'brier',
  'ece',
  'recall_at_fpr',
  'recall_at_threshold',
] as const;
export const SHADOW_GATE_METRICS = [
  'psi',
  'ks',
  'agreement',
  'block_rate_delta',
  'block_rate',
  'candidate_p99_ms',
] as const;

export type Gate = {
  text: string;
  metric: string;
  op: '>=' | '<=' | '>' | '<';
  threshold: number;
  slice: boolean;
  minCount?: number;
};

export function parseGate(text: string, allowed: readonly string[]): Gate | string {
  const m = /^\s*([a-z][a-z0-9_]*)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(?:where\s+n\s*>=\s*(\d+)\s*)?$/.exec(text);
  if (!m?.[1] || !m[2] || !m[3])
    return (
      `"${text}" is not a gate; write "<metric> <op> <number>", ` +
      'e.g. "auc >= 0.85" or "slice_auc_delta >= -0.01 where n >= 500"'
    );
  const metric = m[1];
  const slice = metric.startsWith('slice_');
  const base = metric.replace(/^slice_/, '').replace(/_delta$/, '');
  if (!allowed.includes(base) && !allowed.includes(metric)) {
    return (
      `unknown gate metric "${metric}"; use one of ${allowed.join(', ')}, ` +
      'a "_delta" against the champion (e.g. auc_delta), or "slice_<metric>_delta"'
    );
  }
  if (m[4] && !slice) return `"where n >= …" applies to slice gates only (slice_<metric>_delta): "${text}"`;
  return {
    text: text.trim(),
    metric,
    op: m[2] as Gate['op'],
    threshold: Number(m[3]),
    slice,
    minCount: m[4] ? Number(m[4]) : undefined,
  };
}

const gateList = (allowed: readonly string[]) =>
  z.array(z.string()).superRefine((gates, ctx) => {
    gates.forEach((g, i) => {
      const r = parseGate(g, allowed);
      if (typeof r === 'string') ctx.addIssue({ code: 'custom', path: [i], message: r });
    });
  });

// ---- the spec -----------------------------------------------------------------------

const paramValue = z.union([z.number(), z.string(), z.boolean()]);

const scheduleSchema = z
  .object({
    cron: z.string().optional(),
    interval: duration.optional(),
    timezone: z.string().default('UTC'),
    jitter: duration.optional(),
    catchup_window: duration.default('1d'),
    overlap: z
      .enum(['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'])
      .default('skip'),
    paused: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.cron === !s.interval)
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of "cron" (e.g. "0 3 * * *") or "interval" (e.g. 24h)',
      });
    if (s.cron && s.cron.trim().split(/\s+/).length !== 5)
      ctx.addIssue({
        code: 'custom',
        path: ['cron'],
        message:
          `"${s.cron}" is not a 5-field cron expression (minute hour day-of-month month day-of-week), ` +
          'e.g. "0 3 * * *"',
      });
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s.timezone });
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['timezone'],
        message: `unknown time zone "${s.timezone}"; use an IANA name such as UTC or Europe/London`,
      });
    }
  });

const modelSpecSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,62}$/, 'must be 2-63 lowercase letters, digits or "-", starting with a letter'),
    owner: email,
    description: z.string().optional(),
    data: z
      .object({
        events: z
          .object({
            prefix,
            timestamp: identifier.default('ts'),
            id: identifier.default('payment_id'),
            allow_gaps: z.boolean().default(false),
            ...rawSourceFields,
            partition: rawSourceFields.partition.unwrap().default('day'),
          })
          .strict(),
        labels: z
          .object({
            prefix,
            key: identifier,
            timestamp: identifier,
            maturity: duration,
            ...LABEL_VALUE_FIELDS,
            ...rawSourceFields,
          })
          .strict()
          .superRefine(checkLabelFields),
        /** Data checks and gates (lib/spec/data-gates.ts); absent, not defaulted, so older specs hash the same. */
        checks: dataChecksSchema.optional(),
        gates: dataGatesSchema.optional(),
      })
      .strict(),
    features: featuresSchema,
    training: z
      .object({
        trainer: z
          .object({
            command: z
              .array(z.string().min(1))
              .min(1, 'needs the trainer command, e.g. [python, trainers/gbdt/train.py]'),
            pool: z.enum(['gpu', 'cpu']).default('cpu'),
          })
          .strict(),
        window: z.object({ days: z.number().int().min(1).max(3650) }).strict(),
        validation: z
          .object({ days: z.number().int().min(1).max(365) })
          .strict()
          .default({ days: 7 }),
        params: z.record(z.string(), paramValue).default({}),
        seed: z.number().int().default(42),
        sweep: z
          .object({
            params: z.record(z.string(), z.array(paramValue).min(1)),
            max_trials: z.number().int().min(1).max(256).default(4),
            parallelism: z.number().int().min(1).max(64).default(2),
            metric: z.string().default('valid_auc'),
            goal: z.enum(['maximize', 'minimize']).default('maximize'),
          })
          .strict()
          .optional(),
        timeout: duration.default('6h'),
        /** A trainer silent for this long (no heartbeat) is presumed dead and retried from its last checkpoint. */
        heartbeat_timeout: duration.default('2m'),
      })
      .strict(),
    evaluation: z
      .object({
        holdout: z.object({ days: z.number().int().min(1).max(365) }).strict(),
        slices: z.array(identifier).default([]),
        operating_threshold: z.number().gt(0).lt(1).default(0.5),
        fixed_fpr: z.number().gt(0).lt(1).default(0.01),
        gates: gateList(EVAL_GATE_METRICS).default([]),
      })
      .strict(),
    shadow: z
      .object({
        days: z.number().int().min(1).max(90).default(3),
        batch_size: z.number().int().min(1).max(1_000_000).default(4096),
        gates: gateList(SHADOW_GATE_METRICS).default([]),
      })
      .strict()
      .default({ days: 3, batch_size: 4096, gates: [] }),
    promotion: z
      .object({
        reviewers: z.array(email).min(1, 'needs at least one reviewer'),
        deadline: duration.default('72h'),
        when_busy: z.enum(['queue', 'refuse']).default('queue'),
      })
      .strict(),
    schedule: scheduleSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const names = new Set<string>();
    const add = (n: string, p: (string | number)[]) => {
      if (names.has(n))
        ctx.addIssue({
          code: 'custom',
          path: p,
          message: `feature "${n}" is defined twice; give each feature a unique name`,
        });
      names.add(n);
    };
    spec.features.columns.forEach((c, i) => add(c, ['features', 'columns', i]));
    spec.features.derived.forEach((d, i) => add(d.name, ['features', 'derived', i, 'name']));
    spec.features.aggregations.forEach((a, i) =>
      a.metrics.forEach((m, j) => {
        for (const w of a.windows) {
          if (m.fn === 'time_since_prev' && a.windows.indexOf(w) > 0) continue;
          add(aggFeatureName(a.entity, m, w), ['features', 'aggregations', i, 'metrics', j]);
        }
      }),
    );
    const types = specColumnTypes(spec);
    spec.features.derived.forEach((d, i) => {
      let e: Expr;
      try {
        e = parseExpr(d.expr);
      } catch {
        return; // a syntax error: the field's own check reports it
      }
      try {
        checkDerived(d.expr, e, types);
      } catch (err) {
        if (!(err instanceof ExprError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['features', 'derived', i, 'expr'], message: err.describe('      ') });
      }
    });
    if (names.size === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['features'],
        message: 'defines no features; add columns, derived or aggregations',
      });
    const slices = new Set(spec.features.slices);
    spec.evaluation.slices.forEach((s, i) => {
      if (!slices.has(s))
        ctx.addIssue({
          code: 'custom',
          path: ['evaluation', 'slices', i],
          message: `slice "${s}" must also be listed in features.slices so the snapshot carries it`,
        });
    });
    for (const [p, message] of dataSpecIssues(
      { gates: spec.data.gates ?? [], checks: spec.data.checks ?? DEFAULT_DATA_CHECKS },
      specInputColumns(spec),
    ))
      ctx.addIssue({ code: 'custom', path: p, message });
    const reviewers = new Set<string>();
    spec.promotion.reviewers.forEach((r, i) => {
      if (reviewers.has(r))
        ctx.addIssue({ code: 'custom', path: ['promotion', 'reviewers', i], message: `reviewer ${r} is listed twice` });
      reviewers.add(r);
    });
  });

export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** The feature column name of one aggregation over one window, e.g. card_id__sum_amount__24h. */
export function aggFeatureName(entity: string, m: { fn: string; of?: string; name?: string }, window: string): string {
  if (m.name) return m.fn === 'time_since_prev' ? m.name : `${m.name}__${window}`;
  if (m.fn === 'time_since_prev') return `${entity}__time_since_prev`;
  return `${entity}__${m.fn}${m.of ? `_${m.of}` : ''}__${window}`;
}

/** The model's input columns, in order: raw columns, derived columns, then aggregations. */
export function featureColumnNames(spec: ModelSpec): string[] {
  const out = [...spec.features.columns, ...spec.features.derived.map((d) => d.name)];
  for (const a of spec.features.aggregations) {
    for (const m of a.metrics) {
      if (m.fn === 'time_since_prev') out.push(aggFeatureName(a.entity, m, a.windows[0] ?? ''));
      else for (const w of a.windows) out.push(aggFeatureName(a.entity, m, w));
    }
  }
  return out;
}

/**
 * The column types the spec declares: the event time is a timestamp; the event id, the raw
 * feature columns, the entity keys and the aggregated columns are numbers. Every other column
 * is `any` here and is checked against the data's types when a partition is computed.
 */
export function specColumnTypes(spec: Pick<ModelSpec, 'data' | 'features'>): ColumnTypes {
  const known = new Map<string, { t: ExprType; why: string }>();
  known.set(spec.data.events.id, { t: 'number', why: 'the event id, data.events.id' });
  for (const c of spec.features.columns) known.set(c, { t: 'number', why: 'listed in features.columns' });
  for (const a of spec.features.aggregations) {
    known.set(a.entity, { t: 'number', why: 'an aggregation entity' });
    for (const m of a.metrics) if (m.of) known.set(m.of, { t: 'number', why: `aggregated by ${m.fn}` });
  }
  known.set(spec.data.events.timestamp, { t: 'timestamp', why: 'the event time, data.events.timestamp' });
  return {
    typeOf: (name) => known.get(name)?.t ?? 'any',
    names: () => [...known.keys()],
    origin: (name) => known.get(name)?.why,
  };
}

export function specHash(spec: ModelSpec): string {
  return hashOf(spec);
}

// ---- loading ------------------------------------------------------------------------

/** A spec that failed validation: every problem, each with file, line and field. */
export class SpecError extends BadInputError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file} is not a valid model spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
  }
}

function lineOf(doc: ReturnType<typeof parseDocument>, lc: LineCounter, p: PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let last: YamlNode | undefined;
  for (const k of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === k);
      if (!pair) break;
      last = (pair.value ?? pair.key) as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof k === 'number') {
      const item = node.items[k];
      if (!item) break;
      last = item as YamlNode;
      node = item;
    } else break;
  }
  const off = last?.range?.[0];
  return off === undefined ? undefined : lc.linePos(off).line;
}

function fieldPath(p: PropertyKey[]): string {
  return (
    p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i > 0 ? '.' : ''}${String(k)}`)).join('') || '(top level)'
  );
}

/** Parses and validates a spec's YAML text; `file` names it in errors. */
export function parseSpec(text: string, file: string): ModelSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new SpecError(
      file,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: YAML syntax: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS();
  const parsed = modelSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      let msg = i.message;
      if (i.code === 'unrecognized_keys') {
        const keys = i.keys.map((k) => `"${k}"`).join(', ');
        msg = `unknown field${i.keys.length > 1 ? 's' : ''} ${keys}; check the spelling`;
      } else if (i.code === 'invalid_type' && /received undefined/.test(i.message)) msg = 'is required';
      const line = lineOf(doc, lc, i.path);
      return `${line ? `line ${line}: ` : ''}${fieldPath(i.path)}: ${msg}`;
    });
    throw new SpecError(file, problems);
  }
  const spec = parsed.data;
  const base = path.basename(file).replace(/\.ya?ml$/, '');
  if (base !== spec.name && !file.startsWith('<')) {
    throw new SpecError(file, [
      `name: "${spec.name}" must match the file name "${base}.yaml" (one spec per model, named after it)`,
    ]);
  }
  return spec;
}

export function loadSpecFile(file: string): ModelSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new BadInputError(`cannot read model spec ${file}: ${why}`);
  }
  return parseSpec(text, path.relative(process.cwd(), file) || file);
}

export function listSpecFiles(dir = MODELS_DIR): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * The file of a model's spec in `dir` (`<name>.yaml` or `<name>.yml`), chosen among the listed
 * spec files, so a name can never address a file outside `dir`; an unknown name lists the known ones.
 */
export function findSpecFile(name: string, dir = MODELS_DIR): string {
  const files = listSpecFiles(dir);
  const file = files.find((f) => path.basename(f).replace(/\.ya?ml$/, '') === name);
  if (!file) {
    const known = files.map((f) => path.basename(f).replace(/\.ya?ml$/, ''));
    throw new BadInputError(
      `no model spec named "${name}" in ${path.relative(process.cwd(), dir) || dir}/; ` +
        `known models: ${known.join(', ') || '(none)'}`,
    );
  }
  return file;
}

/** Finds a model's spec by name in `models/`; an unknown name lists the known ones. */
export function findModelSpec(name: string, dir = MODELS_DIR): { file: string; spec: ModelSpec } {
  const file = findSpecFile(name, dir);
  return { file, spec: loadSpecFile(file) };
}
