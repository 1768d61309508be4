/**
 * mlo's metrics from activity code (names: lib/core/metric-names.ts), through the activity's
 * metric meter: the SDK tags each with `namespace`, `task_queue` and `activity_type`, and the
 * interceptor below adds the run's `model` (to metrics and to log lines). The interceptor
 * measures every activity attempt (duration and outcome) and reads the results that say what
 * happened (a feature partition reused or computed, the kind of a champion move); training
 * reports its trainer's starts and progress through `trainerMetrics`, feature partitions their
 * bytes read through `recordBytesRead`.
 */
import type { Context } from '@temporalio/activity';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptors,
  ActivityOutboundCallsInterceptor,
  GetLogAttributesInput,
  GetMetricTagsInput,
  Next,
} from '@temporalio/worker';
import { FailureType } from '../core/failure-types';
import { modelOfWorkflowId } from '../core/ids';
import { MLO_METRICS } from '../core/metric-names';
import type { TrainerLine } from '../trainer/contract';

/** The model an activity works for: from its workflow's id, else its input's `model` field. */
export function activityModel(ctx: Context, args: readonly unknown[] = []): string | undefined {
  const fromId = ctx.info.workflowExecution?.workflowId
    ? modelOfWorkflowId(ctx.info.workflowExecution.workflowId)
    : undefined;
  const first = args[0] as { model?: unknown } | undefined;
  return fromId ?? (typeof first?.model === 'string' ? first.model : undefined);
}

function outcomeOf(ctx: Context, err: unknown): string {
  if (ctx.cancellationSignal.aborted) return 'cancelled';
  const type = (err as { type?: unknown } | undefined)?.type;
  if (type === FailureType.BadInput) return 'bad-input';
  if (type === FailureType.Cancelled) return 'cancelled';
  return 'failed';
}

/** What a champion move's input says about its kind. */
type MoveInput = { action?: string; emergency?: boolean };

class MetricsInbound implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly state: { model?: string },
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    this.state.model = activityModel(this.ctx, input.args);
    const meter = this.ctx.metricMeter;
    const d = MLO_METRICS.activityDuration;
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    let result: unknown;
    try {
      result = await next(input);
    } catch (err) {
      meter.createHistogram(d.name, 'float', d.unit, d.help).record(took(), { outcome: outcomeOf(this.ctx, err) });
      throw err;
    }
    meter.createHistogram(d.name, 'float', d.unit, d.help).record(took(), { outcome: 'succeeded' });
    afterSuccess(meter, this.ctx.info.activityType, input.args, result);
    return result;
  }
}

function afterSuccess(meter: MetricMeter, activityType: string, args: readonly unknown[], result: unknown): void {
  if (activityType === 'computeFeaturePartition') {
    const reused = (result as { reused?: unknown } | undefined)?.reused;
    const p = MLO_METRICS.partitions;
    meter.createCounter(p.name, p.unit, p.help).add(1, { result: reused === true ? 'reused' : 'computed' });
  } else if (activityType === 'moveChampion') {
    const move = (args[0] ?? {}) as MoveInput;
    const kind = move.action === 'rollback' ? (move.emergency ? 'emergency' : 'rollback') : 'promotion';
    const a = MLO_METRICS.aliasMoves;
    meter.createCounter(a.name, a.unit, a.help).add(1, { kind });
  }
}

class ModelOutbound implements ActivityOutboundCallsInterceptor {
  constructor(private readonly state: { model?: string }) {}

  getMetricTags(input: GetMetricTagsInput, next: Next<ActivityOutboundCallsInterceptor, 'getMetricTags'>): MetricTags {
    return next(this.state.model ? { ...input, model: this.state.model } : input);
  }

  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    return next(this.state.model ? { model: this.state.model, ...input } : input);
  }
}

/** The activity interceptors of every mlo worker: metrics and the `model` of logs and metrics. */
export function metricsActivityInterceptors(ctx: Context): ActivityInterceptors {
  const state: { model?: string } = {};
  return { inbound: new MetricsInbound(ctx, state), outbound: new ModelOutbound(state) };
}

/** Raw bytes a feature partition read from S3 (a table cache miss). */
export function recordBytesRead(ctx: Context, bytes: number): void {
  const b = MLO_METRICS.bytesRead;
  ctx.metricMeter.createCounter(b.name, b.unit, b.help).add(bytes);
}

/** The metrics of one trainer run of a trial: its start and its progress lines. */
export function trainerMetrics(ctx: Context, trialIndex: number) {
  const meter = ctx.metricMeter;
  const a = MLO_METRICS.trainerAttempts;
  const s = MLO_METRICS.trainerSteps;
  const p = MLO_METRICS.trainerProgress;
  const m = MLO_METRICS.trainerMetric;
  const steps = meter.createCounter(s.name, s.unit, s.help);
  const progress = meter.createGauge(p.name, 'float', p.unit, p.help);
  const metric = meter.createGauge(m.name, 'float', m.unit, m.help);
  return {
    /** A trainer starts: attempt 1, a retry from scratch, or a retry from a checkpoint. */
    started(resumed: boolean): void {
      const start = ctx.info.attempt <= 1 ? 'first' : resumed ? 'resumed' : 'restart';
      meter.createCounter(a.name, a.unit, a.help).add(1, { start });
    },
    line(line: TrainerLine): void {
      if (line.type !== 'progress') return;
      steps.add(1);
      if (line.total && line.total > 0) progress.set(Math.min(1, line.step / line.total), { trial: trialIndex });
      for (const [key, value] of Object.entries(line.metrics))
        if (typeof value === 'number' && Number.isFinite(value)) metric.set(value, { metric: key });
    },
  };
}
