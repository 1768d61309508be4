import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/core/errors';
import { observabilityConfig, tracesExporter } from '../../lib/observability/config';
import { WorkerLogger } from '../../lib/observability/logger';

describe('observability settings', () => {
  it('default to a metrics port per pool, JSON logs at INFO', () => {
    expect(observabilityConfig('gpu', {})).toMatchObject({
      metricsBindAddress: '0.0.0.0:9473',
      metricsPortVariable: 'MLO_METRICS_PORT_GPU',
      logFormat: 'json',
      logLevel: 'INFO',
    });
    expect(observabilityConfig('orchestrator', {}).metricsBindAddress).toBe('0.0.0.0:9471');
    expect(observabilityConfig('cpu', { MLO_METRICS_PORT_CPU: 'off' }).metricsBindAddress).toBeUndefined();
    expect(observabilityConfig('cpu', { MLO_METRICS_PORT_CPU: '9999', MLO_METRICS_HOST: '127.0.0.1' })).toMatchObject({
      metricsBindAddress: '127.0.0.1:9999',
    });
  });

  it('report every bad value at once, naming the variable and the fix', () => {
    let err: unknown;
    try {
      observabilityConfig('cpu', { MLO_METRICS_PORT_CPU: '70000', MLO_LOG_FORMAT: 'xml', MLO_LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/MLO_METRICS_PORT_CPU="70000" is not a port: give 1\.\.65535, or off/);
    expect(problems).toMatch(/MLO_LOG_FORMAT="xml".*json or text/);
    expect(problems).toMatch(/MLO_LOG_LEVEL="loud"/);
  });

  it('turn tracing on only when an exporter is configured', () => {
    expect(tracesExporter({})).toBeUndefined();
    expect(tracesExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe('otlp');
    expect(tracesExporter({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe('otlp');
    expect(
      tracesExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toBeUndefined();
    expect(tracesExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracesExporter({ OTEL_TRACES_EXPORTER: 'console' })).toBe('console');
    expect(() => tracesExporter({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/OTEL_TRACES_EXPORTER="zipkin"/);
  });
});

describe('the worker logger', () => {
  it('writes one JSON object per line with the base fields, and text when asked', () => {
    const lines: string[] = [];
    const json = new WorkerLogger('json', 'INFO', { pool: 'gpu' }, (l) => lines.push(l));
    json.debug('hidden');
    json.info('polling task queue "q"', { workflowId: 'w', n: 10n, error: new Error('boom') });
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o).toMatchObject({
      level: 'INFO',
      message: 'polling task queue "q"',
      pool: 'gpu',
      workflowId: 'w',
      n: '10',
    });
    expect((o.error as { message: string }).message).toBe('boom');
    expect(typeof o.time).toBe('string');
    const text = new WorkerLogger('text', 'INFO', { pool: 'cpu' }, (l) => lines.push(l));
    text.warn('stopped');
    expect(lines[1]).toMatch(/WARN\s+\[mlo cpu worker\] stopped$/);
  });
});
