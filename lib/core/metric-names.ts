/**
 * mlo's own Prometheus metrics: the one list of names, labels and meanings. Workflow code,
 * activities and the orchestrator pool emit them through the Temporal SDK's metric meter, so
 * they are served on each pool's metrics endpoint beside the SDK's `temporal_*` metrics
 * (docs/observability.md). Counters are exposed with the `_total` suffix. Dashboards and alerts
 * (deploy/grafana, deploy/prometheus) use exactly these names; a test checks it.
 *
 * Every metric emitted from workflow or activity code also carries the tags the SDK gives custom
 * metrics: `namespace`, `taskQueue`, `workflowType` (workflows) or `activityType` (activities)
 * (camelCase, unlike the snake_case of the SDK's own `temporal_*` metrics), and mlo's `model`.
 */

export type MetricKind = 'counter' | 'histogram' | 'gauge';

export type MetricDefinition = {
  name: string;
  kind: MetricKind;
  unit: string;
  help: string;
  /** mlo's labels (the SDK adds its own, see above). */
  labels: readonly string[];
  /** The pool whose endpoint serves it. */
  pool: 'orchestrator' | 'cpu' | 'gpu' | 'cpu,gpu';
};

function def(d: MetricDefinition): MetricDefinition {
  return d;
}

export const MLO_METRICS = {
  runs: def({
    name: 'mlo_runs',
    kind: 'counter',
    unit: '',
    help: 'trainAndPromote runs that ended, by outcome (promoted, rejected, gate-failed, expired, failed, cancelled, timed-out)',
    labels: ['model', 'outcome'],
    pool: 'orchestrator',
  }),
  runDuration: def({
    name: 'mlo_run_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Wall time of a trainAndPromote run, start to end, by outcome',
    labels: ['model', 'outcome'],
    pool: 'orchestrator',
  }),
  stageDuration: def({
    name: 'mlo_stage_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Wall time of one stage of a run (featureBackfill, training, evaluation, shadow, promotion), by outcome (succeeded, failed)',
    labels: ['model', 'stage', 'outcome'],
    pool: 'orchestrator',
  }),
  gates: def({
    name: 'mlo_gate_outcomes',
    kind: 'counter',
    unit: '',
    help: 'Gate verdicts of candidates: gate evaluation or shadow, outcome passed or failed',
    labels: ['model', 'gate', 'outcome'],
    pool: 'orchestrator',
  }),
  activityDuration: def({
    name: 'mlo_activity_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Wall time of one activity attempt, by outcome (succeeded, failed, cancelled, bad-input)',
    labels: ['model', 'outcome'],
    pool: 'cpu,gpu',
  }),
  partitions: def({
    name: 'mlo_feature_partitions',
    kind: 'counter',
    unit: '',
    help: 'Feature partitions written (result computed) or found unchanged in S3 (result reused)',
    labels: ['model', 'result'],
    pool: 'cpu',
  }),
  bytesRead: def({
    name: 'mlo_feature_bytes_read',
    kind: 'counter',
    unit: 'By',
    help: 'Raw event and label bytes read from S3 by feature partitions (table cache misses)',
    labels: ['model'],
    pool: 'cpu',
  }),
  trainerSteps: def({
    name: 'mlo_trainer_steps',
    kind: 'counter',
    unit: '',
    help: 'Progress lines (training steps) trainers reported',
    labels: ['model'],
    pool: 'cpu,gpu',
  }),
  trainerProgress: def({
    name: 'mlo_trainer_progress_ratio',
    kind: 'gauge',
    unit: '',
    help: 'The last reported step over the total steps of the model’s latest trial (0..1)',
    labels: ['model', 'trial'],
    pool: 'cpu,gpu',
  }),
  trainerMetric: def({
    name: 'mlo_trainer_metric',
    kind: 'gauge',
    unit: '',
    help: 'The latest value of each metric the trainer reports in its progress lines (e.g. valid_auc)',
    labels: ['model', 'metric'],
    pool: 'cpu,gpu',
  }),
  trainerAttempts: def({
    name: 'mlo_trainer_attempts',
    kind: 'counter',
    unit: '',
    help: 'Trainer starts, by start: first (attempt 1), restart (a retry from scratch), resumed (a retry from a checkpoint)',
    labels: ['model', 'start'],
    pool: 'cpu,gpu',
  }),
  aliasMoves: def({
    name: 'mlo_alias_moves',
    kind: 'counter',
    unit: '',
    help: 'Moves of the champion alias, by kind (promotion, rollback, emergency)',
    labels: ['model', 'kind'],
    pool: 'cpu',
  }),
  pendingDecisions: def({
    name: 'mlo_pending_decisions',
    kind: 'gauge',
    unit: '',
    help: 'Promotions and rollbacks awaiting a reviewer (kind promotion or rollback), from a visibility query of the orchestrator pool',
    labels: ['model', 'kind'],
    pool: 'orchestrator',
  }),
  pendingDecisionAge: def({
    name: 'mlo_pending_decision_age_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'How long the pending promotion or rollback of a model has waited (0: none pending)',
    labels: ['model', 'kind'],
    pool: 'orchestrator',
  }),
  pendingDecisionDeadline: def({
    name: 'mlo_pending_decision_deadline_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Seconds left until the pending decision of a model expires (negative: past it; 0 with none pending)',
    labels: ['model', 'kind'],
    pool: 'orchestrator',
  }),
  lastSuccess: def({
    name: 'mlo_model_last_success_timestamp_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Unix time the latest trainAndPromote run of the model completed (any decision), from visibility',
    labels: ['model'],
    pool: 'orchestrator',
  }),
  visibilityErrors: def({
    name: 'mlo_visibility_poll_errors',
    kind: 'counter',
    unit: '',
    help: 'Visibility polls of the orchestrator pool that failed (the gauges above keep their last values)',
    labels: [],
    pool: 'orchestrator',
  }),
} as const;

/** The name as Prometheus exposes it: counters carry `_total`. */
export function exposedName(m: MetricDefinition): string {
  return m.kind === 'counter' ? `${m.name}_total` : m.name;
}

/** Histogram buckets (seconds): activities and stages run from a second to hours. */
export const DURATION_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200];

/** Runs may wait days for a reviewer. */
export const RUN_BUCKETS_SECONDS = [60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 259200, 604800];
