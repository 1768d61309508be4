/**
 * Shadow scoring (CPU pool): the most recent days (`windows.shadow`; the snapshot covers them,
 * labels are not needed) replayed through the champion and the candidate side by side, in
 * batches of `spec.shadow.batch_size`, with onnxruntime-node. Reports the score-distribution
 * shift (PSI over the champion's deciles, KS), decision agreement and the block-rate change at
 * the operating threshold, the events they disagree on most, and each model's per-batch latency;
 * judges `spec.shadow.gates`. With no champion it reports the candidate alone and the gates that
 * compare with a champion are n/a.
 */
import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import { Growable, idValue, partitionsIn, readManifest, readPartition, rowNamer, tsValue } from '../lib/eval/data';
import { withBadInputAsFailure } from '../lib/eval/failure';
import { loadModels, releaseModels } from '../lib/eval/load-models';
import { publishReport, reportPrefix, runUrl } from '../lib/eval/publish';
import {
  jsonNumbers,
  modelRef,
  shadowMarkdown,
  shadowPlots,
  shadowSummary,
  type ShadowReport,
} from '../lib/eval/report';
import { scoreRows } from '../lib/eval/score';
import { shadowScores, TopDisagreements } from '../lib/eval/shadow';
import { featureColumns, newFillStats } from '../lib/eval/tensor';
import { parseGate, SHADOW_GATE_METRICS } from '../lib/spec/model-spec';
import type { ActivityDeps } from './deps';
import type { CandidateRef, FeatureSnapshotRef, ShadowSummary, StageInput } from './types';

/** How many of the events the two models disagree on most the report lists. */
export const SHADOW_TOP_N = 20;

export type ShadowInput = StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef };

export function shadowActivities(deps: ActivityDeps) {
  return {
    async shadowScore(input: ShadowInput): Promise<ShadowSummary> {
      return withBadInputAsFailure(`shadow scoring of ${input.model} v${input.candidate.version}`, () =>
        shadowScore(deps, input),
      );
    },
  };
}

