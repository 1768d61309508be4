/**
 * The evaluation and shadow reports: JSON (everything), Markdown (a full report for the MLflow
 * run) and a compact Markdown summary (under SUMMARY_LIMIT bytes) that the promotion step shows
 * reviewers in the Temporal UI.
 */
import type { GateResult } from './gates';
import type { EvalResult, ModelMetrics } from './evaluate';
import type { MetricName } from './metrics';
import type { ShadowResult } from './shadow';
import { COLORS, histogramChart, lineChart, type Series } from './svg';

export const SUMMARY_LIMIT = 8000;

/**
 * JSON.stringify replacer: JSON has no NaN or ±Infinity, so they are written as null (e.g. the +∞
 * threshold of the empty ROC point).
 */
export function jsonNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

export type ModelRef = {
  version: string;
  runId: string;
  onnxUri: string;
  sha256: string;
  handlesMissing: boolean;
  missingReason: string;
};

/** A report's reference to a scored model, from the model's description and its MLflow run. */
export function modelRef(
  d: { version: string; uri: string; sha256: string; handlesMissing: boolean; missingReason: string },
  runId: string,
): ModelRef {
  return {
    version: d.version,
    runId,
    onnxUri: d.uri,
    sha256: d.sha256,
    handlesMissing: d.handlesMissing,
    missingReason: d.missingReason,
  };
}

export type ReportContext = {
  model: string;
  candidate: ModelRef;
  champion: ModelRef | null;
  /** Why there is no champion, when there is none. */
  championNote: string | null;
  snapshot: { manifestUri: string; hash: string };
  window: { from: string; to: string; days: string[] };
  /** s3:// prefix the report files are under. */
  reportPrefix: string;
  mlflowRunUrl: string;
  codeVersion: string;
  workflowId: string;
};

export type EvaluationReport = ReportContext & {
  kind: 'mlo.evaluation-report/v1';
  options: { fixedFpr: number; operatingThreshold: number; slices: string[]; gates: string[] };
  rows: { total: number; labelled: number; positives: number };
  missingValues: Record<string, number>;
  result: EvalResult;
};

export type ShadowReport = ReportContext & {
  kind: 'mlo.shadow-report/v1';
  options: { batchSize: number; operatingThreshold: number; gates: string[]; topN: number };
  missingValues: Record<string, number>;
  result: ShadowResult;
};

const LABELS: Record<MetricName, string> = {
  auc: 'ROC AUC',
  pr_auc: 'PR AUC (avg. precision)',
  log_loss: 'log loss',
  brier: 'Brier score',
  ece: 'ECE (10 bins)',
  recall_at_fpr: 'recall @ fixed FPR',
  recall_at_threshold: 'recall @ threshold',
};
const ORDER: MetricName[] = ['auc', 'pr_auc', 'log_loss', 'brier', 'ece', 'recall_at_fpr', 'recall_at_threshold'];

const f4 = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : x.toFixed(4);
const signed = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
const pct = (x: number | null | undefined, d = 2): string =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(d)}%`;
const int = (x: number): string => x.toLocaleString('en-US');
const ms = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : `${x.toFixed(2)} ms`;
const mark = (s: GateResult['status']): string => (s === 'pass' ? '✅ pass' : s === 'fail' ? '❌ FAIL' : '➖ n/a');
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function gateTable(gates: GateResult[]): string[] {
  if (gates.length === 0) return ['No gates in the spec.'];
  const out = ['| gate | value | result | detail |', '|---|---:|---|---|'];
  for (const g of gates) out.push(`| \`${cell(g.gate)}\` | ${f4(g.value)} | ${mark(g.status)} | ${cell(g.note)} |`);
  return out;
}

