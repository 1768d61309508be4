/**
 * Observability settings of a worker pool, from the environment (docs/observability.md):
 *
 * - `MLO_METRICS_PORT_<POOL>` (ORCHESTRATOR 9471, CPU 9472, GPU 9473; `off` disables): the
 *   Prometheus endpoint `http://<MLO_METRICS_HOST>:<port>/metrics` of the pool, serving the
 *   Temporal SDK's metrics and mlo's. `MLO_METRICS_HOST` defaults to 0.0.0.0 (scraped from
 *   another host); set 127.0.0.1 to keep it local.
 * - `MLO_LOG_FORMAT` (`json` for workers, one object per line; `text`) and `MLO_LOG_LEVEL`
 *   (TRACE, DEBUG, INFO (default), WARN, ERROR).
 */
import { ConfigError } from '../core/errors';

export type LogFormat = 'json' | 'text';
export type LogLevelName = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Defaults clear of the dev stack's ports (7070, 7233, 7243, 7244, 7380, 8233, 5050). */
export const METRICS_PORT_DEFAULTS: Record<string, number> = { orchestrator: 9471, cpu: 9472, gpu: 9473 };

export type ObservabilityConfig = {
  /** host:port of the pool's Prometheus endpoint, or undefined when off. */
  metricsBindAddress: string | undefined;
  /** The variable that set the port (for error messages). */
  metricsPortVariable: string;
  logFormat: LogFormat;
  logLevel: LogLevelName;
};

export function metricsPortVariable(pool: string): string {
  return `MLO_METRICS_PORT_${pool.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

const LEVELS: LogLevelName[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export function observabilityConfig(pool: string, env: NodeJS.ProcessEnv = process.env): ObservabilityConfig {
  const problems: string[] = [];
  const portVar = metricsPortVariable(pool);
  const rawPort = env[portVar]?.trim() || undefined;
  let port: number | undefined = METRICS_PORT_DEFAULTS[pool];
  if (rawPort !== undefined) {
    if (rawPort.toLowerCase() === 'off') port = undefined;
    else if (/^\d+$/.test(rawPort) && Number(rawPort) >= 1 && Number(rawPort) <= 65535) port = Number(rawPort);
    else problems.push(`${portVar}="${rawPort}" is not a port: give 1..65535, or off to serve no metrics`);
  }
  const host = env.MLO_METRICS_HOST?.trim() || '0.0.0.0';
  if (/[\s/]/.test(host))
    problems.push(`MLO_METRICS_HOST="${host}" is not a host name or address (e.g. 0.0.0.0, 127.0.0.1, [::])`);
  const rawFormat = env.MLO_LOG_FORMAT?.trim().toLowerCase() || 'json';
  if (rawFormat !== 'json' && rawFormat !== 'text')
    problems.push(`MLO_LOG_FORMAT="${env.MLO_LOG_FORMAT}" is not a log format: give json or text`);
  const rawLevel = env.MLO_LOG_LEVEL?.trim().toUpperCase() || 'INFO';
  if (!LEVELS.includes(rawLevel as LogLevelName))
    problems.push(`MLO_LOG_LEVEL="${env.MLO_LOG_LEVEL}" is not a log level: give one of ${LEVELS.join(', ')}`);
  if (problems.length > 0) throw new ConfigError('Invalid observability settings in the environment', problems);
  return {
    metricsBindAddress: port === undefined ? undefined : `${host}:${port}`,
    metricsPortVariable: portVar,
    logFormat: rawFormat as LogFormat,
    logLevel: rawLevel as LogLevelName,
  };
}

/** How spans leave the process (lib/observability/tracing.ts). */
export type TracesExporter = 'otlp' | 'console';

/** Which exporter the environment asks for, or undefined when tracing is off. */
export function tracesExporter(env: NodeJS.ProcessEnv = process.env): TracesExporter | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const names = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const bad = names.filter((n) => !['otlp', 'console', 'none'].includes(n));
  if (bad.length > 0)
    throw new ConfigError('Invalid OpenTelemetry settings in the environment', [
      `OTEL_TRACES_EXPORTER="${env.OTEL_TRACES_EXPORTER}": mlo exports traces with otlp (OTLP over HTTP) or console, or none`,
    ]);
  if (names.includes('none')) return undefined;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (names.includes('console') && !names.includes('otlp')) return 'console';
  return endpoint ? 'otlp' : undefined;
}
