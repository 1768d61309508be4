/**
 * Evaluation (CPU pool): the candidate and the champion (`models:/<model>@champion`) scored with
 * onnxruntime-node on the out-of-time holdout — the snapshot's partitions whose day is in
 * `windows.holdout`, labelled rows only — then metrics overall and per slice, the paired DeLong
 * interval on the AUC difference, the spec's gates, and the reports (S3 + the candidate's MLflow
 * run). A failed gate returns `passed: false`; bad input (schema mismatch, non-ONNX file, no
 * probability output, infinite features, an empty or one-class holdout) is a non-retryable
 * FailureType.BadInput failure. Nothing moves in the registry here.
 */
import type { Table } from 'apache-arrow';
import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import { withActivityFailures } from '../lib/core/failures';
import { column, Growable, labelledRows, SliceDictionary } from '../lib/eval/data';
import { evaluateScores, METRIC_NAMES, type EvalResult, type SliceColumn } from '../lib/eval/evaluate';
import { parseGates } from '../lib/eval/gates';
import { publishStageReport } from '../lib/eval/publish';
import {
  evaluationMarkdown,
  evaluationPlots,
  evaluationSummary,
  type EvaluationReport,
  type ReportContext,
} from '../lib/eval/report';
import { missingValues, scoreWindow, type PartitionRows, type RowPicker, type ScoredWindow } from '../lib/eval/window';
import type { DayRange } from '../lib/core/windows';
import type { FeatureSnapshotManifest, FeatureSnapshotPartition } from '../lib/features/manifest';
import { EVAL_GATE_METRICS } from '../lib/spec/model-spec';
import type { ActivityDeps } from './deps';
import { reportTarget, stageSummary } from './stage-report';
import type { CandidateRef, EvaluationSummary, FeatureSnapshotRef, StageInput } from './types';

export type EvaluateInput = StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef };

/** Key figures the summary hands to promotion. */
const SUMMARY_METRICS = /^holdout_(auc|pr_auc|log_loss|auc_delta|auc_delta_ci_low|auc_delta_ci_high|rows|positives)$/;

export function evaluationActivities(deps: ActivityDeps) {
  return {
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluationSummary> {
      return withActivityFailures(() => evaluateCandidate(deps, input), {
        context: `evaluation of ${input.model} v${input.candidate.version}`,
        keepCause: true,
      });
    },
  };
}

/** The labels and slice codes of the holdout's labelled rows, gathered as their scores are. */
class HoldoutRows implements RowPicker {
  readonly capacity: number;
  readonly labels: Growable<Uint8Array>;
  readonly slices: { name: string; dict: SliceDictionary; codes: Growable<Int32Array> }[];

  constructor(
    private readonly manifest: FeatureSnapshotManifest,
    parts: FeatureSnapshotPartition[],
    sliceNames: string[],
  ) {
    const capacity = parts.reduce((s, p) => s + (p.labeledRows || 0), 0);
    this.capacity = capacity;
    this.labels = new Growable((n) => new Uint8Array(n), capacity);
    this.slices = sliceNames.map((name) => ({
      name,
      dict: new SliceDictionary(),
      codes: new Growable((n) => new Int32Array(n), capacity),
    }));
  }

  pick(t: Table, p: FeatureSnapshotPartition): PartitionRows {
    const label = this.manifest.columns.label;
    const lab = labelledRows(column(t, label, p.uri, 'the label'), p.uri, label);
    return {
      rows: lab.rows,
      count: lab.rows.length,
      scored: () => {
        this.labels.append(lab.labels);
        for (const s of this.slices)
          s.codes.append(s.dict.encode(column(t, s.name, p.uri, 'a slice column'), p.uri, s.name, lab.rows));
      },
    };
  }

  sliceColumns(): SliceColumn[] {
    return this.slices.map((s) => ({ column: s.name, codes: s.codes.view(), values: s.dict.values }));
  }
}

/** Evaluation needs the spec's slice columns in the snapshot. */
function checkSlices(manifest: FeatureSnapshotManifest, slices: string[], manifestUri: string): void {
  const missing = slices.filter((s) => !manifest.columns.slices.includes(s));
  if (missing.length > 0) {
    throw new BadInputError(
      `evaluation.slices ${missing.join(', ')} are not slice columns of the snapshot ${manifestUri} ` +
        `(it carries: ${manifest.columns.slices.join(', ') || 'none'}); ` +
        'add them to features.slices and rebuild the snapshot',
    );
  }
}

