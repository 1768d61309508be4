/**
 * Lookback coverage and `mlo plan` on the dev stack's S3 over a small generated dataset
 * (14 days from 2026-01-01): the planning activity refuses a range whose longest window reaches
 * before the first raw day (bad input naming the fix); with `features.warmup: exclude` it plans the
 * warm-up days, the manifest marks them and neither the trainers' loader nor the evaluation's
 * reads them; `mlo plan` (a child process, as a user runs it) shows the windows, the lookback,
 * the partitions to compute and, once computed, to reuse.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, Worker } from '@temporalio/worker';
import { buildDeps, createCpuActivities, type FeatureSnapshotRef } from '../../activities';
import { featureBackfill } from '../../workflows/featureBackfill';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { workflowBundle } from '../helpers/workflow-bundle';
import {
  featureActivities,
  type ManifestInput,
  type PartitionInput,
  type PartitionResult,
  type PlanBackfillInput,
} from '../../activities/features';
import { generateDataset, S3Sink } from '../../lib/datagen';
import { partitionsIn, readManifest } from '../../lib/eval/data';
import { featureSetFromSpec } from '../../lib/features/featureset';
import type { RunPlan } from '../../lib/features/plan';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { parseSpec } from '../../lib/spec/model-spec';
import { userToken } from '../helpers/identity';
import { pythonEnv, runPython } from '../helpers/python';

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const root = `test-plan-${randomUUID().slice(0, 8)}/`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-plan-models-'));
const MLO = path.join(PROJECT_ROOT, 'bin', 'mlo.cjs');

/** A spec over the test's data: windows 1h and 3d (a 3-day lookback), maturity 2d. */
function specText(name: string, warmup = ''): string {
  return `
name: ${name}
owner: a@example.com
data:
  events: { prefix: ${root}raw/payments/ }
  labels: { prefix: ${root}raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 2d }
features:
  columns: [amount]
  aggregations:
    - entity: card_id
      windows: [1h, 3d]
      metrics: [{ fn: count }, { fn: sum, of: amount }]${warmup ? `\n  warmup: ${warmup}` : ''}
training:
  trainer: { command: [python, trainers/logreg/train.py] }
  window: { days: 4 }
  validation: { days: 2 }
evaluation:
  holdout: { days: 2 }
shadow:
  days: 2
promotion:
  reviewers: [r@example.com]
`;
}

function writeSpec(name: string, warmup = '') {
  const text = specText(name, warmup);
  fs.writeFileSync(path.join(dir, `${name}.yaml`), text);
  return parseSpec(text, '<plan test>');
}