function metricsTable(c: ModelMetrics, h: ModelMetrics | null, delta: EvalResult['delta']): string[] {
  const out = h
    ? ['| metric | candidate | champion | Δ |', '|---|---:|---:|---:|']
    : ['| metric | candidate |', '|---|---:|'];
  for (const k of ORDER) {
    out.push(
      h
        ? `| ${LABELS[k]} | ${f4(c.values[k])} | ${f4(h.values[k])} | ${signed(delta?.[k])} |`
        : `| ${LABELS[k]} | ${f4(c.values[k])} |`,
    );
  }
  return out;
}

function pValue(p: number | null): string {
  if (p === null) return '= —';
  if (p < 1e-15) return '< 1e-15';
  return p < 1e-4 ? `= ${p.toExponential(1)}` : `= ${p.toPrecision(3)}`;
}

function aucCi(r: EvalResult): string {
  const d = r.aucDifference;
  if (!d) return r.champion ? 'AUC difference: no interval (fewer than two positives or negatives).' : '';
  return (
    `AUC Δ (candidate − champion) ${signed(d.delta)}, 95% CI [${signed(d.ciLow)}, ${signed(d.ciHigh)}], ` +
    `p ${pValue(d.pValue)} (DeLong, paired on the same ${int(r.n)} rows).`
  );
}

function header(kind: string, ctx: ReportContext, passed: boolean): string[] {
  const champ = ctx.champion
    ? `champion v${ctx.champion.version}`
    : `no champion (${ctx.championNote ?? 'first version'})`;
  return [`### ${kind}: ${ctx.model} v${ctx.candidate.version} vs ${champ} — ${passed ? 'PASSED' : 'FAILED'}`];
}

// ---- evaluation ---------------------------------------------------------------------------

export function evaluationMarkdown(rep: EvaluationReport): string {
  const r = rep.result;
  const o = rep.options;
  const lines: string[] = [];
  lines.push(...header('Evaluation', rep, r.passed), '');
  lines.push(
    `Out-of-time holdout ${rep.window.from} .. ${rep.window.to} ` +
      `(exclusive; ${rep.window.days.length} day partition(s)): ` +
      `${int(rep.rows.labelled)} labelled rows of ${int(rep.rows.total)}, ${int(rep.rows.positives)} positives ` +
      `(${pct(rep.rows.positives / Math.max(1, rep.rows.labelled))}).`,
  );
  lines.push(
    `Operating threshold ${o.operatingThreshold} (score ≥ threshold is blocked); fixed FPR ${o.fixedFpr}.`,
    '',
  );
  lines.push('#### Gates', '', ...gateTable(r.gates), '');
  lines.push('#### Metrics', '', ...metricsTable(r.candidate, r.champion, r.delta), '');
  if (r.champion) lines.push(aucCi(r), '');
  const at = (m: ModelMetrics) =>
    `threshold ${m.atThreshold.threshold}: recall ${f4(m.atThreshold.recall)}, ` +
    `precision ${f4(m.atThreshold.precision)}, FPR ${f4(m.atThreshold.fpr)}, ` +
    `blocked ${pct(m.atThreshold.flaggedRate)}; ` +
    `fixed FPR ${o.fixedFpr}: recall ${f4(m.values.recall_at_fpr)} at threshold ${f4(m.atFpr?.threshold ?? null)} ` +
    `(FPR ${f4(m.atFpr?.fpr ?? null)})`;
  lines.push(`- candidate — ${at(r.candidate)}`);
  if (r.champion) lines.push(`- champion — ${at(r.champion)}`);
  lines.push('');
  if (r.slices.length > 0) lines.push('#### Slices', '', ...sliceTable(r), '');
  lines.push(...missingLines(rep.missingValues, rep.candidate, rep.champion), '');
  lines.push(
    '#### Plots',
    '',
    '![ROC](roc.svg) ![PR](pr.svg)',
    '',
    '![calibration](calibration.svg) ![scores](scores.svg)',
    '',
  );
  lines.push(...lineage(rep));
  lines.push('', definitions());
  return lines.join('\n');
}