/** Ranking metrics need both classes among the labelled rows; returns the positives. */
function checkHoldoutLabels(y: Uint8Array, window: DayRange, scored: ScoredWindow): number {
  const n = y.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  const holdout = `the holdout ${window.from}..${window.to}`;
  if (n === 0) {
    const rows = `${scored.totalRows} rows in ${scored.parts.length} partition(s)`;
    throw new BadInputError(
      `${holdout} has no labelled rows (${rows}, every label null: not mature by the cut-off ` +
        `${scored.manifest.labelCutoff}); move the holdout back or wait for labels to mature`,
    );
  }
  if (positives === 0 || positives === n) {
    throw new BadInputError(
      `${holdout} holds one class only (${n} labelled rows, ${positives} positives): ` +
        'AUC and the other ranking metrics are undefined; widen the holdout (evaluation.holdout.days)',
    );
  }
  return positives;
}

/** The holdout metrics logged on the candidate's run. */
function holdoutMetrics(result: EvalResult, n: number, positives: number): Record<string, number | null> {
  const metrics: Record<string, number | null> = {
    holdout_rows: n,
    holdout_positives: positives,
    evaluation_passed: result.passed ? 1 : 0,
    evaluation_failed_gates: result.gates.filter((g) => g.status === 'fail').length,
  };
  for (const k of METRIC_NAMES) {
    metrics[`holdout_${k}`] = result.candidate.values[k];
    if (result.champion) {
      metrics[`holdout_champion_${k}`] = result.champion.values[k];
      metrics[`holdout_${k}_delta`] = result.delta?.[k] ?? null;
    }
  }
  if (result.aucDifference) {
    metrics.holdout_auc_delta_ci_low = result.aucDifference.ciLow;
    metrics.holdout_auc_delta_ci_high = result.aucDifference.ciHigh;
    metrics.holdout_auc_delta_p_value = result.aucDifference.pValue;
  }
  return metrics;
}

/** The holdout's labelled rows scored by both models, with their labels and slice codes. */
async function scoreHoldout(
  deps: ActivityDeps,
  input: EvaluateInput,
): Promise<{ scored: ScoredWindow; holdout: HoldoutRows }> {
  const ctx = Context.current();
  const slices = input.spec.evaluation.slices;
  let holdout: HoldoutRows | undefined;
  const scored = await scoreWindow(deps, {
    model: input.model,
    candidate: input.candidate,
    manifestUri: input.snapshot.manifestUri,
    window: input.windows.holdout,
    windowName: 'the holdout',
    checkManifest: (m) => checkSlices(m, slices, input.snapshot.manifestUri),
    picker: (m, parts) => (holdout = new HoldoutRows(m, parts, slices)),
    heartbeat: (d) => ctx.heartbeat(d),
    signal: ctx.cancellationSignal,
  });
  // scoreWindow calls the picker as soon as it knows the window's partitions, before it returns.
  return { scored, holdout: holdout! };
}

function evaluationReport(
  context: ReportContext,
  ev: EvaluateInput['spec']['evaluation'],
  scored: ScoredWindow,
  rows: { labelled: number; positives: number },
  result: EvalResult,
): EvaluationReport {
  return {
    kind: 'mlo.evaluation-report/v1',
    ...context,
    options: { fixedFpr: ev.fixed_fpr, operatingThreshold: ev.operating_threshold, slices: ev.slices, gates: ev.gates },
    rows: { total: scored.totalRows, ...rows },
    missingValues: missingValues(scored),
    result,
  };
}

async function evaluateCandidate(deps: ActivityDeps, input: EvaluateInput): Promise<EvaluationSummary> {
  const ctx = Context.current();
  const ev = input.spec.evaluation;
  parseGates(ev.gates, EVAL_GATE_METRICS, 'evaluation');
  const { scored, holdout } = await scoreHoldout(deps, input);
  const y = holdout.labels.view();
  const positives = checkHoldoutLabels(y, input.windows.holdout, scored);

  ctx.heartbeat({ stage: 'metrics' });
  const result = evaluateScores({
    candidate: scored.scores.candidate,
    champion: scored.scores.champion,
    labels: y,
    slices: holdout.sliceColumns(),
    fixedFpr: ev.fixed_fpr,
    operatingThreshold: ev.operating_threshold,
    gates: ev.gates,
  });

  ctx.heartbeat({ stage: 'reports' });
  const metrics = holdoutMetrics(result, y.length, positives);
  const published = await publishStageReport<EvaluationReport>(reportTarget(deps, input), {
    stage: 'evaluation',
    window: input.windows.holdout,
    scored,
    settings: { evaluation: ev },
    passed: result.passed,
    metrics,
    build: (context) => evaluationReport(context, ev, scored, { labelled: y.length, positives }, result),
    markdown: evaluationMarkdown,
    plots: evaluationPlots,
    signal: ctx.cancellationSignal,
  });
  const summaryMetrics = Object.fromEntries(Object.entries(metrics).filter(([k]) => SUMMARY_METRICS.test(k)));
  return stageSummary(published, result, scored, evaluationSummary(published.report), summaryMetrics);
}
