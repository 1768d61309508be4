/**
 * `mlo data check` as a user runs it: the real CLI process over raw data in the real S3 server
 * (listing, LastModified, Arrow files), a model spec in a models directory of the test's own.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Float64,
  Int32,
  Int64,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client, putObject } from '../../lib/infra/s3';
import { removeTestData } from '../helpers/s3';

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const root = `test-datacheck-${randomUUID().slice(0, 8)}/`;
const MLO = path.join(PROJECT_ROOT, 'bin', 'mlo.cjs');
let dir: string;
const at = (s: string) => Date.parse(s);

type Row = { id: number; ts: number; card: number | null; amount: number | null };

function events(rows: Row[], opts: { channel?: boolean } = {}): Uint8Array {
  const cols: Record<string, Vector> = {
    payment_id: vectorFromArray(
      rows.map((r) => BigInt(r.id)),
      new Int64(),
    ),
    ts: vectorFromArray(
      rows.map((r) => r.ts),
      new TimestampMillisecond('UTC'),
    ),
    card_id: vectorFromArray(
      rows.map((r) => r.card),
      new Int32(),
    ),
    amount: vectorFromArray(
      rows.map((r) => r.amount),
      new Float64(),
    ),
  };
  if (opts.channel !== false)
    cols.channel = vectorFromArray(
      rows.map(() => 'pos'),
      new Utf8(),
    );
  return tableToIPC(new Table(cols), 'file');
}

const spec = (name: string) => `
name: ${name}
owner: a@example.com
data:
  events: { prefix: ${root}${name}/payments/ }
  labels: { prefix: ${root}${name}/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 2d }
  checks: { max_null_rate: { amount: 0.1 }, arrival_allowance: 1h }
features:
  columns: [amount]
  derived:
    - { name: is_ecommerce, expr: "channel == 'ecommerce'" }
  aggregations:
    - { entity: card_id, windows: [1h], metrics: [{ fn: count }] }
training:
  trainer: { command: [python, trainers/gbdt/train.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;

function mlo(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLO, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, MLO_MODELS_DIR: dir },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const put = (key: string, bytes: Uint8Array) => putObject(s3, cfg.s3.bucket, `${root}${key}`, bytes);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-datacheck-'));
  fs.writeFileSync(path.join(dir, 'dc-broken.yaml'), spec('dc-broken'));
  fs.writeFileSync(path.join(dir, 'dc-clean.yaml'), spec('dc-clean'));
  const good = events([
    { id: 1, ts: at('2026-01-01T00:30:00Z'), card: 7, amount: 10 },
    { id: 2, ts: at('2026-01-01T08:00:00Z'), card: 8, amount: 20 },
  ]);
  await put('dc-broken/payments/day=2026-01-01/part-0.arrow', good);
  // No channel column; 2 of 4 amounts null; id 6 twice; id 1 again; a row of the next day; a null card.
  await put(
    'dc-broken/payments/day=2026-01-02/part-0.arrow',
    events(
      [
        { id: 6, ts: at('2026-01-02T02:00:00Z'), card: 7, amount: null },
        { id: 6, ts: at('2026-01-02T03:00:00Z'), card: null, amount: 13 },
        { id: 7, ts: at('2026-01-03T01:00:00Z'), card: 8, amount: null },
        { id: 1, ts: at('2026-01-02T05:00:00Z'), card: 9, amount: 15 },
      ],
      { channel: false },
    ),
  );
  await put('dc-broken/payments/day=2026-01-03/part-0.arrow', events([]));
  await put('dc-clean/payments/day=2026-01-01/part-0.arrow', good);
}, 60_000);
afterAll(() => removeTestData({ tmpDir: dir, s3, bucket: cfg.s3.bucket, prefix: root }));

describe('mlo data check', () => {
  it('prints one line per finding of a broken range and exits 2', () => {
    const r = mlo(['data', 'check', '--model', 'dc-broken', '--from', '2026-01-01', '--to', '2026-01-05']);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split('\n');
    const f = (day: string) => `s3://${cfg.s3.bucket}/${root}dc-broken/payments/day=${day}/part-0.arrow`;
    // The files were written just now: each landed after its day's end + 1h.
    const late = lines.filter((l) => l.includes(': late-arrival: '));
    expect(late).toHaveLength(3);
    for (const [i, day] of ['2026-01-01', '2026-01-02', '2026-01-03'].entries()) {
      const end = new Date(at(`${day}T00:00:00Z`) + 86_400_000 + 3_600_000).toISOString();
      expect(late[i]).toMatch(
        new RegExp(
          `^WARN  events day=${day} ${f(day).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: late-arrival: landed at ` +
            `\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, after ${end.replace(/\./g, '\\.')} \\(the day's end \\+ 1h, ` +
            'data.checks.arrival_allowance\\)$',
        ),
      );
    }
    expect(lines.filter((l) => !l.includes(': late-arrival: '))).toEqual([
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: nulls: column "amount" null rate 0.5000 (2 of 4 rows) > 0.1 ` +
        '(data.checks.max_null_rate)',
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: missing-column: column "channel" (an input of is_ecommerce) ` +
        "is missing; the file's columns are: payment_id, ts, card_id, amount",
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: nulls: column "card_id" null rate 0.2500 (1 of 4 rows) > 0 ` +
        '(an entity key: no null allowed)',
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: duplicate-ids: 1 row(s) repeat a payment_id of the same day ` +
        '(e.g. 6); ids must be unique',
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: out-of-day: 1 row(s) have ts outside the day 2026-01-02 ` +
        '(first: 2026-01-03T01:00:00.000Z); the event log is mis-partitioned',
      `ERROR events day=2026-01-02 ${f('2026-01-02')}: duplicate-ids: 1 payment_id(s) already seen on an earlier ` +
        'day of the range (e.g. 1 first on 2026-01-01)',
      `ERROR events day=2026-01-03 ${f('2026-01-03')}: empty-day: the day partition holds no row`,
      `ERROR events day=2026-01-04: missing-day: no partition under ${root}dc-broken/payments/day=2026-01-04/; ` +
        'load it or set data.events.allow_gaps: true',
      'FAILED: dc-broken 2026-01-01..2026-01-05: 3 event day(s), 6 rows, 0 label day(s); 8 error(s), 3 warning(s)',
    ]);
  });

  it('--json prints the report with each finding’s value and threshold', () => {
    const r = mlo(['data', 'check', '--model', 'dc-broken', '--from', '2026-01-02', '--to', '2026-01-03', '--json']);
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as { exitCode: number; errors: number; findings: Record<string, unknown>[] };
    expect(report).toMatchObject({ exitCode: 2, errors: 5, passed: false });
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        level: 'error',
        check: 'nulls',
        dataset: 'events',
        day: '2026-01-02',
        column: 'amount',
        value: 0.5,
        threshold: 0.1,
      }),
    );
  });

  it('a clean range exits 0, warnings allowed; bad flags exit 2 naming the fix', () => {
    const r = mlo(['data', 'check', '--model', 'dc-clean', '--from', '2026-01-01', '--to', '2026-01-02']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe(
      'passed: dc-clean 2026-01-01..2026-01-02: 1 event day(s), 2 rows, 0 label day(s); 0 error(s), 1 warning(s)',
    );
    const bad = mlo(['data', 'verify', '--model', 'dc-clean']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('`mlo data` takes one subcommand, check');
  });
});
