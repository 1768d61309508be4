/**
 * A worker process's observability, set up once before its first connection: the Temporal
 * Runtime with the pool's Prometheus endpoint (one endpoint for the SDK's metrics and mlo's,
 * which are emitted through the SDK's metric meter) and the structured logger (core logs
 * forwarded to it); OpenTelemetry tracing when `OTEL_*` configures it; and the options every
 * Temporal worker of the pool gets: the activity interceptors (OpenTelemetry spans, mlo's
 * metrics, the model on logs and metrics) and, for workflow workers, the span exporter sink.
 */
import path from 'node:path';
import type { Logger } from '@temporalio/common';
import { makeTelemetryFilterString, Runtime, type WorkerOptions } from '@temporalio/worker';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { ConfigError } from '../core/errors';
import { PROJECT_ROOT } from '../infra/config';
import { DURATION_BUCKETS_SECONDS, MLO_METRICS, RUN_BUCKETS_SECONDS } from '../core/metric-names';
import { metricsActivityInterceptors } from './activity-metrics';
import { observabilityConfig, type ObservabilityConfig } from './config';
import { WorkerLogger } from './logger';
import { startTracing, type Tracing } from './tracing';

export type WorkerObservability = { config: ObservabilityConfig; logger: Logger; tracing: Tracing };

let installed: WorkerObservability | undefined;

/** Histogram buckets of mlo's duration metrics (the SDK's keep their defaults). */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  [MLO_METRICS.activityDuration.name]: DURATION_BUCKETS_SECONDS,
  [MLO_METRICS.stageDuration.name]: DURATION_BUCKETS_SECONDS,
  [MLO_METRICS.runDuration.name]: RUN_BUCKETS_SECONDS,
};

/** The logger of the installed observability, if any. */
export function installedLogger(): Logger | undefined {
  return installed?.logger;
}

/** Installs the Temporal Runtime and tracing for the pool; once per process. */
export function installWorkerObservability(pool: string, env: NodeJS.ProcessEnv = process.env): WorkerObservability {
  if (installed) return installed;
  const config = observabilityConfig(pool, env);
  const logger = new WorkerLogger(config.logFormat, config.logLevel, { pool });
  const tracing = startTracing(`mlo-${pool}-worker`, env);
  try {
    Runtime.install({
      logger,
      shutdownSignals: ['SIGINT', 'SIGTERM'],
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: coreLevel(config.logLevel) }), forward: {} },
        ...(config.metricsBindAddress
          ? {
              metrics: {
                prometheus: {
                  bindAddress: config.metricsBindAddress,
                  countersTotalSuffix: true,
                  useSecondsForDurations: true,
                  histogramBucketOverrides: HISTOGRAM_BUCKETS,
                },
              },
            }
          : {}),
      },
    });
  } catch (err) {
    const message = (err as Error).message;
    if (/prometheus|address/i.test(message) && config.metricsBindAddress)
      throw new ConfigError('Cannot serve the metrics endpoint', [
        `${config.metricsBindAddress} (${config.metricsPortVariable}): ${message}. ` +
          `Set ${config.metricsPortVariable} to a free port, or to off to serve no metrics`,
      ]);
    throw err;
  }
  installed = { config, logger, tracing };
  return installed;
}

/** What every Temporal worker of an observed pool adds to its options. */
export function observedWorkerOptions(
  options: Omit<WorkerOptions, 'connection' | 'taskQueue' | 'namespace'>,
  tracing: Tracing,
): Omit<WorkerOptions, 'connection' | 'taskQueue' | 'namespace'> {
  const hasWorkflows = options.workflowsPath !== undefined || options.workflowBundle !== undefined;
  return {
    ...options,
    interceptors: {
      ...options.interceptors,
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
        metricsActivityInterceptors,
        ...(options.interceptors?.activity ?? []),
      ],
    },
    ...(hasWorkflows
      ? { sinks: { ...options.sinks, exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } }
      : {}),
  };
}

/** The core's own lines are many below WARN: forwarded only when debugging. */
function coreLevel(level: ObservabilityConfig['logLevel']): ObservabilityConfig['logLevel'] {
  return level === 'TRACE' || level === 'DEBUG' ? level : 'WARN';
}

/** The workflow interceptor module with OpenTelemetry spans; bundled by workers that register the `exporter` sink. */
export const WORKFLOW_TRACING_MODULE = path.join(PROJECT_ROOT, 'workflows', 'tracing-interceptors.ts');
