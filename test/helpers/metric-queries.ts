/** The metric names the repository's dashboard and alert rules query (deploy/grafana, deploy/prometheus). */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { PROJECT_ROOT } from '../../lib/infra/config';

export const DASHBOARD = path.join(PROJECT_ROOT, 'deploy', 'grafana', 'mlo-fleet.json');
export const ALERTS = path.join(PROJECT_ROOT, 'deploy', 'prometheus', 'alerts.yml');

/** Temporal server metrics (its own endpoint, MLO_TEMPORAL_METRICS_PORT), not served by workers. */
export const SERVER_METRICS = ['approximate_backlog_count'];

type Dashboard = { panels: { targets?: { expr: string }[] }[]; templating?: { list: { query?: unknown }[] } };
type Rules = { groups: { rules: { alert?: string; expr: string }[] }[] };

export function dashboardQueries(): string[] {
  const d = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of d.templating?.list ?? [])
    if (typeof v.query === 'string' && v.query.includes('(')) exprs.push(v.query);
  return exprs;
}

export function alertQueries(): string[] {
  const r = YAML.parse(fs.readFileSync(ALERTS, 'utf8')) as Rules;
  return r.groups.flatMap((g) => g.rules.map((x) => x.expr));
}

/** Metric family names in PromQL: identifiers of mlo, the SDK or the server, histogram suffixes removed. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const re = new RegExp(`\\b((?:mlo|temporal)_[a-z0-9_]+|${SERVER_METRICS.join('|')})\\b`, 'g');
  for (const m of expr.matchAll(re))
    names.add(SERVER_METRICS.includes(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, ''));
  return [...names];
}

/** The metric families a Prometheus text exposition holds (histograms by their base name). */
export function exposedFamilies(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) /gm)) out.add(m[1]!);
  return out;
}
