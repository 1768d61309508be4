import { describe, expect, it } from 'vitest';
import {
  featureColumnNames,
  listSpecFiles,
  loadSpecFile,
  parseDerivedExpr,
  parseGate,
  parseSpec,
  SpecError,
  EVAL_GATE_METRICS,
  findModelSpec,
} from '../../lib/spec/model-spec';
import { parseDuration } from '../../lib/core/duration';

const valid = `
name: m1
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 30d }
features:
  columns: [amount]
  aggregations:
    - { entity: card_id, windows: [1h, 24h],
        metrics: [{ fn: count }, { fn: sum, of: amount }, { fn: time_since_prev }] }
training:
  trainer: { command: [python, trainers/gbdt/train.py] }
  window: { days: 30 }
evaluation:
  holdout: { days: 7 }
  gates: ["auc >= 0.8"]
promotion:
  reviewers: [r@example.com]
`;

function problems(text: string, file = 'models/m1.yaml'): string[] {
  try {
    parseSpec(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).message).toContain(file);
    return (err as SpecError).problems;
  }
  throw new Error('expected the spec to be rejected');
}

describe('model spec', () => {
  it('accepts a minimal spec and fills defaults', () => {
    const spec = parseSpec(valid, 'models/m1.yaml');
    expect(spec.training.trainer.pool).toBe('cpu');
    expect(spec.promotion.deadline).toBe('72h');
    expect(spec.promotion.when_busy).toBe('queue');
    expect(spec.data.events.timestamp).toBe('ts');
    expect(featureColumnNames(spec)).toEqual([
      'amount',
      'card_id__count__1h',
      'card_id__count__24h',
      'card_id__sum_amount__1h',
      'card_id__sum_amount__24h',
      'card_id__time_since_prev',
    ]);
  });

  it('the bundled model specs are valid', () => {
    const files = listSpecFiles();
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) expect(() => loadSpecFile(f)).not.toThrow();
    expect(findModelSpec('fraud-detector').spec.training.trainer.pool).toBe('gpu');
    expect(findModelSpec('fraud-baseline').spec.training.trainer.pool).toBe('cpu');
  });

  it('names the field, its line and the fix for each problem, all at once', () => {
    const bad = valid
      .replace('windows: [1h, 24h]', 'windows: [1h, 25x]')
      .replace('{ fn: count }', '{ fn: median }')
      .replace('{ fn: sum, of: amount }', '{ fn: sum }')
      .replace('"auc >= 0.8"', '"auc ~ 0.8"')
      .replace('window: { days: 30 }', 'window: { days: 30 }\n  widnow: 3');
    const p = problems(bad);
    expect(p.join('\n')).toMatch(
      /line 10: features\.aggregations\[0\]\.windows\[1\]: must be a whole number and a unit/,
    );
    expect(p.join('\n')).toMatch(
      /features\.aggregations\[0\]\.metrics\[0\]\.fn: unknown aggregation "median"; use one of count, sum/,
    );
    expect(p.join('\n')).toMatch(
      /features\.aggregations\[0\]\.metrics\[1\]\.of: aggregation "sum" needs "of: <column>"/,
    );
    expect(p.join('\n')).toMatch(/evaluation\.gates\[0\]: "auc ~ 0.8" is not a gate/);
    expect(p.join('\n')).toMatch(/training: unknown field "widnow"; check the spelling/);
    expect(p).toHaveLength(5);
  });

  it('reports YAML syntax errors with their line', () => {
    const p = problems('name: m1\nowner: [unclosed\n');
    expect(p[0]).toMatch(/^line \d+: YAML syntax/);
  });

  it('requires the name to match the file', () => {
    expect(problems(valid, 'models/other.yaml')[0]).toContain('must match the file name "other.yaml"');
  });

  it('rejects duplicate feature names and slices the snapshot does not carry', () => {
    const p = problems(
      valid
        .replace('columns: [amount]', 'columns: [amount, amount]')
        .replace('holdout: { days: 7 }', 'holdout: { days: 7 }\n  slices: [country]'),
    );
    expect(p.join('\n')).toContain('feature "amount" is defined twice');
    expect(p.join('\n')).toContain('slice "country" must also be listed in features.slices');
  });
});

describe('model spec: gates, expressions, durations and schedules', () => {
  it('parses gates, derived expressions and durations', () => {
    expect(parseGate('slice_auc_delta >= -0.01 where n >= 500', EVAL_GATE_METRICS)).toEqual({
      text: 'slice_auc_delta >= -0.01 where n >= 500',
      metric: 'slice_auc_delta',
      op: '>=',
      threshold: -0.01,
      slice: true,
      minCount: 500,
    });
    expect(parseGate('latency <= 3', EVAL_GATE_METRICS)).toMatch(/unknown gate metric "latency"/);
    expect(parseDerivedExpr("channel == 'ecommerce'")).toMatchObject({
      kind: 'binary',
      op: '==',
      left: { kind: 'column', name: 'channel' },
      right: { kind: 'string', value: 'ecommerce' },
    });
    expect(parseDerivedExpr('log1p(amount)')).toMatchObject({ kind: 'call', fn: 'log1p' });
    expect(parseDerivedExpr('amount * 2')).toMatchObject({ kind: 'binary', op: '*' });
    expect(() => parseDerivedExpr('amount **')).toThrow(/column 9: expected a value/);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('0h')).toBeUndefined();
    expect(parseDuration('1.5h')).toBeUndefined();
  });

  it('schedules need exactly one of cron or interval and a real time zone', () => {
    const p = problems(valid + 'schedule: { cron: "0 3 * *", interval: 1d, timezone: Mars/Olympus }\n');
    expect(p.join('\n')).toContain('give exactly one of "cron"');
    expect(p.join('\n')).toContain('is not a 5-field cron expression');
    expect(p.join('\n')).toContain('unknown time zone "Mars/Olympus"');
  });
});
