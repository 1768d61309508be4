/**
 * Tracing of the client side (the `mlo` command, scripts): when the OTEL_* variables configure an
 * exporter, a command runs inside one span (`mlo <command>`), and its Temporal client sends that
 * span's context with every workflow start, signal, update and query, so the run's trace begins at
 * the person or service who asked for it. Without them, nothing changes and nothing is loaded.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { startTracing, tracesExporter } from './tracing';

export const CLI_SERVICE_NAME = 'mlo-cli';

/** The client, with the OpenTelemetry interceptor when tracing is on. */
export function tracedClient(client: Client, env: NodeJS.ProcessEnv = process.env): Client {
  if (!tracesExporter(env)) return client;
  const tracing = startTracing(CLI_SERVICE_NAME, env);
  return new Client({
    connection: client.connection,
    namespace: client.options.namespace,
    dataConverter: client.options.dataConverter,
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] },
  });
}

/** Runs `fn` inside a span named `name` (when tracing is on), then sends the process's spans. */
export async function withClientSpan<T>(
  name: string,
  fn: () => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  if (!tracesExporter(env)) return fn();
  const tracing = startTracing(CLI_SERVICE_NAME, env);
  try {
    return await tracing.tracer.startActiveSpan(name, async (span) => {
      try {
        return await fn();
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        throw err;
      } finally {
        span.end();
      }
    });
  } finally {
    await tracing.shutdown().catch(() => undefined);
  }
}
