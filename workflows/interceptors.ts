/**
 * Workflow interceptors, registered in the workflow bundle by every worker and bundle of mlo
 * (`WORKFLOW_INTERCEPTOR_MODULES`): the approve/reject updates (validator and handler) and
 * every signal the server stamped (decisions, and any other name, whose refusal names the
 * caller) receive the caller's verified identity from the `mlo-verified-identity` header.
 * Reading a header adds no command, so stored histories replay unchanged.
 *
 * They also measure (workflows/metrics.ts): every metric of workflow code carries the run's
 * `model` (and its log lines too), each trainAndPromote run counts its outcome and duration, and
 * each evaluation or shadow gate its verdict. Metrics add no command either.
 */
import {
  ContinueAsNew,
  isCancellation,
  workflowInfo,
  type ActivityInput,
  type GetLogAttributesInput,
  type GetMetricTagsInput,
  type Next,
  type SignalInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { MetricTags } from '@temporalio/common';
import { modelOfWorkflowId } from '../lib/core/ids';
import { DECISION_UPDATES, IDENTITY_HEADER, readIdentityHeader, withVerifiedCaller } from './identity';
import { recordGate, recordRun } from './metrics';

function withIdentity(args: readonly unknown[], headers: UpdateInput['headers']): unknown[] {
  const header = headers[IDENTITY_HEADER];
  if (!header) return [...args];
  return [withVerifiedCaller(args[0], readIdentityHeader(header)), ...args.slice(1)];
}

class VerifiedIdentityInbound implements WorkflowInboundCallsInterceptor {
  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    if (!DECISION_UPDATES.includes(input.name)) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }

  handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    if (!DECISION_UPDATES.includes(input.name)) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }

  handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    if (!input.headers[IDENTITY_HEADER]) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }
}

/** The model a workflow is about: from its id, else from its input's `model` field. */
type RunModel = { model?: string };

function modelOfInput(args: readonly unknown[]): string | undefined {
  const first = args[0] as { model?: unknown } | undefined;
  return typeof first?.model === 'string' ? first.model : undefined;
}

/** Gates: the activity whose result carries the verdict (`passed`). */
const GATE_ACTIVITIES: Record<string, 'evaluation' | 'shadow'> = {
  evaluateCandidate: 'evaluation',
  shadowScore: 'shadow',
};

class MetricsInbound implements WorkflowInboundCallsInterceptor {
  constructor(private readonly run: RunModel) {}

  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = workflowInfo();
    this.run.model = modelOfWorkflowId(info.workflowId) ?? modelOfInput(input.args);
    if (info.workflowType !== 'trainAndPromote') return next(input);
    const startedAt = info.runStartTime.getTime();
    try {
      const result = await next(input);
      const outcome = (result as { outcome?: unknown } | undefined)?.outcome;
      recordRun(typeof outcome === 'string' ? outcome : 'completed', startedAt);
      return result;
    } catch (err) {
      if (!(err instanceof ContinueAsNew)) recordRun(isCancellation(err) ? 'cancelled' : 'failed', startedAt);
      throw err;
    }
  }
}

class MetricsOutbound implements WorkflowOutboundCallsInterceptor {
  constructor(private readonly run: RunModel) {}

  async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
    const result = await next(input);
    const gate = GATE_ACTIVITIES[input.activityType];
    const passed = (result as { passed?: unknown } | undefined)?.passed;
    if (gate && typeof passed === 'boolean') recordGate(gate, passed);
    return result;
  }

  getMetricTags(input: GetMetricTagsInput, next: Next<WorkflowOutboundCallsInterceptor, 'getMetricTags'>): MetricTags {
    return next(this.run.model ? { ...input, model: this.run.model } : input);
  }

  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    return next(this.run.model ? { model: this.run.model, ...input } : input);
  }
}

export const interceptors = (): WorkflowInterceptors => {
  const run: RunModel = {};
  return {
    inbound: [new MetricsInbound(run), new VerifiedIdentityInbound()],
    outbound: [new MetricsOutbound(run)],
  };
};