type Result = { code: number | null; stdout: string; stderr: string };
function mlo(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const child = spawn(process.execPath, [MLO, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, MLO_MODELS_DIR: dir, ...extraEnv },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run<
    A,
    R,
    (...args: A) => Promise<R>
  >(fn, ...args);
}

const acts = featureActivities(buildDeps(cfg));
const planBackfill = (i: PlanBackfillInput) => runActivity((x: PlanBackfillInput) => acts.planFeatureBackfill(x), i);
const computePartition = (i: PartitionInput) => runActivity((x: PartitionInput) => acts.computeFeaturePartition(x), i);
const writeManifest = (i: ManifestInput) => runActivity((x: ManifestInput) => acts.writeFeatureManifest(x), i);
const CUTOFF = '2026-01-15T00:00:00.000Z';

beforeAll(async () => {
  const sink = await S3Sink.open(cfg.s3);
  await generateDataset({ events: 12_000, days: 14, start: '2026-01-01', seed: 11, prefix: `${root}raw/` }, sink);
}, 180_000);
afterAll(() => {
  s3.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a range whose longest window reaches before the first raw day', () => {
  it('is refused at planning as non-retryable bad input naming the first raw day, the days and the fixes', async () => {
    const fset = featureSetFromSpec(writeSpec('plan-refuse'));
    type Failure = { type?: string; nonRetryable?: boolean; message: string };
    const err = await planBackfill({
      featureSet: fset,
      range: { from: '2026-01-02', to: '2026-01-15' },
      labelCutoff: CUTOFF,
    }).then(
      (): Failure => ({ message: 'planned' }),
      (e: unknown) => e as Failure,
    );
    expect(err).toMatchObject({ type: 'MloBadInput', nonRetryable: true });
    expect(err.message).toContain('the longest feature window (3d) of 2 days (2026-01-02..2026-01-03)');
    expect(err.message).toContain(`under s3://${cfg.s3.bucket}/${root}raw/payments/ (2026-01-01)`);
    expect(err.message).toContain('Move --from to 2026-01-04');
    expect(err.message).toContain('declare features.warmup: exclude');
    // A range that starts on the first complete day plans as before.
    const ok = await planBackfill({
      featureSet: fset,
      range: { from: '2026-01-04', to: '2026-01-15' },
      labelCutoff: CUTOFF,
    });
    expect(ok).not.toHaveProperty('warmupDays');
    expect(ok.days).toHaveLength(11);
  });

  it('mlo plan shows the refusal and exits 2; the exact --from it names plans cleanly', async () => {
    writeSpec('plan-cli');
    const bad = await mlo(['plan', '--model', 'plan-cli', '--from', '2026-01-02', '--to', '2026-01-15']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toContain('lookback:  longest window 3d; raw events 2026-01-01..2026-01-14');
    expect(bad.stdout).toContain('2 day(s) with an incomplete lookback (2026-01-02..2026-01-03): refused');
    expect(bad.stdout).toMatch(/problems \(the run would fail with bad input\):\n {2}- .*Move --from to 2026-01-04/);

    const good = await mlo(['plan', '--model', 'plan-cli', '--to', '2026-01-15', '--json']);
    expect(good.code).toBe(0);
    const p = JSON.parse(good.stdout) as RunPlan & { exitCode: number };
    // maturity 2d: holdout 01-11..01-13, validation 01-09..01-11, training 01-05..01-09; shadow 01-13..01-15.
    expect(p.windows.map((w) => [w.name, w.from, w.to, w.expectedLabeledShare])).toEqual([
      ['training', '2026-01-05', '2026-01-09', 1],
      ['validation', '2026-01-09', '2026-01-11', 1],
      ['holdout', '2026-01-11', '2026-01-13', 1],
      ['shadow', '2026-01-13', '2026-01-15', 0],
    ]);
    expect(p.lookback).toMatchObject({ firstAvailableDay: '2026-01-01', firstCompleteDay: '2026-01-04' });
    expect(p.labels).toMatchObject({ mode: 'presence', matureBefore: '2026-01-13T00:00:00.000Z' });
    expect(p.snapshot).toMatchObject({ from: '2026-01-05', to: '2026-01-15', reuse: [], missing: [] });
    expect(p.snapshot.compute).toHaveLength(10);
    expect(p.problems).toEqual([]);
  });
});

describe('features.warmup: exclude', () => {
  let snapshot: FeatureSnapshotRef;
  let featureColumns: string[];
  const range = { from: '2026-01-02', to: '2026-01-15' };

  beforeAll(async () => {
    const fset = featureSetFromSpec(writeSpec('plan-warm', 'exclude'));
    featureColumns = fset.featureOrder;
    const plan = await planBackfill({ featureSet: fset, range, labelCutoff: CUTOFF });
    expect(plan.warmupDays).toEqual(['2026-01-02', '2026-01-03']);
    const partitions: PartitionResult[] = [];
    for (const day of plan.days)
      partitions.push(
        await computePartition({
          featureSet: fset,
          featureSetHash: plan.featureSetHash,
          day,
          labelCutoff: CUTOFF,
          outputPrefix: plan.outputPrefix,
        }),
      );
    snapshot = await writeManifest({
      model: 'plan-warm',
      featureSet: fset,
      featureSetHash: plan.featureSetHash,
      range,
      labelCutoff: CUTOFF,
      outputPrefix: plan.outputPrefix,
      partitions,
      warmupDays: plan.warmupDays,
    });
  }, 180_000);

  it('the manifest marks the warm-up days; the evaluation loader leaves them out', async () => {
    const m = await readManifest(s3, snapshot.manifestUri);
    expect(m.partitions.filter((p) => p.warmup).map((p) => p.day)).toEqual(['2026-01-02', '2026-01-03']);
    expect(m.partitions.filter((p) => p.warmup).every((p) => p.rows > 0)).toBe(true); // computed, just not used
    expect(partitionsIn(m, { from: '2026-01-01', to: '2026-01-06' }).map((p) => p.day)).toEqual([
      '2026-01-04',
      '2026-01-05',
    ]);
  });

  it("the trainers' loader: the warm-up days are absent from the training matrix", async () => {
    const m = await readManifest(s3, snapshot.manifestUri);
    const script = [
      'import sys, json',
      'from types import SimpleNamespace',
      'from trainers.common.s3 import S3',
      'from trainers.common.contract import DayRange',
      'from trainers.common.data import load_manifest, load_window',
      's3 = S3()',
      'm = load_manifest(s3, sys.argv[1])',
      'inp = SimpleNamespace(manifest_uri=sys.argv[1], feature_columns=json.loads(sys.argv[2]), label_column="label")',
      'mat = load_window(s3, inp, m, DayRange(sys.argv[3], sys.argv[4]), "train")',
      'print(json.dumps({"days": mat.days, "rows": mat.rows, "read": mat.rows_read}))',
    ].join('\n');
    const run = (from: string, to: string) =>
      runPython(['-c', script, snapshot.manifestUri, JSON.stringify(featureColumns), from, to], pythonEnv(cfg));
    const r = await run('2026-01-02', '2026-01-09');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const mat = JSON.parse(r.stdout) as { days: string[]; rows: number; read: number };
    expect(mat.days).toEqual(['2026-01-04', '2026-01-05', '2026-01-06', '2026-01-07', '2026-01-08']);
    const kept = m.partitions.filter((p) => p.day >= '2026-01-04' && p.day < '2026-01-09');
    expect(mat.read).toBe(kept.reduce((s, p) => s + p.rows, 0));
    expect(mat.rows).toBe(kept.reduce((s, p) => s + p.labeledRows, 0));
    // A window of warm-up days only is bad input saying so.
    const only = await run('2026-01-02', '2026-01-04');
    expect(only.code).not.toBe(0);
    expect(only.stderr).toMatch(
      /BadInput: train: window \[2026-01-02, 2026-01-04\) holds only warm-up days of the snapshot s3:\/\//,
    );
  });

  it("the featureBackfill workflow carries the plan's warm-up days to the manifest", async () => {
    const [env, bundle] = await Promise.all([createTestEnv(), workflowBundle()]);
    try {
      const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu') };
      const wf = await Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace,
        taskQueue: q.wf,
        workflowBundle: bundle,
      });
      const cpu = await Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace,
        taskQueue: q.cpu,
        activities: createCpuActivities(buildDeps(cfg)),
      });
      const fset = featureSetFromSpec(writeSpec('plan-warm', 'exclude'));
      const run = env.client.workflow.execute(featureBackfill, {
        taskQueue: q.wf,
        workflowId: uniqueName('bf-warm'),
        args: [{ model: 'plan-warm', featureSet: fset, range, labelCutoff: CUTOFF, cpuQueue: q.cpu }],
      });
      const ref = await wf.runUntil(cpu.runUntil(run));
      // The same snapshot as the activities computed one by one: same address, same warm-up marks.
      expect(ref.manifestUri).toBe(snapshot.manifestUri);
      const m = await readManifest(s3, ref.manifestUri);
      expect(m.partitions.filter((p) => p.warmup).map((p) => p.day)).toEqual(['2026-01-02', '2026-01-03']);
    } finally {
      await env.teardown();
    }
  });

  it('mlo plan: the warm-up days are excluded, the computed partitions are reused with their counts', async () => {
    const r = await mlo(['plan', '--model', 'plan-warm', '--from', '2026-01-02', '--to', '2026-01-15']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '2 day(s) with an incomplete lookback (2026-01-02..2026-01-03): warm-up days, computed but left out of every window',
    );
    expect(r.stdout).toMatch(
      / {2}training {4}2026-01-02 {2}2026-01-09 {5}7 {9}2 {2}100% \(reused partitions: \d+\/\d+ labeled, \d+ positive\)/,
    );
    expect(r.stdout).toContain(': 0 to compute, 13 to reuse');
    expect(r.stdout).toContain('  reuse:   2026-01-02..2026-01-14');
  });
});

