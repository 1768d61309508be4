/**
 * Evaluation (CPU pool): the candidate and the champion (`models:/<model>@champion`) scored with
 * onnxruntime-node on the out-of-time holdout — the snapshot's partitions whose day is in
 * `windows.holdout`, labelled rows only — then metrics overall and per slice, the paired DeLong
 * interval on the AUC difference, the spec's gates, and the reports (S3 + the candidate's MLflow
 * run). A failed gate returns `passed: false`; bad input (schema mismatch, non-ONNX file, no
 * probability output, infinite features, an empty or one-class holdout) is a non-retryable
 * FailureType.BadInput failure. Nothing moves in the registry here.
 */
import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import {
  column,
  Growable,
  labelledRows,
  partitionsIn,
  readManifest,
  readPartition,
  rowNamer,
  SliceDictionary,
} from '../lib/eval/data';
import { evaluateScores, METRIC_NAMES, type SliceColumn } from '../lib/eval/evaluate';
import { withBadInputAsFailure } from '../lib/eval/failure';
import { EVAL_GATE_METRICS, parseGate } from '../lib/spec/model-spec';
import { loadModels, releaseModels } from '../lib/eval/load-models';
import { publishReport, reportPrefix, runUrl } from '../lib/eval/publish';
import {
  evaluationMarkdown,
  evaluationPlots,
  evaluationSummary,
  jsonNumbers,
  modelRef,
  type EvaluationReport,
} from '../lib/eval/report';
import { DEFAULT_BATCH_ROWS, scoreRows } from '../lib/eval/score';
import { featureColumns, newFillStats } from '../lib/eval/tensor';
import type { ActivityDeps } from './deps';
import type { CandidateRef, EvaluationSummary, FeatureSnapshotRef, StageInput } from './types';

export type EvaluateInput = StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef };

export function evaluationActivities(deps: ActivityDeps) {
  return {
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluationSummary> {
      return withBadInputAsFailure(`evaluation of ${input.model} v${input.candidate.version}`, () =>
        evaluateCandidate(deps, input),
      );
    },
  };
}

