/**
 * Shadow scoring (CPU pool): the most recent days (`windows.shadow`; the snapshot covers them,
 * labels are not needed) replayed through the champion and the candidate side by side, in
 * batches of `spec.shadow.batch_size`, with onnxruntime-node. Reports the score-distribution
 * shift (PSI over the champion's deciles, KS), decision agreement and the block-rate change at
 * the operating threshold, the events they disagree on most, and each model's per-batch latency;
 * judges `spec.shadow.gates`. With no champion it reports the candidate alone and the gates that
 * compare with a champion are n/a.
 */
import type { Table } from 'apache-arrow';
import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/core/errors';
import { withActivityFailures } from '../lib/core/failures';
import { idValue, tsValue } from '../lib/eval/data';
import { parseGates } from '../lib/eval/gates';
import { publishStageReport } from '../lib/eval/publish';
import { shadowMarkdown, shadowPlots, shadowSummary, type ShadowReport } from '../lib/eval/report';
import { shadowScores, TopDisagreements, type ShadowResult } from '../lib/eval/shadow';
import { missingValues, scoreWindow, type ScoredWindow, type WindowScores } from '../lib/eval/window';
import type { FeatureSnapshotManifest, FeatureSnapshotPartition } from '../lib/features/manifest';
import { SHADOW_GATE_METRICS } from '../lib/spec/model-spec';
import type { ActivityDeps } from './deps';
import { reportTarget, stageSummary } from './stage-report';
import type { CandidateRef, FeatureSnapshotRef, ShadowSummary, StageInput } from './types';

/** How many of the events the two models disagree on most the report lists. */
const SHADOW_TOP_N = 20;

export type ShadowInput = StageInput & { snapshot: FeatureSnapshotRef; candidate: CandidateRef };

export function shadowActivities(deps: ActivityDeps) {
  return {
    async shadowScore(input: ShadowInput): Promise<ShadowSummary> {
      return withActivityFailures(() => shadowScore(deps, input), {
        context: `shadow scoring of ${input.model} v${input.candidate.version}`,
        keepCause: true,
      });
    },
  };
}

/** Offers every scored event of a partition, [at, at + rows) of the scores, to the top disagreements. */
function offerDisagreements(
  top: TopDisagreements,
  t: Table,
  manifest: FeatureSnapshotManifest,
  p: FeatureSnapshotPartition,
  at: number,
  scores: WindowScores,
): void {
  const c = scores.candidate;
  const h = scores.champion;
  if (!h) return;
  const idVec = t.getChild(manifest.columns.id);
  const tsVec = t.getChild(manifest.columns.timestamp);
  for (let r = 0; r < t.numRows; r++) {
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

/** The shadow metrics logged on the candidate's run (and handed to promotion). */
function shadowMetrics(result: ShadowResult): Record<string, number | null> {
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
  return metrics;
}

/** The shadow window's events scored by both models; the most disagreed-on ones offered to `top`. */
async function scoreShadowWindow(deps: ActivityDeps, input: ShadowInput, top: TopDisagreements): Promise<ScoredWindow> {
  const ctx = Context.current();
  return scoreWindow(deps, {
    model: input.model,
    candidate: input.candidate,
    manifestUri: input.snapshot.manifestUri,
    window: input.windows.shadow,
    windowName: 'the shadow window',
    picker: (manifest, parts) => ({
      capacity: parts.reduce((s, p) => s + (p.rows || 0), 0),
      pick: (t, p) => ({
        rows: null,
        count: t.numRows,
        scored: (at, scores) => offerDisagreements(top, t, manifest, p, at, scores),
      }),
    }),
    batchSize: input.spec.shadow.batch_size,
    heartbeat: (d) => ctx.heartbeat(d),
    signal: ctx.cancellationSignal,
  });
}

async function shadowScore(deps: ActivityDeps, input: ShadowInput): Promise<ShadowSummary> {
  const ctx = Context.current();
  const sh = input.spec.shadow;
  const threshold = input.spec.evaluation.operating_threshold;
  const window = input.windows.shadow;
  parseGates(sh.gates, SHADOW_GATE_METRICS, 'shadow');
  // Offered only when there is a champion to disagree with: none leaves it empty.
  const top = new TopDisagreements(SHADOW_TOP_N);
  const scored = await scoreShadowWindow(deps, input, top);
  if (scored.scores.candidate.length === 0) {
    throw new BadInputError(
      `the shadow window ${window.from}..${window.to} has no events (${scored.parts.length} empty partition(s))`,
    );
  }

  ctx.heartbeat({ stage: 'metrics' });
  const result = shadowScores({
    candidate: scored.scores.candidate,
    champion: scored.scores.champion,
    threshold,
    latencyMs: scored.latencyMs,
    batchRows: scored.batchRows,
    gates: sh.gates,
    top: top.sorted(),
  });

  ctx.heartbeat({ stage: 'reports' });
  const metrics = shadowMetrics(result);
  const published = await publishStageReport<ShadowReport>(reportTarget(deps, input), {
    stage: 'shadow',
    window,
    scored,
    settings: { shadow: sh, threshold },
    passed: result.passed,
    metrics,
    build: (context) => ({
      kind: 'mlo.shadow-report/v1',
      ...context,
      options: { batchSize: sh.batch_size, operatingThreshold: threshold, gates: sh.gates, topN: SHADOW_TOP_N },
      missingValues: missingValues(scored),
      result,
    }),
    markdown: shadowMarkdown,
    plots: shadowPlots,
    signal: ctx.cancellationSignal,
  });
  return stageSummary(published, result, scored, shadowSummary(published.report), metrics);
}