describe('mlo train-and-promote', () => {
  it('prints the plan before it starts or attaches (on stderr with --json, stdout staying one JSON object)', async () => {
    writeSpec('plan-tp');
    // Temporal out of reach: the plan is printed first, then the command exits 5 as before.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const env = {
      MLO_TOKEN: await userToken('erin@example.com'),
      MLO_TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    };
    const text = await mlo(['train-and-promote', '--model', 'plan-tp', '--to', '2026-01-15', '--detach'], env);
    expect(text.code).toBe(5);
    expect(text.stdout).toMatch(/^plan: plan-tp as of 2026-01-15/);
    expect(text.stdout).toContain('  training    2026-01-05  2026-01-09     4         0  100%');
    expect(text.stderr).toContain(`Temporal is unreachable at 127.0.0.1:${port}`);
    const json = await mlo(['train-and-promote', '--model', 'plan-tp', '--to', '2026-01-15', '--json'], env);
    expect(json.code).toBe(5);
    expect(json.stderr).toContain('plan: plan-tp as of 2026-01-15');
    expect(JSON.parse(json.stdout)).toMatchObject({ command: 'train-and-promote', exitCode: 5 });
    // S3 out of reach: a note, and the command goes on to Temporal.
    const noS3 = await mlo(['train-and-promote', '--model', 'plan-tp', '--to', '2026-01-15', '--detach'], {
      ...env,
      MLO_S3_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    expect(noS3.code).toBe(5);
    expect(noS3.stdout).toMatch(/^plan: not available \(.*\); the run plans on the workers$/m);
    expect(noS3.stderr).toContain(`Temporal is unreachable at 127.0.0.1:${port}`);
  });
});
