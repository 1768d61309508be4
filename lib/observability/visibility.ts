/**
 * Gauges that no single workflow can keep right across worker restarts, read from Temporal's
 * visibility by the orchestrator pool every `intervalMs` (default 60 s), so they hold whatever
 * happened while no worker ran:
 *
 * - pending decisions per model and kind (promotion, rollback): running `promotion/<model>` and
 *   `rollback/<model>` workflows whose `MloStage` says they await a reviewer; their age (since
 *   the workflow started) and the seconds left until their deadline (their `promotionState`
 *   query). A model whose decision was taken drops to 0 on the next poll.
 * - the time the latest trainAndPromote run of each model completed, from closed runs of the
 *   last `lookbackMs` (default 30 days) at start-up and then each poll's new ones.
 *
 * Several orchestrator workers export the same values: dashboards and alerts take `max by (model)`.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import { promotionStateQuery } from '../core/definitions';
import { modelOfWorkflowId } from '../core/ids';
import { MLO_METRICS } from '../core/metric-names';
import { SA } from '../core/search-attributes';

export type VisibilityOptions = {
  intervalMs?: number;
  lookbackMs?: number;
  /** Per query of a pending workflow's state. */
  queryTimeoutMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
};

export const PENDING_QUERY =
  `WorkflowType IN ('promotion', 'rollback') AND ExecutionStatus = 'Running' AND ` +
  `${SA.stage.name} IN ('awaiting-approval', 'rollback-awaiting-approval')`;

export function completedRunsQuery(sinceIso: string): string {
  return `WorkflowType = 'trainAndPromote' AND ExecutionStatus = 'Completed' AND CloseTime > '${sinceIso}'`;
}

type Pending = { count: number; oldestStart: number; nearestDeadline: number | undefined };

function modelOf(w: WorkflowExecutionInfo): string | undefined {
  const fromSa = w.typedSearchAttributes.get(SA.model);
  return fromSa ?? modelOfWorkflowId(w.workflowId);
}

export class VisibilityGauges {
  private readonly seen = new Set<string>();
  private readonly lastSuccess = new Map<string, number>();
  private successSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly meter: MetricMeter,
    private readonly opts: VisibilityOptions = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** One poll: pending decisions, then completed runs since the last poll. */
  async poll(): Promise<void> {
    try {
      await this.pollPending();
      await this.pollCompleted();
    } catch (err) {
      const e = MLO_METRICS.visibilityErrors;
      this.meter.createCounter(e.name, e.unit, e.help).add(1);
      this.opts.onError?.(err);
    }
  }

  private async pollPending(): Promise<void> {
    const found = new Map<string, Pending>();
    const now = this.now();
    for await (const w of this.client.workflow.list({ query: PENDING_QUERY })) {
      const model = modelOf(w);
      if (!model) continue;
      const kind = w.type === 'rollback' ? 'rollback' : 'promotion';
      const key = `${model}\u0000${kind}`;
      const p = found.get(key) ?? { count: 0, oldestStart: now, nearestDeadline: undefined };
      p.count += 1;
      p.oldestStart = Math.min(p.oldestStart, w.startTime.getTime());
      const deadline = await this.deadlineOf(w);
      if (deadline !== undefined) p.nearestDeadline = Math.min(p.nearestDeadline ?? Infinity, deadline);
      found.set(key, p);
    }
    const count = MLO_METRICS.pendingDecisions;
    const age = MLO_METRICS.pendingDecisionAge;
    const left = MLO_METRICS.pendingDecisionDeadline;
    const gCount = this.meter.createGauge(count.name, 'int', count.unit, count.help);
    const gAge = this.meter.createGauge(age.name, 'float', age.unit, age.help);
    const gLeft = this.meter.createGauge(left.name, 'float', left.unit, left.help);
    for (const key of new Set([...this.seen, ...found.keys()])) {
      const [model, kind] = key.split('\u0000') as [string, string];
      const p = found.get(key);
      const tags = { model, kind };
      gCount.set(p?.count ?? 0, tags);
      gAge.set(p ? (now - p.oldestStart) / 1000 : 0, tags);
      gLeft.set(p?.nearestDeadline !== undefined ? (p.nearestDeadline - now) / 1000 : 0, tags);
      this.seen.add(key);
    }
  }

  private async deadlineOf(w: WorkflowExecutionInfo): Promise<number | undefined> {
    try {
      const handle = this.client.workflow.getHandle(w.workflowId, w.runId);
      const state = await Promise.race([
        handle.query(promotionStateQuery),
        new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), this.opts.queryTimeoutMs ?? 10_000).unref(),
        ),
      ]);
      const at = state?.deadline ? Date.parse(state.deadline) : NaN;
      return Number.isFinite(at) ? at : undefined;
    } catch {
      return undefined; // no worker answers now: the count and age still hold
    }
  }

  private async pollCompleted(): Promise<void> {
    const now = this.now();
    const since = this.successSince ?? now - (this.opts.lookbackMs ?? 30 * 86_400_000);
    let newest = since;
    for await (const w of this.client.workflow.list({ query: completedRunsQuery(new Date(since).toISOString()) })) {
      const model = modelOf(w);
      const closed = w.closeTime?.getTime();
      if (!model || closed === undefined) continue;
      newest = Math.max(newest, closed);
      if (closed > (this.lastSuccess.get(model) ?? 0)) this.lastSuccess.set(model, closed);
    }
    // Visibility is eventually consistent: look a minute back each time (a run seen twice changes nothing).
    this.successSince = Math.max(since, Math.min(newest, now) - 60_000);
    const g = MLO_METRICS.lastSuccess;
    const gauge = this.meter.createGauge(g.name, 'float', g.unit, g.help);
    for (const [model, at] of this.lastSuccess) gauge.set(at / 1000, { model });
  }

  /** Polls now and every interval until `stop`. */
  start(): void {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.intervalMs ?? 60_000).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }
}
