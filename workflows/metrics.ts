/**
 * mlo's metrics from workflow code, through the SDK's workflow metric meter: nothing is emitted
 * while a history replays (so a worker restart neither loses nor repeats a measurement), and
 * nothing is added to the history. Every metric carries the `model` tag the interceptors of
 * workflows/interceptors.ts add (metric names: lib/core/metric-names.ts).
 */
import { metricMeter } from '@temporalio/workflow';
import { MLO_METRICS } from '../lib/core/metric-names';

function seconds(fromIso: string | undefined, to: number): number {
  const from = fromIso ? Date.parse(fromIso) : NaN;
  return Number.isFinite(from) ? Math.max(0, (to - from) / 1000) : 0;
}

/** One stage of a run ended (workflow time, which survives worker restarts). */
export function recordStage(stage: string, outcome: 'succeeded' | 'failed', startedAt: string | undefined): void {
  const m = MLO_METRICS.stageDuration;
  metricMeter
    .createHistogram(m.name, 'float', m.unit, m.help)
    .record(seconds(startedAt, Date.now()), { stage, outcome });
}

/** A trainAndPromote run ended. */
export function recordRun(outcome: string, startedAtMs: number): void {
  const c = MLO_METRICS.runs;
  metricMeter.createCounter(c.name, c.unit, c.help).add(1, { outcome });
  const h = MLO_METRICS.runDuration;
  metricMeter
    .createHistogram(h.name, 'float', h.unit, h.help)
    .record(Math.max(0, (Date.now() - startedAtMs) / 1000), { outcome });
}

/** A gate's verdict on a candidate. */
export function recordGate(gate: 'evaluation' | 'shadow', passed: boolean): void {
  const c = MLO_METRICS.gates;
  metricMeter.createCounter(c.name, c.unit, c.help).add(1, { gate, outcome: passed ? 'passed' : 'failed' });
}
