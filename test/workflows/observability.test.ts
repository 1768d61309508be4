/**
 * Observability of a real run: the orchestrator and GPU pools as their own processes (the real
 * GBDT trainer), the CPU stages mocked at the boundary so the run ends at the gates. Each pool's
 * metrics endpoint is scraped during and after the run; every process exports its spans to an
 * OTLP/HTTP collector in this process, where the trainer's (Python) span must sit inside the
 * training activity's span, in the trace the client started.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type NativeConnection } from '@temporalio/worker';
import { buildDeps, createCpuActivities, type Activities } from '../../activities';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { runWorkflowId } from '../../lib/core/ids';
import { specHash, loadSpecFile } from '../../lib/spec/model-spec';
import { tracedClient, withClientSpan } from '../../lib/observability/client';
import { spawnTs, type Spawned } from '../helpers/spawn';
import { uniqueName } from '../helpers/temporal';
import { stackClient, stackWorkerConnection, userTokens } from '../helpers/identity';
import { waitFor } from '../helpers/wait';
import { deployedSpecsDir } from '../helpers/deployed-spec';
import { FIXTURE_FEATURES } from '../helpers/python';
import { OtlpCollector, type CollectedSpan } from '../helpers/otlp-collector';
import { alertQueries, dashboardQueries, exposedFamilies, metricNames } from '../helpers/metric-queries';

const cfg = loadConfig();
const REQUESTER = 'erin@example.com';
const specsDir = deployedSpecsDir();
let collector: OtlpCollector;
let manifestUri = '';
let connection: Connection;
let native: NativeConnection;
let plainClient: Client;
const procs: Spawned[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of the first sample of `name` whose labels include all of `labels`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have: Record<string, string> = {};
    for (const x of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[x[1]!] = x[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return undefined;
}

beforeAll(async () => {
  collector = await OtlpCollector.start();
  // Every process of the test (this one, the spawned pools, their trainers) exports here.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.endpoint;
  process.env.OTEL_BSP_SCHEDULE_DELAY = '200';
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const prefix = `s3://${cfg.s3.bucket}/test-observability-${randomUUID().slice(0, 8)}/`;
  manifestUri = execFileSync(
    path.join(PROJECT_ROOT, '.venv', 'bin', 'python'),
    [
      'trainers/tools/make_fixture_snapshot.py',
      prefix,
      '--days',
      '8',
      '--rows-per-day',
      '4000',
      '--immature-days',
      '1',
    ],
    {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        MLO_S3_ENDPOINT: cfg.s3.endpoint,
        AWS_ACCESS_KEY_ID: cfg.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cfg.s3.secretAccessKey,
      },
    },
  ).trim();
  ({ client: plainClient, connection } = await stackClient(userTokens(REQUESTER)));
  native = await stackWorkerConnection();
}, 120_000);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await native?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await collector?.close();
  fs.rmSync(specsDir, { recursive: true, force: true });
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
});

describe('observability of a run', () => {
  it('serves the SDK’s and mlo’s metrics per pool, logs JSON lines, and traces client → workflow → activity → trainer', async () => {
    const model = `obs-${randomUUID().slice(0, 8)}`;
    const file = path.join(specsDir, `${model}.yaml`);
    fs.writeFileSync(
      file,
      `
name: ${model}
owner: ml@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 1d }
features:
  columns: [${FIXTURE_FEATURES.join(', ')}]
training:
  trainer: { command: [python, trainers/gbdt/train.py], pool: gpu }
  window: { days: 3 }
  validation: { days: 2 }
  params: { rounds: 60, checkpoint_every: 20 }
evaluation:
  holdout: { days: 1 }
promotion:
  reviewers: [r@example.com]
`,
    );
    const spec = loadSpecFile(file);
    const q = { wf: uniqueName('obs-wf'), cpu: uniqueName('obs-cpu'), gpu: uniqueName('obs-gpu') };
    const [orchPort, gpuPort] = [await freePort(), await freePort()];
    const orch = spawnTs('workers/orchestrator.ts', [], {
      MLO_QUEUE_ORCHESTRATOR: q.wf,
      MLO_MODELS_DIR: specsDir,
      MLO_METRICS_PORT_ORCHESTRATOR: String(orchPort),
      MLO_METRICS_HOST: '127.0.0.1',
      MLO_LOG_FORMAT: 'json',
      MLO_VISIBILITY_POLL_SECONDS: '2',
    });
    const gpu = spawnTs('workers/gpu.ts', [], {
      MLO_QUEUE_GPU: q.gpu,
      MLO_GPU_COUNT: '0',
      MLO_MODELS_DIR: specsDir,
      MLO_METRICS_PORT_GPU: String(gpuPort),
      MLO_METRICS_HOST: '127.0.0.1',
      MLO_LOG_FORMAT: 'json',
      MLO_LOG_LEVEL: 'DEBUG',
    });
    procs.push(orch, gpu);
    await Promise.all([orch.waitFor(/polling task queue/, 120_000), gpu.waitFor(/polling task queue/, 120_000)]);

    const deps = { ...buildDeps(cfg), modelsDir: specsDir };
    const mocks: Partial<Activities> = {
      async planFeatureBackfill() {
        return { featureSetHash: 'fixture', days: ['2025-01-01'], outputPrefix: 'unused/' };
      },
      async computeFeaturePartition(i) {
        return { day: i.day, hash: 'fixture', rows: 1, labeledRows: 1, positives: 0, reused: true };
      },
      async writeFeatureManifest() {
        return { manifestUri, hash: 'fixture', rows: 32000, partitions: 8, labeledRows: 28000, positives: 300 };
      },
      async evaluateCandidate() {
        return { passed: false, reportUri: 's3://mlo/r.json', markdown: 'not evaluated in this test' };
      },
      async shadowScore() {
        return { passed: true, reportUri: 's3://mlo/s.json', markdown: '' };
      },
    };
    const cpu = await Worker.create({
      connection: native,
      namespace: cfg.temporal.namespace,
      taskQueue: q.cpu,
      activities: { ...createCpuActivities(deps), ...mocks },
    });
    const client = tracedClient(plainClient);
    const workflowId = runWorkflowId(model, '2025-01-08');
    const result = await cpu.runUntil(async () => {
      const h = await withClientSpan('mlo train-and-promote', () =>
        client.workflow.start('trainAndPromote', {
          taskQueue: q.wf,
          workflowId,
          args: [
            {
              model,
              specHash: specHash(spec),
              asOf: '2025-01-08',
              requestedBy: REQUESTER,
              queues: { cpu: q.cpu, gpu: q.gpu },
            },
          ],
        }),
      );
      // During the run: the GPU pool's endpoint has the SDK's metrics and the trainer's progress.
      const during = await waitFor(
        'trainer progress on the GPU pool’s endpoint',
        async () => {
          const text = await scrape(gpuPort);
          return (sample(text, 'mlo_trainer_steps_total', { model }) ?? 0) > 0 ? text : undefined;
        },
        180_000,
      );
      expect(during).toMatch(/^temporal_\w+/m);
      const stepLines = during.split('\n').filter((l) => l.startsWith('mlo_trainer_steps_total'));
      expect(
        sample(during, 'mlo_trainer_steps_total', { model, activityType: 'trainTrial', taskQueue: q.gpu }),
        stepLines.join('\n'),
      ).toBeGreaterThan(0);
      return (await h.result()) as { outcome: string };
    });
    expect(result.outcome).toBe('gate-failed');

    const gpuText = await scrape(gpuPort);
    const gpuMlo = gpuText
      .split('\n')
      .filter((l) => l.startsWith('mlo_') && !l.includes('_bucket'))
      .join('\n');
    expect(
      sample(gpuText, 'mlo_activity_duration_seconds_count', {
        model,
        activityType: 'trainTrial',
        outcome: 'succeeded',
      }),
      gpuMlo,
    ).toBe(1);
    expect(sample(gpuText, 'mlo_trainer_attempts_total', { model, start: 'first' })).toBe(1);
    expect(sample(gpuText, 'mlo_trainer_progress_ratio', { model, trial: '0' })).toBeGreaterThan(0);
    expect(
      sample(gpuText, 'temporal_activity_execution_latency_count', { activity_type: 'trainTrial', task_queue: q.gpu }),
    ).toBeGreaterThan(0);

    const orchText = await waitFor(
      'the run’s outcome on the orchestrator pool’s endpoint',
      async () => {
        const text = await scrape(orchPort);
        return sample(text, 'mlo_runs_total', { model }) !== undefined ? text : undefined;
      },
      30_000,
    );
    expect(
      sample(orchText, 'mlo_runs_total', {
        model,
        outcome: 'gate-failed',
        workflowType: 'trainAndPromote',
        taskQueue: q.wf,
      }),
    ).toBe(1);
    expect(sample(orchText, 'mlo_gate_outcomes_total', { model, gate: 'evaluation', outcome: 'failed' })).toBe(1);
    expect(sample(orchText, 'mlo_gate_outcomes_total', { model, gate: 'shadow', outcome: 'passed' })).toBe(1);
    for (const stage of ['featureBackfill', 'training', 'evaluation', 'shadow'])
      expect(sample(orchText, 'mlo_stage_duration_seconds_count', { model, stage, outcome: 'succeeded' }), stage).toBe(
        1,
      );
    expect(sample(orchText, 'mlo_run_duration_seconds_count', { model, outcome: 'gate-failed' })).toBe(1);
    expect(orchText).toMatch(/^temporal_workflow_completed_total\{/m);
    // The visibility poll saw the completed run.
    await waitFor(
      'the model’s last success from visibility',
      async () => sample(await scrape(orchPort), 'mlo_model_last_success_timestamp_seconds', { model }),
      60_000,
    );

    // The SDK's metrics the dashboard and alerts query are in the scrape.
    const families = new Set([...exposedFamilies(gpuText), ...exposedFamilies(orchText)]);
    const sdkNames = [...dashboardQueries(), ...alertQueries()]
      .flatMap(metricNames)
      .filter((n) => n.startsWith('temporal_'));
    expect(sdkNames.length).toBeGreaterThan(0);
    for (const n of sdkNames) expect(families.has(n), `${n} in the scrape`).toBe(true);

    // Logs: JSON lines, with the run's model, workflow, run and activity.
    const lines = gpu
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(0);
    expect(
      lines.every((l) => typeof l.time === 'string' && typeof l.level === 'string' && typeof l.message === 'string'),
    ).toBe(true);
    const activityLine = lines.find((l) => l.activityType === 'trainTrial' && l.model === model);
    expect(activityLine, gpu.output().slice(-3000)).toMatchObject({ workflowId, pool: 'gpu' });
    expect(activityLine?.workflowRunId ?? activityLine?.runId).toBeTruthy();
    expect(activityLine?.activityId).toBeTruthy();

    // Traces: the trainer's span inside the training activity's, in the client's trace.
    const trainerSpan = await waitFor(
      'the trainer’s span at the collector',
      async () => collector.spans.find((s) => s.service === 'mlo-trainer' && s.name === 'train gbdt'),
      60_000,
    );
    const byId = (id: string): CollectedSpan | undefined => collector.spans.find((s) => s.spanId === id);
    const activitySpan = await waitFor('the activity span', async () => byId(trainerSpan.parentSpanId), 30_000);
    expect(activitySpan.name).toBe('RunActivity:trainTrial');
    expect(activitySpan.service).toBe('mlo-gpu-worker');
    expect(activitySpan.traceId).toBe(trainerSpan.traceId);
    expect(trainerSpan.startNs).toBeGreaterThanOrEqual(activitySpan.startNs);
    expect(trainerSpan.endNs).toBeLessThanOrEqual(activitySpan.endNs);
    const clientSpan = collector.spans.find((s) => s.name === 'mlo train-and-promote');
    expect(clientSpan?.traceId).toBe(trainerSpan.traceId);
    const workflowSpan = await waitFor(
      'the workflow span',
      async () =>
        collector.spans.find((s) => s.name === 'RunWorkflow:trainAndPromote' && s.traceId === trainerSpan.traceId),
      30_000,
    );
    expect(workflowSpan.service).toBe('mlo-orchestrator-worker');
    // Both encodings arrived: JSON from Node, protobuf from Python.
    expect([...collector.contentTypes].sort()).toEqual(['application/json', 'application/x-protobuf']);
  }, 600_000);
});
