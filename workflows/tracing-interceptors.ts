/**
 * OpenTelemetry tracing of workflow code (@temporalio/interceptors-opentelemetry): a span for the
 * run (`RunWorkflow:<type>`), its signals and updates, and one per scheduled activity
 * (`StartActivity:<type>`) whose context travels to the activity in its headers. Spans leave the
 * sandbox through the `exporter` sink the orchestrator pool registers (lib/observability/tracing.ts).
 *
 * A separate bundle module, added by the workers that register that sink: it adds no command
 * (the SDK's flags keep its awaits out of histories made since 1.11), so a history made with it
 * replays without it and the other way round.
 */
import type { WorkflowInterceptors } from '@temporalio/workflow';
// The package's workflow entry point (sandbox-safe); its root also holds the worker's interceptors.
// eslint-disable-next-line no-restricted-imports
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