async function evaluateCandidate(deps: ActivityDeps, input: EvaluateInput): Promise<EvaluationSummary> {
  const ctx = Context.current();
  const signal = ctx.cancellationSignal;
  const ev = input.spec.evaluation;
  const bucket = deps.config.s3.bucket;
  const window = input.windows.holdout;

  ev.gates.forEach((g, i) => {
    const r = parseGate(g, EVAL_GATE_METRICS);
    if (typeof r === 'string') throw new BadInputError(`evaluation.gates[${i}]: ${r}`);
  });
  ctx.heartbeat({ stage: 'loading' });
  const manifest = await readManifest(deps.s3, input.snapshot.manifestUri, signal);
  const features = manifest.columns.features.map((f) => f.name);
  const missingSlices = ev.slices.filter((s) => !manifest.columns.slices.includes(s));
  if (missingSlices.length > 0) {
    throw new BadInputError(
      `evaluation.slices ${missingSlices.join(', ')} are not slice columns of the snapshot ${input.snapshot.manifestUri} (it carries: ${manifest.columns.slices.join(', ') || 'none'}); add them to features.slices and rebuild the snapshot`,
    );
  }
  const parts = partitionsIn(manifest, window);
  if (parts.length === 0) {
    throw new BadInputError(
      `the holdout ${window.from}..${window.to} is empty: the snapshot ${input.snapshot.manifestUri} has no partition in it (it covers ${manifest.window.from}..${manifest.window.to})`,
    );
  }

  const models = await loadModels(deps, input.model, input.candidate, features, signal);
  try {
    const scoring = models.champion ? [models.candidate, models.champion] : [models.candidate];
    const F = features.length;
    const capacity = parts.reduce((s, p) => s + (p.labeledRows || 0), 0);
    const cand = new Growable((n) => new Float64Array(n), capacity);
    const champ = models.champion ? new Growable((n) => new Float64Array(n), capacity) : null;
    const labels = new Growable((n) => new Uint8Array(n), capacity);
    const slices = ev.slices.map((name) => ({
      name,
      dict: new SliceDictionary(),
      codes: new Growable((n) => new Int32Array(n), capacity),
    }));
    const stats = newFillStats(F);
    const buffer = new Float32Array(DEFAULT_BATCH_ROWS * F);
    let totalRows = 0;
    for (const [i, p] of parts.entries()) {
      ctx.heartbeat({ stage: 'scoring', partition: p.day, done: i, of: parts.length });
      const t = await readPartition(deps.s3, p, signal);
      totalRows += t.numRows;
      const lab = labelledRows(column(t, manifest.columns.label, p.uri, 'the label'), p.uri, manifest.columns.label);
      if (lab.rows.length === 0) continue;
      const cols = featureColumns(t, features, p.uri);
      const at = cand.reserve(lab.rows.length);
      champ?.reserve(lab.rows.length);
      await scoreRows(scoring, cols, lab.rows, {
        where: p.uri,
        describeRow: rowNamer(t, manifest.columns.id, manifest.columns.timestamp),
        stats,
        buffer,
        signal,
        out: champ ? [cand.raw, champ.raw] : [cand.raw],
        offset: at,
        onBatch: (done, total) =>
          ctx.heartbeat({
            stage: 'scoring',
            partition: p.day,
            done: i,
            of: parts.length,
            rows: done,
            rowsOfPartition: total,
          }),
      });
      labels.append(lab.labels);
      for (const s of slices)
        s.codes.append(s.dict.encode(column(t, s.name, p.uri, 'a slice column'), p.uri, s.name, lab.rows));
    }

    const y = labels.view();
    const n = y.length;
    let positives = 0;
    for (let i = 0; i < n; i++) positives += y[i]!;
    const days = parts.map((p) => p.day);
    if (n === 0) {
      throw new BadInputError(
        `the holdout ${window.from}..${window.to} has no labelled rows (${totalRows} rows in ${days.length} partition(s), every label null: not mature by the cut-off ${manifest.labelCutoff}); move the holdout back or wait for labels to mature`,
      );
    }
    if (positives === 0 || positives === n) {
      throw new BadInputError(
        `the holdout ${window.from}..${window.to} holds one class only (${n} labelled rows, ${positives} positives): AUC and the other ranking metrics are undefined; widen the holdout (evaluation.holdout.days)`,
      );
    }

    ctx.heartbeat({ stage: 'metrics' });
    const sliceColumns: SliceColumn[] = slices.map((s) => ({
      column: s.name,
      codes: s.codes.view(),
      values: s.dict.values,
    }));
    const result = evaluateScores({
      candidate: cand.view(),
      champion: champ ? champ.view() : null,
      labels: y,
      slices: sliceColumns,
      fixedFpr: ev.fixed_fpr,
      operatingThreshold: ev.operating_threshold,
      gates: ev.gates,
    });

    // Reports.
    ctx.heartbeat({ stage: 'reports' });
    const cd = models.candidate.description;
    const hd = models.champion?.description ?? null;
    const prefix = reportPrefix(
      bucket,
      input.model,
      input.candidate.version,
      {
        stage: 'evaluation',
        candidate: { version: input.candidate.version, sha256: cd.sha256 },
        champion: hd ? { version: hd.version, sha256: hd.sha256 } : null,
        snapshot: input.snapshot.hash,
        window,
        evaluation: ev,
        code: deps.codeVersion,
      },
      'evaluation',
    );
    const run = await deps.mlflow.getRun(input.candidate.runId, { signal });
    const url = runUrl(deps.config.mlflow.uiUrl, run.info.experimentId, run.info.runId);
    const report: EvaluationReport = {
      kind: 'mlo.evaluation-report/v1',
      model: input.model,
      candidate: modelRef(cd, input.candidate.runId),
      champion: hd && models.championVersion ? modelRef(hd, models.championVersion.runId) : null,
      championNote: models.championNote,
      snapshot: { manifestUri: input.snapshot.manifestUri, hash: input.snapshot.hash },
      window: { from: window.from, to: window.to, days },
      reportPrefix: prefix.uri,
      mlflowRunUrl: url,
      codeVersion: deps.codeVersion,
      workflowId: input.workflowId,
      options: {
        fixedFpr: ev.fixed_fpr,
        operatingThreshold: ev.operating_threshold,
        slices: ev.slices,
        gates: ev.gates,
      },
      rows: { total: totalRows, labelled: n, positives },
      missingValues: Object.fromEntries(features.map((f, k) => [f, stats.nanPerColumn[k]!])),
      result,
    };
    const plots = evaluationPlots(report);
    const files = [
      { name: 'report.json', body: `${JSON.stringify(report, jsonNumbers, 2)}\n`, contentType: 'application/json' },
      { name: 'report.md', body: `${evaluationMarkdown(report)}\n`, contentType: 'text/markdown; charset=utf-8' },
      ...Object.entries(plots).map(([name, body]) => ({ name, body, contentType: 'image/svg+xml' })),
    ];
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
    await publishReport(deps, {
      bucket,
      prefixKey: prefix.key,
      stage: 'evaluation',
      files,
      runArtifactUri: run.info.artifactUri,
      runId: run.info.runId,
      metrics,
      tags: {
        'mlo.evaluation_report': `${prefix.uri}report.json`,
        'mlo.evaluation_passed': String(result.passed),
        'mlo.evaluation_champion_version': hd?.version ?? 'none',
      },
      signal,
    });

    return {
      passed: result.passed,
      reportUri: `${prefix.uri}report.json`,
      markdown: evaluationSummary(report),
      championVersion: hd?.version ?? null,
      gates: result.gates.map((g) => ({ gate: g.gate, status: g.status, value: g.value, note: g.note })),
      metrics: Object.fromEntries(
        Object.entries(metrics).filter(([k]) =>
          /^holdout_(auc|pr_auc|log_loss|auc_delta|auc_delta_ci_low|auc_delta_ci_high|rows|positives)$/.test(k),
        ),
      ),
      mlflowRunUrl: url,
    };
  } finally {
    await releaseModels(models);
  }
}