async function shadowScore(deps: ActivityDeps, input: ShadowInput): Promise<ShadowSummary> {
  const ctx = Context.current();
  const signal = ctx.cancellationSignal;
  const sh = input.spec.shadow;
  const threshold = input.spec.evaluation.operating_threshold;
  const bucket = deps.config.s3.bucket;
  const window = input.windows.shadow;

  sh.gates.forEach((g, i) => {
    const r = parseGate(g, SHADOW_GATE_METRICS);
    if (typeof r === 'string') throw new BadInputError(`shadow.gates[${i}]: ${r}`);
  });
  ctx.heartbeat({ stage: 'loading' });
  const manifest = await readManifest(deps.s3, input.snapshot.manifestUri, signal);
  const features = manifest.columns.features.map((f) => f.name);
  const parts = partitionsIn(manifest, window);
  if (parts.length === 0) {
    throw new BadInputError(
      `the shadow window ${window.from}..${window.to} is empty: the snapshot ${input.snapshot.manifestUri} has no partition in it (it covers ${manifest.window.from}..${manifest.window.to})`,
    );
  }

  const models = await loadModels(deps, input.model, input.candidate, features, signal);
  try {
    const scoring = models.champion ? [models.candidate, models.champion] : [models.candidate];
    const capacity = parts.reduce((s, p) => s + (p.rows || 0), 0);
    const cand = new Growable((n) => new Float64Array(n), capacity);
    const champ = models.champion ? new Growable((n) => new Float64Array(n), capacity) : null;
    const latency: number[][] = scoring.map(() => []);
    const batchRows: number[] = [];
    const stats = newFillStats(features.length);
    const top = new TopDisagreements(models.champion ? SHADOW_TOP_N : 0);
    const buffer = new Float32Array(sh.batch_size * features.length);
    for (const [i, p] of parts.entries()) {
      ctx.heartbeat({ stage: 'scoring', partition: p.day, done: i, of: parts.length });
      const t = await readPartition(deps.s3, p, signal);
      const rows = t.numRows;
      if (rows === 0) continue;
      const cols = featureColumns(t, features, p.uri);
      const at = cand.reserve(rows);
      champ?.reserve(rows);
      let prev = 0;
      await scoreRows(scoring, cols, null, {
        batchSize: sh.batch_size,
        where: p.uri,
        describeRow: rowNamer(t, manifest.columns.id, manifest.columns.timestamp),
        stats,
        buffer,
        signal,
        latencies: latency,
        out: champ ? [cand.raw, champ.raw] : [cand.raw],
        offset: at,
        onBatch: (done, total) => {
          batchRows.push(done - prev);
          prev = done;
          ctx.heartbeat({
            stage: 'scoring',
            partition: p.day,
            done: i,
            of: parts.length,
            rows: done,
            rowsOfPartition: total,
          });
        },
      });
      if (champ) {
        const c = cand.raw;
        const h = champ.raw;
        const idVec = t.getChild(manifest.columns.id);
        const tsVec = t.getChild(manifest.columns.timestamp);
        for (let r = 0; r < rows; r++) {
          const d = c[at + r]! - h[at + r]!;
          if (top.wants(Math.abs(d)))
            top.offer({
              id: idValue(idVec, r),
              ts: tsValue(tsVec, r),
              day: p.day,
              candidate: c[at + r]!,
              champion: h[at + r]!,
              delta: d,
            });
        }
      }
    }
    if (cand.length === 0) {
      throw new BadInputError(
        `the shadow window ${window.from}..${window.to} has no events (${parts.length} empty partition(s))`,
      );
    }

    ctx.heartbeat({ stage: 'metrics' });
    const result = shadowScores({
      candidate: cand.view(),
      champion: champ ? champ.view() : null,
      threshold,
      latencyMs: { candidate: latency[0]!, champion: champ ? latency[1]! : null },
      batchRows,
      gates: sh.gates,
      top: top.sorted(),
    });

    ctx.heartbeat({ stage: 'reports' });
    const cd = models.candidate.description;
    const hd = models.champion?.description ?? null;
    const prefix = reportPrefix(
      bucket,
      input.model,
      input.candidate.version,
      {
        stage: 'shadow',
        candidate: { version: input.candidate.version, sha256: cd.sha256 },
        champion: hd ? { version: hd.version, sha256: hd.sha256 } : null,
        snapshot: input.snapshot.hash,
        window,
        shadow: sh,
        threshold,
        code: deps.codeVersion,
      },
      'shadow',
    );
    const run = await deps.mlflow.getRun(input.candidate.runId, { signal });
    const url = runUrl(deps.config.mlflow.uiUrl, run.info.experimentId, run.info.runId);
    const report: ShadowReport = {
      kind: 'mlo.shadow-report/v1',
      model: input.model,
      candidate: modelRef(cd, input.candidate.runId),
      champion: hd && models.championVersion ? modelRef(hd, models.championVersion.runId) : null,
      championNote: models.championNote,
      snapshot: { manifestUri: input.snapshot.manifestUri, hash: input.snapshot.hash },
      window: { from: window.from, to: window.to, days: parts.map((p) => p.day) },
      reportPrefix: prefix.uri,
      mlflowRunUrl: url,
      codeVersion: deps.codeVersion,
      workflowId: input.workflowId,
      options: { batchSize: sh.batch_size, operatingThreshold: threshold, gates: sh.gates, topN: SHADOW_TOP_N },
      missingValues: Object.fromEntries(features.map((f, k) => [f, stats.nanPerColumn[k]!])),
      result,
    };
    const files = [
      { name: 'report.json', body: `${JSON.stringify(report, jsonNumbers, 2)}\n`, contentType: 'application/json' },
      { name: 'report.md', body: `${shadowMarkdown(report)}\n`, contentType: 'text/markdown; charset=utf-8' },
      ...Object.entries(shadowPlots(report)).map(([name, body]) => ({ name, body, contentType: 'image/svg+xml' })),
    ];
    const metrics: Record<string, number | null> = {
      shadow_rows: result.n,
      shadow_passed: result.passed ? 1 : 0,
      shadow_block_rate: result.candidate.blockRate,
      shadow_candidate_p50_ms: result.latency.candidate.p50,
      shadow_candidate_p99_ms: result.latency.candidate.p99,
    };
    if (result.champion) {
      Object.assign(metrics, {
        shadow_psi: result.psi?.psi ?? null,
        shadow_ks: result.ks,
        shadow_agreement: result.agreement,
        shadow_champion_block_rate: result.champion.blockRate,
        shadow_block_rate_delta: result.blockRateDelta,
        shadow_champion_p50_ms: result.latency.champion?.p50 ?? null,
        shadow_champion_p99_ms: result.latency.champion?.p99 ?? null,
      });
    }
    await publishReport(deps, {
      bucket,
      prefixKey: prefix.key,
      stage: 'shadow',
      files,
      runArtifactUri: run.info.artifactUri,
      runId: run.info.runId,
      metrics,
      tags: {
        'mlo.shadow_report': `${prefix.uri}report.json`,
        'mlo.shadow_passed': String(result.passed),
        'mlo.shadow_champion_version': hd?.version ?? 'none',
      },
      signal,
    });
    return {
      passed: result.passed,
      reportUri: `${prefix.uri}report.json`,
      markdown: shadowSummary(report),
      championVersion: hd?.version ?? null,
      gates: result.gates.map((g) => ({ gate: g.gate, status: g.status, value: g.value, note: g.note })),
      metrics,
      mlflowRunUrl: url,
    };
  } finally {
    await releaseModels(models);
  }
}
