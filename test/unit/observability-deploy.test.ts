/**
 * The dashboard and alert rules in deploy/ parse, and query only metrics that exist: mlo's own
 * (lib/core/metric-names.ts, as exposed) and the server's listed ones. The SDK's `temporal_*`
 * names they use are checked against a live scrape in test/workflows/observability.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { exposedName, MLO_METRICS } from '../../lib/core/metric-names';
import { alertQueries, dashboardQueries, metricNames, SERVER_METRICS } from '../helpers/metric-queries';

const mloExposed = new Set(Object.values(MLO_METRICS).map(exposedName));

describe('deploy/grafana and deploy/prometheus', () => {
  it('parse, and every panel and rule has a query', () => {
    const dash = dashboardQueries();
    const alerts = alertQueries();
    expect(dash.length).toBeGreaterThanOrEqual(10);
    expect(alerts.length).toBeGreaterThanOrEqual(4);
    for (const e of [...dash, ...alerts]) expect(metricNames(e).length, e).toBeGreaterThan(0);
  });

  it('query only metric names mlo or the server exposes', () => {
    const unknown = [...dashboardQueries(), ...alertQueries()]
      .flatMap(metricNames)
      .filter((n) => n.startsWith('mlo_') && !mloExposed.has(n));
    expect(unknown).toEqual([]);
    for (const n of [...dashboardQueries(), ...alertQueries()].flatMap(metricNames))
      expect(n.startsWith('mlo_') || n.startsWith('temporal_') || SERVER_METRICS.includes(n), n).toBe(true);
  });

  it('cover the runs, stages, backlog, pending approvals and trainer restarts', () => {
    const used = new Set(dashboardQueries().flatMap(metricNames));
    for (const n of [
      'mlo_runs_total',
      'mlo_stage_duration_seconds',
      'approximate_backlog_count',
      'mlo_pending_decision_age_seconds',
      'mlo_trainer_attempts_total',
    ])
      expect(used.has(n), n).toBe(true);
    const alerting = new Set(alertQueries().flatMap(metricNames));
    for (const n of [
      'mlo_pending_decision_deadline_seconds',
      'mlo_model_last_success_timestamp_seconds',
      'temporal_activity_schedule_to_start_latency',
    ])
      expect(alerting.has(n), n).toBe(true);
  });

  it('a misspelt name is caught', () => {
    expect(metricNames('rate(mlo_runs_totl[5m])').filter((n) => !mloExposed.has(n))).toEqual(['mlo_runs_totl']);
  });
});
