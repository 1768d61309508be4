/**
 * The model specs of the chaos suite: the sample data's fraud features on short windows (so a
 * run takes about a minute), one model per scenario so each starts from an empty registry.
 * `slow` trains the real LightGBM trainer on the GPU pool, paced so faults land mid-training;
 * `fast` trains the real logistic regression on the CPU pool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadSpecFile, specHash, type ModelSpec } from '../../lib/spec/model-spec';

/** The sample data the suite generates into its own S3 (small: the whole suite runs in minutes). */
export const CHAOS_DATA = { events: 30_000, days: 26, start: '2026-01-01', seed: 11, prefix: 'raw/' } as const;
/** The as-of day of every run: the data's last day + 1. */
export const AS_OF = '2026-01-27';

export const REQUESTER = 'erin@example.com';
export const REVIEWER = 'alice@example.com';

export type TrainerKind = 'slow' | 'fast';

/** Rounds, checkpoints and pace of the paced LightGBM trainer: about 35 s of boosting, a checkpoint every 4 s. */
const SLOW = { rounds: 240, checkpointEvery: 25, paceMs: 150 };

function trainerYaml(kind: TrainerKind): string[] {
  if (kind === 'fast')
    return ['  trainer: { command: [python, trainers/logreg/train.py], pool: cpu }', '  params: { C: 1.0 }'];
  return [
    `  trainer: { command: [python, test/chaos/trainers/paced_gbdt.py, --pace-ms, "${SLOW.paceMs}"], pool: gpu }`,
    `  params: { rounds: ${SLOW.rounds}, checkpoint_every: ${SLOW.checkpointEvery}, progress_every: 5, ` +
      'num_leaves: 15, learning_rate: 0.05, min_data_in_leaf: 20, num_threads: 1 }',
  ];
}

export function specYaml(name: string, kind: TrainerKind): string {
  return [
    `# Deployed to the chaos suite's own stack only.`,
    `name: ${name}`,
    'owner: risk-ml@example.com',
    'data:',
    '  events: { prefix: raw/payments/, timestamp: ts, id: payment_id, partition: day }',
    '  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 12d }',
    'features:',
    '  columns: [amount]',
    '  derived:',
    '    - { name: log_amount, expr: "log1p(amount)" }',
    '    - { name: is_ecommerce, expr: "channel == \'ecommerce\'" }',
    '    - { name: ip_mismatch, expr: "ip_country != country" }',
    '    - { name: foreign_merchant, expr: "merchant_country != country" }',
    '  aggregations:',
    '    - entity: card_id',
    '      windows: [1h, 24h]',
    '      metrics: [{ fn: count }, { fn: sum, of: amount }]',
    'training:',
    ...trainerYaml(kind),
    '  window: { days: 6 }',
    '  validation: { days: 2 }',
    '  seed: 7',
    '  heartbeat_timeout: 20s',
    '  timeout: 30m',
    'evaluation:',
    '  holdout: { days: 2 }',
    '  gates: ["auc >= 0.5"]',
    'shadow:',
    '  days: 2',
    '  gates: ["psi <= 10"]',
    'promotion:',
    `  reviewers: [${REVIEWER}, bob@example.com]`,
    '  deadline: 1h',
    '  when_busy: queue',
    '',
  ].join('\n');
}

/** Writes the spec where the suite's workers and Temporal server read deployed specs. */
export function deployChaosSpec(modelsDir: string, name: string, kind: TrainerKind): { spec: ModelSpec; hash: string } {
  const file = path.join(modelsDir, `${name}.yaml`);
  fs.writeFileSync(file, specYaml(name, kind));
  const spec = loadSpecFile(file);
  return { spec, hash: specHash(spec) };
}