/** Every slice's metrics: with a champion, the candidate's AUC next to the champion's and the deltas. */
function sliceTable(r: EvalResult): string[] {
  const lines = [
    r.champion
      ? '| slice | n | positives | AUC cand. | AUC champ. | Δ AUC | log loss Δ | recall@thr Δ |'
      : '| slice | n | positives | AUC | PR AUC | log loss | recall@thr |',
    r.champion ? '|---|---:|---:|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of r.slices) {
    const noAuc = s.candidate.auc === null ? ' (one class: no AUC)' : '';
    const head = `| ${cell(s.slice)}${noAuc} | ${int(s.n)} | ${int(s.positives)} | ${f4(s.candidate.auc)} | `;
    lines.push(
      r.champion
        ? head +
            `${f4(s.champion?.auc)} | ${signed(s.delta?.auc)} | ${signed(s.delta?.log_loss)} | ` +
            `${signed(s.delta?.recall_at_threshold)} |`
        : head + `${f4(s.candidate.pr_auc)} | ${f4(s.candidate.log_loss)} | ${f4(s.candidate.recall_at_threshold)} |`,
    );
  }
  return lines;
}

function missingLines(missing: Record<string, number>, cand: ModelRef, champ: ModelRef | null): string[] {
  const with_ = Object.entries(missing).filter(([, v]) => v > 0);
  const out = ['#### Missing values (NaN)', ''];
  out.push(
    with_.length === 0
      ? 'No feature value was missing.'
      : with_.map(([k, v]) => `\`${k}\`: ${int(v)}`).join(', ') + '.',
  );
  const takes = (m: ModelRef) => (m.handlesMissing ? 'takes' : 'does not take');
  out.push(
    `Candidate: ${takes(cand)} missing values (${cand.missingReason}).` +
      (champ ? ` Champion: ${takes(champ)} missing values (${champ.missingReason}).` : ''),
  );
  return out;
}

/** A model's run, ONNX file and short hash, for the lineage. */
function modelLine(m: ModelRef): string {
  return `run \`${m.runId}\`, ${m.onnxUri} (sha256 ${m.sha256.slice(0, 16)}…)`;
}

function lineage(ctx: ReportContext): string[] {
  return [
    '#### Lineage',
    '',
    `- candidate v${ctx.candidate.version}: ${modelLine(ctx.candidate)}`,
    ctx.champion
      ? `- champion v${ctx.champion.version}: ${modelLine(ctx.champion)}`
      : `- champion: none (${ctx.championNote ?? 'first version'})`,
    `- feature snapshot ${ctx.snapshot.hash}: ${ctx.snapshot.manifestUri}`,
    `- MLflow run: ${ctx.mlflowRunUrl}`,
    `- report: ${ctx.reportPrefix}`,
    `- workflow ${ctx.workflowId}, code ${ctx.codeVersion}`,
  ];
}

function definitions(): string {
  return [
    '<sub>Definitions: AUC counts tied positive/negative pairs one half (Mann–Whitney);',
    'PR AUC is average precision without interpolation;',
    'log loss clips p to [1e-15, 1−1e-15]; ECE uses 10 equal-width bins weighted by count;',
    'recall at fixed FPR is the best recall at a threshold',
    "whose FPR ≤ the target (no interpolation); the AUC interval is DeLong's, paired on the same rows.",
    'Δ = candidate − champion.</sub>',
  ].join(' ');
}

