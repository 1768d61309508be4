/**
 * OpenTelemetry traces, configured by the standard `OTEL_*` variables and off when they are
 * unset: a process exports spans only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (OTLP over HTTP, JSON), or when
 * `OTEL_TRACES_EXPORTER=console`; `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn it
 * off. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the process (default
 * `mlo-<pool>-worker`, `mlo-cli`); the exporter and batch processor read their own variables
 * (headers, timeouts, `OTEL_BSP_*`).
 *
 * A trace runs client → workflow → activities → trainer: the CLI's span is sent to the workflow
 * in its start headers (@temporalio/interceptors-opentelemetry), the workflow's to each activity,
 * and an activity's to the trainer process as TRACEPARENT/TRACESTATE (`traceEnv`), where
 * trainers/common/tracing.py continues it.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { tracesExporter } from './config';

export { tracesExporter };

export type Tracing = {
  enabled: boolean;
  tracer: Tracer;
  /** Where workflow spans go (the worker's `exporter` sink); drops them when tracing is off. */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Sends the spans still buffered; call before the process exits. */
  shutdown: () => Promise<void>;
};

let installed: Tracing | undefined;

/**
 * Sets up tracing for this process once (the global tracer provider, context manager and W3C
 * propagator), or a no-op when the environment configures none. A second call returns the first.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  if (installed) return installed;
  const resource = Resource.default()
    .merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName }))
    .merge(detectResourcesSync({ detectors: [envDetectorSync] }));
  const kind = tracesExporter(env);
  if (!kind) {
    installed = {
      enabled: false,
      tracer: trace.getTracer('mlo'),
      spanProcessor: new NoopSpanProcessor(),
      resource,
      shutdown: async () => undefined,
    };
    return installed;
  }
  const exporter: SpanExporter = kind === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter();
  const spanProcessor = new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  installed = {
    enabled: true,
    tracer: provider.getTracer('mlo'),
    spanProcessor,
    resource,
    shutdown: () => provider.shutdown(),
  };
  return installed;
}

/**
 * The active span's context as the W3C Trace Context variables a child process reads
 * (TRACEPARENT, and TRACESTATE when there is one); empty when no span is active or tracing is off.
 */
export function traceEnv(): { TRACEPARENT?: string; TRACESTATE?: string } {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const out: { TRACEPARENT?: string; TRACESTATE?: string } = {};
  if (carrier.traceparent) out.TRACEPARENT = carrier.traceparent;
  if (carrier.tracestate) out.TRACESTATE = carrier.tracestate;
  return out;
}