/** A Markdown summary under SUMMARY_LIMIT bytes: the gates, the metrics table, failing slices, links. */
export function evaluationSummary(rep: EvaluationReport): string {
  const r = rep.result;
  const head = [
    ...header('Evaluation', rep, r.passed),
    '',
    `Holdout ${rep.window.from}..${rep.window.to}: ` +
      `${int(rep.rows.labelled)} labelled rows, ${int(rep.rows.positives)} positives.`,
    '',
    ...gateTable(r.gates.map((g) => ({ ...g, note: g.note.length > 300 ? `${g.note.slice(0, 300)}…` : g.note }))),
    '',
    ...metricsTable(r.candidate, r.champion, r.delta),
    '',
  ];
  if (r.champion) head.push(aucCi(r), '');
  const failing = r.gates
    .filter((g) => g.slices && g.status === 'fail')
    .flatMap((g) =>
      (g.slices ?? [])
        .filter((s) => s.status === 'fail')
        .map(
          (s) =>
            `- ${s.slice} (n=${int(s.n)}, ${s.positives} positives): ` +
            `${g.metric} ${signed(s.value)} vs ${g.op} ${g.threshold}`,
        ),
    );
  if (failing.length > 0)
    head.push(
      'Failing slices:',
      ...failing.slice(0, 15),
      ...(failing.length > 15 ? [`- … ${failing.length - 15} more in the report`] : []),
      '',
    );
  const noAuc = r.slices.filter((s) => s.candidate.auc === null && s.n > 0);
  if (noAuc.length > 0)
    head.push(
      `Slices with one class (no AUC): ${noAuc
        .slice(0, 10)
        .map((s) => `${s.slice} (n=${s.n})`)
        .join(', ')}${noAuc.length > 10 ? ', …' : ''}.`,
      '',
    );
  const tail = [`[MLflow run](${rep.mlflowRunUrl}) · report: \`${rep.reportPrefix}report.md\``];
  return fit([...head, ...tail].join('\n'), tail.join('\n'));
}

// ---- shadow -------------------------------------------------------------------------------

export function shadowMarkdown(rep: ShadowReport): string {
  const r = rep.result;
  const lines: string[] = [];
  lines.push(...header('Shadow scoring', rep, r.passed), '');
  lines.push(
    `Replayed ${int(r.n)} events of ${rep.window.from} .. ${rep.window.to} ` +
      `(exclusive; ${rep.window.days.length} day partition(s)) ` +
      `through ${rep.champion ? 'champion and candidate side by side' : 'the candidate (no champion)'}, ` +
      `in batches of ${int(rep.options.batchSize)}. ` +
      `Operating threshold ${r.threshold} (score ≥ threshold is blocked).`,
    '',
  );
  lines.push('#### Gates', '', ...gateTable(r.gates), '');
  lines.push(...shadowFigures(r), '');
  lines.push(...quantileTable(r), '');
  if (r.psi) lines.push(...psiTable(r.psi), '');
  if (r.top.length > 0) lines.push(...disagreementTable(r.top), '');
  lines.push(...missingLines(rep.missingValues, rep.candidate, rep.champion), '');
  lines.push('#### Plots', '', '![scores](scores.svg)', '');
  lines.push(...lineage(rep));
  lines.push(
    '',
    "<sub>PSI: 10 bins at the champion's score deciles (tied edges merged), proportions floored at 1e-4. " +
      'KS: two-sample statistic. Agreement: share of events both block or both let through. ' +
      "Latency: wall time of each batch's session.run (process.hrtime), nearest-rank percentiles.</sub>",
  );
  return lines.join('\n');
}

function quantileTable(r: ShadowResult): string[] {
  const q = (name: string, d: ShadowResult['candidate']) =>
    `| ${name} | ${f4(d.mean)} | ${f4(d.quantiles.p01)} | ${f4(d.quantiles.p10)} | ${f4(d.quantiles.p50)} | ` +
    `${f4(d.quantiles.p90)} | ${f4(d.quantiles.p99)} | ${pct(d.blockRate)} |`;
  return [
    '#### Score quantiles',
    '',
    '| | mean | p01 | p10 | p50 | p90 | p99 | blocked |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    q('candidate', r.candidate),
    ...(r.champion ? [q('champion', r.champion)] : []),
  ];
}

function psiTable(p: NonNullable<ShadowResult['psi']>): string[] {
  const lines = [
    '#### PSI bins (champion deciles)',
    '',
    '| bin (upper edge) | champion | candidate |',
    '|---|---:|---:|',
  ];
  p.expected.forEach((e, i) => {
    const bin = i < p.edges.length ? `≤ ${f4(p.edges[i])}` : '> last edge';
    lines.push(`| ${bin} | ${pct(e)} | ${pct(p.actual[i])} |`);
  });
  return lines;
}

function disagreementTable(top: ShadowResult['top']): string[] {
  return [
    `#### The ${top.length} events they disagree on most`,
    '',
    '| event id | time | champion | candidate | Δ |',
    '|---|---|---:|---:|---:|',
    ...top.map((t) => {
      const scores = `${f4(t.champion)} | ${f4(t.candidate)} | ${signed(t.delta)}`;
      return `| ${cell(String(t.id))} | ${t.ts ?? '—'} | ${scores} |`;
    }),
  ];
}

function shadowFigures(r: ShadowResult): string[] {
  const out = ['| figure | value |', '|---|---:|'];
  if (r.champion) {
    out.push(
      `| PSI (champion deciles) | ${f4(r.psi?.psi)} |`,
      `| KS | ${f4(r.ks)} |`,
      `| decision agreement | ${pct(r.agreement, 3)} |`,
    );
    out.push(
      `| block rate champion → candidate | ${pct(r.champion.blockRate, 3)} → ${pct(r.candidate.blockRate, 3)} ` +
        `(Δ ${signed(r.blockRateDelta)}) |`,
    );
    if (r.flips)
      out.push(`| newly blocked / newly allowed | ${int(r.flips.newlyBlocked)} / ${int(r.flips.newlyAllowed)} |`);
  } else {
    out.push(`| candidate block rate | ${pct(r.candidate.blockRate, 3)} |`);
  }
  out.push(`| candidate batch latency p50 / p99 | ${ms(r.latency.candidate.p50)} / ${ms(r.latency.candidate.p99)} |`);
  if (r.latency.champion)
    out.push(`| champion batch latency p50 / p99 | ${ms(r.latency.champion.p50)} / ${ms(r.latency.champion.p99)} |`);
  return out;
}

export function shadowSummary(rep: ShadowReport): string {
  const r = rep.result;
  const head = [
    ...header('Shadow scoring', rep, r.passed),
    '',
    `${int(r.n)} events of ${rep.window.from}..${rep.window.to}, threshold ${r.threshold}.`,
    '',
    ...gateTable(r.gates),
    '',
    ...shadowFigures(r),
    '',
  ];
  if (r.top.length > 0) {
    head.push(
      'Largest disagreements:',
      ...r.top
        .slice(0, 5)
        .map((t) => `- ${String(t.id)} (${t.ts ?? '—'}): champion ${f4(t.champion)}, candidate ${f4(t.candidate)}`),
      '',
    );
  }
  const tail = [`[MLflow run](${rep.mlflowRunUrl}) · report: \`${rep.reportPrefix}report.md\``];
  return fit([...head, ...tail].join('\n'), tail.join('\n'));
}

/** Cuts `text` to SUMMARY_LIMIT bytes, keeping `tail` (the links). */
function fit(text: string, tail: string): string {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= SUMMARY_LIMIT) return text;
  const note = '\n\n… (cut to fit; the full report has the rest)\n\n';
  let body = text.slice(0, text.length - tail.length);
  while (enc.encode(body + note + tail).length > SUMMARY_LIMIT && body.length > 0)
    body = body.slice(0, Math.max(0, body.lastIndexOf('\n', body.length - 2)));
  return body + note + tail;
}

// ---- plots --------------------------------------------------------------------------------

type CurveSet = EvaluationReport['result']['curves']['candidate'];

/**
 * One series per model, the champion's (when there is one) drawn first so the candidate's lies
 * on top; `series` names and draws a model's curve given its role and its label.
 */
function bothModels(
  rep: EvaluationReport,
  series: (curves: CurveSet, role: 'candidate' | 'champion') => Omit<Series, 'color'>,
): Series[] {
  const h = rep.result.curves.champion;
  return [
    ...(h ? [{ ...series(h, 'champion'), color: COLORS.champion }] : []),
    { ...series(rep.result.curves.candidate, 'candidate'), color: COLORS.candidate },
  ];
}

/** "candidate v7 (0.9123)": a model in a legend, with a figure when given one. */
function legendName(rep: EvaluationReport, role: 'candidate' | 'champion', figure?: number | null): string {
  const version = role === 'candidate' ? rep.candidate.version : (rep.champion?.version ?? '');
  return `${role} v${version}${figure === undefined ? '' : ` (${f4(figure)})`}`;
}

function rocPlot(rep: EvaluationReport): string {
  return lineChart({
    title: 'ROC curve (holdout)',
    xLabel: 'false positive rate',
    yLabel: 'true positive rate (recall)',
    diagonal: true,
    legend: 'bottom-right',
    series: bothModels(rep, (c, role) => ({
      name: legendName(rep, role, rep.result[role]?.values.auc),
      points: c.roc.map((p): [number, number] => [p.fpr, p.tpr]),
    })),
  });
}

function prPlot(rep: EvaluationReport): string {
  return lineChart({
    title: 'Precision–recall curve (holdout)',
    xLabel: 'recall',
    yLabel: 'precision',
    legend: 'bottom-left',
    series: bothModels(rep, (c, role) => ({
      name: legendName(rep, role, rep.result[role]?.values.pr_auc),
      points: c.pr.map((p): [number, number] => [p.recall, p.precision]),
    })),
  });
}

function calibrationPlot(rep: EvaluationReport): string {
  return lineChart({
    title: 'Reliability (10 equal-width bins)',
    xLabel: 'mean predicted probability',
    yLabel: 'observed positive rate',
    diagonal: true,
    legend: 'bottom-right',
    series: bothModels(rep, (c, role) => ({
      name: `${legendName(rep, role)} ECE ${f4(rep.result[role]?.values.ece)}`,
      points: c.reliability.filter((b) => b.count > 0).map((b): [number, number] => [b.meanScore!, b.positiveRate!]),
      dots: true,
    })),
  });
}

function scoresPlot(rep: EvaluationReport): string {
  const hist = rep.result.histograms;
  return histogramChart({
    title: 'Score distribution by class (holdout)',
    xLabel: 'score',
    series: [
      { name: 'candidate, negatives', color: '#ff9896', counts: hist.candidate.negatives },
      { name: 'candidate, positives', color: COLORS.candidate, counts: hist.candidate.positives },
      ...(hist.champion
        ? [
            { name: 'champion, negatives', color: '#aec7e8', counts: hist.champion.negatives },
            { name: 'champion, positives', color: COLORS.champion, counts: hist.champion.positives },
          ]
        : []),
    ],
  });
}

export function evaluationPlots(rep: EvaluationReport): Record<string, string> {
  return {
    'roc.svg': rocPlot(rep),
    'pr.svg': prPlot(rep),
    'calibration.svg': calibrationPlot(rep),
    'scores.svg': scoresPlot(rep),
  };
}

export function shadowPlots(rep: ShadowReport): Record<string, string> {
  const r = rep.result;
  return {
    'scores.svg': histogramChart({
      title: `Score distribution, ${rep.window.from}..${rep.window.to}`,
      xLabel: 'score',
      series: [
        ...(r.champion
          ? [{ name: `champion v${rep.champion?.version ?? ''}`, color: COLORS.champion, counts: r.champion.histogram }]
          : []),
        { name: `candidate v${rep.candidate.version}`, color: COLORS.candidate, counts: r.candidate.histogram },
      ],
    }),
  };
}
