/**
 * Training dispatch against the real stack: the real GPU worker process (CPU mode), the real
 * GBDT trainer, the real S3 and MLflow servers, and the dev stack's Temporal server. The
 * other stages are mocked at the boundary so each run ends right after registration.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { buildDeps, createCpuActivities, type Activities } from '../../activities';
import type { TrialHeartbeat } from '../../activities/training';
import { loadConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { createS3Client, listKeys } from '../../lib/infra/s3';
import { FailureType } from '../../lib/core/failure-types';
import { MlflowClient, quoteFilterValue, tagFilterKey, tagsOf } from '../../lib/registry/mlflow';
import { RunTag, VersionTag } from '../../lib/registry/tags';
import { loadSpecFile, specHash, type ModelSpec } from '../../lib/spec/model-spec';
import { trainAndPromote } from '../../workflows';
import { isAlive, spawnTs, type Spawned } from '../helpers/spawn';
import { TcpProxy } from '../helpers/tcp-proxy';
import { uniqueName } from '../helpers/temporal';
import { stackClient, stackWorkerConnection, userTokens } from '../helpers/identity';
import { waitFor } from '../helpers/wait';
import { workflowBundle } from '../helpers/workflow-bundle';
import { deployedSpecsDir } from '../helpers/deployed-spec';
import { FIXTURE_FEATURES } from '../helpers/python';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const s3 = createS3Client(cfg.s3);
/** The engineer who requests the runs (the server requires requestedBy to be the caller). */
const REQUESTER = 'erin@example.com';
let manifestUri = '';
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;
let bundle: WorkflowBundle;
const gpuWorkers: Spawned[] = [];
/** The specs the test's workers deploy (their MLO_MODELS_DIR). */
const specsDir = deployedSpecsDir();

/** A spec deployed with the test's workers. */
function spec(name: string, params: string, extra = '', heartbeat = '6s'): ModelSpec {
  const file = path.join(specsDir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `
name: ${name}
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
  params: ${params}
  heartbeat_timeout: ${heartbeat}
${extra}
evaluation:
  holdout: { days: 1 }
promotion:
  reviewers: [r@example.com]
`,
  );
  return loadSpecFile(file);
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const prefix = `s3://${cfg.s3.bucket}/test-training-${randomUUID().slice(0, 8)}/`;
  manifestUri = execFileSync(
    path.join(PROJECT_ROOT, '.venv', 'bin', 'python'),
    [
      'trainers/tools/make_fixture_snapshot.py',
      prefix,
      '--days',
      '8',
      '--rows-per-day',
      '15000',
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
  // The dev stack's Temporal authenticates: an engineer requests the runs, the workers are the orchestrator.
  ({ client, connection } = await stackClient(userTokens(REQUESTER)));
  nativeConnection = await stackWorkerConnection();
  bundle = await workflowBundle();
}, 120_000);

afterAll(async () => {
  for (const w of gpuWorkers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  // A failed test may leave a worker holding the connection; closing is best effort then.
  await nativeConnection?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  fs.rmSync(specsDir, { recursive: true, force: true });
});

/** A GPU worker as its own process, as in production (CPU mode: no GPU here). */
async function startGpuWorker(queue: string, env: NodeJS.ProcessEnv = {}): Promise<Spawned> {
  const w = spawnTs('workers/gpu.ts', [], {
    MLO_QUEUE_GPU: queue,
    MLO_GPU_COUNT: '0',
    MLO_MODELS_DIR: specsDir,
    ...env,
  });
  gpuWorkers.push(w);
  await w.waitFor(/polling task queue/, 60_000);
  return w;
}

type Ctx = { wf: string; cpu: string; gpu: string };

/** In-process workflow and CPU workers: feature, evaluation, shadow and promotion stages mocked at the boundary. */
async function withPipeline<T>(q: Ctx, mlflowUri: string, fn: () => Promise<T>): Promise<T> {
  const deps = { ...buildDeps({ ...cfg, mlflow: { ...cfg.mlflow, trackingUri: mlflowUri } }), modelsDir: specsDir };
  const real = createCpuActivities(deps);
  const mocks: Partial<Activities> = {
    async planFeatureBackfill() {
      return { featureSetHash: 'fixture', days: ['2025-01-01'], outputPrefix: 'unused/' };
    },
    async computeFeaturePartition(i) {
      return { day: i.day, hash: 'fixture', rows: 1, labeledRows: 1, positives: 0, reused: true };
    },
    async writeFeatureManifest() {
      return { manifestUri, hash: 'fixture', rows: 120000, partitions: 8, labeledRows: 105000, positives: 1000 };
    },
    // The run ends at the gates: this file is about training, not promotion.
    async evaluateCandidate() {
      return { passed: false, reportUri: 's3://mlo/r.json', markdown: 'not evaluated in this test' };
    },
    async shadowScore() {
      return { passed: true, reportUri: 's3://mlo/s.json', markdown: '' };
    },
  };
  const workers = await Promise.all([
    Worker.create({
      connection: nativeConnection,
      namespace: cfg.temporal.namespace,
      taskQueue: q.wf,
      workflowBundle: bundle,
    }),
    Worker.create({
      connection: nativeConnection,
      namespace: cfg.temporal.namespace,
      taskQueue: q.cpu,
      activities: { ...real, ...mocks },
    }),
  ]);
  const [w0, w1] = workers;
  return w0.runUntil(w1.runUntil(fn()));
}

function start(s: ModelSpec, q: Ctx): Promise<WorkflowHandle<typeof trainAndPromote>> {
  return client.workflow.start(trainAndPromote, {
    taskQueue: q.wf,
    workflowId: uniqueName(`train-${s.name}`),
    args: [
      {
        model: s.name,
        specHash: specHash(s),
        asOf: '2025-01-08',
        requestedBy: REQUESTER,
        queues: { cpu: q.cpu, gpu: q.gpu },
      },
    ],
  });
}

async function pendingTrial(h: WorkflowHandle): Promise<{ details?: TrialHeartbeat; attempt: number } | undefined> {
  const d = await h.describe();
  const p = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'trainTrial');
  if (!p) return undefined;
  const payload = p.heartbeatDetails?.payloads?.[0];
  return {
    details: payload
      ? client.options.loadedDataConverter.payloadConverter.fromPayload<TrialHeartbeat>(payload)
      : undefined,
    attempt: p.attempt ?? 0,
  };
}

async function versionsOf(model: string, workflowId: string) {
  const workflow = `${tagFilterKey(VersionTag.workflowId)} = ${quoteFilterValue(workflowId)}`;
  const filter = `name = ${quoteFilterValue(model)} and ${workflow}`;
  return (await mlflow.searchModelVersions({ filter })).items;
}

function uniqueModel(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** The values MLflow holds of one metric of a run, every step (the client reads only the latest). */
async function metricHistory(runId: string, key: string): Promise<{ step: number; value: number }[]> {
  const url = new URL(`${cfg.mlflow.trackingUri.replace(/\/$/, '')}/api/2.0/mlflow/metrics/get-history`);
  url.searchParams.set('run_id', runId);
  url.searchParams.set('metric_key', key);
  url.searchParams.set('max_results', '25000');
  const user = process.env.MLFLOW_TRACKING_USERNAME;
  const auth = user
    ? `Basic ${Buffer.from(`${user}:${process.env.MLFLOW_TRACKING_PASSWORD ?? ''}`).toString('base64')}`
    : '';
  const res = await fetch(url, { headers: auth ? { authorization: auth } : {} });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { metrics?: { step?: string | number; value: number }[] };
  return (body.metrics ?? []).map((m) => ({ step: Number(m.step ?? 0), value: m.value }));
}

/** Each step logged once. */
function expectNoReplayedSteps(history: { step: number }[], key: string): void {
  const steps = history.map((m) => m.step).sort((a, b) => a - b);
  expect(steps.length, `${key} has values`).toBeGreaterThan(0);
  expect(steps, `${key}: every step once`).toEqual([...new Set(steps)]);
}

/** The checkpoints of a trial's attempt in S3, newest step first. */
async function checkpointSteps(h: WorkflowHandle, model: string, attempt: number): Promise<number[]> {
  const runId = (await h.describe()).runId;
  const key = `checkpoints/${model}/${h.workflowId}/${runId}/trial-0/attempt-${attempt}/`;
  const keys = await listKeys(s3, cfg.s3.bucket, key);
  return keys
    .map((k) => Number(/step-(\d+)\.txt$/.exec(k.key)?.[1] ?? NaN))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => b - a);
}

/** The scratch directories a worker process made that are still on disk. */
function scratchDirsOf(workerPid: number): string[] {
  return fs
    .readdirSync(os.tmpdir())
    .filter((n) => n.startsWith('mlo-trainer-'))
    .filter((n) => {
      try {
        const owner = JSON.parse(fs.readFileSync(path.join(os.tmpdir(), n, 'owner.json'), 'utf8')) as {
          worker?: { pid: number };
        };
        return owner.worker?.pid === workerPid;
      } catch {
        return false;
      }
    });
}

describe('training dispatch', () => {
  it('a kill -9 of the GPU worker mid-training: its trainer stops within seconds, a new worker resumes from the checkpoint, exactly one version', async () => {
    const s = spec(
      uniqueModel('resume'),
      '{ rounds: 400, checkpoint_every: 20, learning_rate: 0.03, num_leaves: 31, min_data_in_leaf: 20 }',
    );
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    const first = await startGpuWorker(q.gpu);
    await withPipeline(q, cfg.mlflow.trackingUri, async () => {
      const h = await start(s, q);
      const beat = await waitFor(
        'a checkpoint in the heartbeat',
        async () => {
          const p = await pendingTrial(h);
          return p?.details?.checkpoint && p.details.trainerPid ? p.details : undefined;
        },
        120_000,
        { rethrow: true },
      );
      // The worker alone is killed (an OOM kill): its trainer must notice and stop on its own.
      const trainerPid = beat.trainerPid!;
      expect(isAlive(trainerPid)).toBe(true);
      const t0 = Date.now();
      first.child.kill('SIGKILL');
      await first.exited;
      await waitFor('the orphaned trainer to stop', async () => (isAlive(trainerPid) ? undefined : true), 10_000, {
        rethrow: true,
      });
      const stoppedMs = Date.now() - t0;
      console.log(`trainer ${trainerPid} stopped ${stoppedMs} ms after its worker was killed`);
      expect(stoppedMs).toBeLessThan(5000);
      await startGpuWorker(q.gpu);
      const result = await h.result();
      expect(result.candidateVersion).toBeDefined();
      const versions = await versionsOf(s.name, h.workflowId);
      expect(versions).toHaveLength(1);
      const run = await mlflow.getRun(versions[0]!.runId);
      const resumed = tagsOf(run)[RunTag.resumedFrom];
      expect(resumed).toMatch(/^step (\d+) \(s3:\/\/.*\) at attempt 2$/);
      expect(Number(/^step (\d+)/.exec(resumed ?? '')?.[1])).toBeGreaterThanOrEqual(beat.checkpoint!.step);
      for (const key of ['valid_auc', 'train_logloss'])
        expectNoReplayedSteps(await metricHistory(versions[0]!.runId, key), key);
      expect(scratchDirsOf(first.child.pid!)).toEqual([]);
      // Lineage on the version.
      const tags = tagsOf(versions[0]!);
      expect(tags[VersionTag.requestedBy]).toBe(REQUESTER);
      expect(tags[VersionTag.trainWindow]).toBe('2025-01-01..2025-01-04');
      expect(tags[VersionTag.featureManifestUri]).toBe(manifestUri);
      expect(tags[VersionTag.codeVersion]).toMatch(/^[0-9a-f]{40}(-dirty)?$|^unknown$/);
      expect(JSON.parse(tags[VersionTag.inputColumns] ?? '[]')).toEqual(FIXTURE_FEATURES);
    });
  }, 420_000);

  it('worker and trainer killed after a checkpoint is written but before a heartbeat carries it: the retry resumes from it', async () => {
    // A long heartbeat timeout: the SDK sends heartbeats at most every 0.8 × 20 s, so the server lags.
    const rounds = 2000;
    const s = spec(uniqueModel('ckpt'), `{ rounds: ${rounds}, checkpoint_every: 20, learning_rate: 0.03 }`, '', '20s');
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    const first = await startGpuWorker(q.gpu);
    await withPipeline(q, cfg.mlflow.trackingUri, async () => {
      const h = await start(s, q);
      const beat = await waitFor('a running trainer', async () => (await pendingTrial(h))?.details?.trainer, 120_000, {
        rethrow: true,
      });
      // Kill at once when S3 holds a checkpoint newer than the server's heartbeat knows of.
      await waitFor(
        'a checkpoint the server has not heard of',
        async () => {
          const [newest] = await checkpointSteps(h, s.name, 1);
          const known = (await pendingTrial(h))?.details?.checkpoint?.step ?? 0;
          if (newest !== undefined && newest >= rounds - 20)
            throw new Error(
              `the trainer reached step ${newest} of ${rounds} before a checkpoint ran ahead of its heartbeat`,
            );
          return newest !== undefined && newest >= 60 && newest > known ? true : undefined;
        },
        120_000,
        { rethrow: true },
      );
      // The machine dies: the trainer's group and the worker at once. The group is the one the latest
      // heartbeat names (an attempt may have been replaced under load); one already gone is no error.
      const trainer = (await pendingTrial(h))?.details?.trainer ?? beat;
      try {
        process.kill(-trainer.pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
      first.child.kill('SIGKILL');
      await first.exited;
      const [newest] = await checkpointSteps(h, s.name, 1);
      const known = (await pendingTrial(h))?.details?.checkpoint?.step ?? 0;
      console.log(`killed with checkpoint ${newest} in S3, the server's heartbeat at ${known}`);
      expect(newest).toBeGreaterThan(known);

      await startGpuWorker(q.gpu);
      const result = await h.result();
      const versions = await versionsOf(s.name, h.workflowId);
      expect(versions).toHaveLength(1);
      expect(versions[0]!.version).toBe(result.candidateVersion);
      const run = await mlflow.getRun(versions[0]!.runId);
      const resumed = tagsOf(run)[RunTag.resumedFrom] ?? '';
      expect(resumed).toMatch(new RegExp(`^step ${newest} \\(s3://.*/attempt-1/step-${newest}\\.txt\\) at attempt 2$`));
      // The retry wrote under its own prefix, only after the checkpoint it resumed from.
      const second = await checkpointSteps(h, s.name, 2);
      expect(Math.min(...second)).toBeGreaterThan(newest!);
      for (const key of ['valid_auc', 'train_logloss'])
        expectNoReplayedSteps(await metricHistory(versions[0]!.runId, key), key);
      expect(scratchDirsOf(first.child.pid!)).toEqual([]);
    });
  }, 420_000);

  it('cancelling the workflow mid-training kills the trainer process group within seconds', async () => {
    const s = spec(
      uniqueModel('cancel'),
      '{ rounds: 5000, checkpoint_every: 100, learning_rate: 0.01, num_leaves: 63 }',
    );
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    await startGpuWorker(q.gpu);
    await withPipeline(q, cfg.mlflow.trackingUri, async () => {
      const h = await start(s, q);
      const beat = await waitFor(
        'a running trainer',
        async () => {
          const p = await pendingTrial(h);
          return p?.details?.trainerPid && p.details.step !== undefined ? p.details : undefined;
        },
        120_000,
        { rethrow: true },
      );
      const pid = beat.trainerPid!;
      expect(isAlive(pid)).toBe(true);
      const t0 = Date.now();
      await h.cancel();
      await waitFor('the trainer to be gone', async () => (isAlive(pid) ? undefined : true), 15_000, { rethrow: true });
      expect(Date.now() - t0).toBeLessThan(15_000);
      await expect(h.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(await versionsOf(s.name, h.workflowId)).toHaveLength(0);
    });
  });

  it('a trainer exiting with the bad-input code fails at once, with no retry and its stderr in the message', async () => {
    const s = spec(uniqueModel('badinput'), '{ rounds: 10, num_leaves: -3 }');
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    await startGpuWorker(q.gpu);
    await withPipeline(q, cfg.mlflow.trackingUri, async () => {
      const h = await start(s, q);
      const err = await h.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
      expect(cause.type).toBe(FailureType.StageFailed);
      expect(cause.message).toMatch(
        /stage training failed: trainer `python trainers\/gbdt\/train.py` rejected its input \(exit 2; not retried\)/,
      );
      expect(cause.message).toMatch(/num_leaves/);
      const history = await h.fetchHistory();
      const events = history.events ?? [];
      const trials = new Set(
        events
          .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainTrial')
          .map((e) => String(e.eventId)),
      );
      const attempts = events
        .filter((e) => trials.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
        .map((e) => e.activityTaskStartedEventAttributes?.attempt);
      expect(attempts).toEqual([1]);
      expect(await versionsOf(s.name, h.workflowId)).toHaveLength(0);
    });
  });

  it('a sweep fans trials out as MLflow child runs and registers the best trial by the validation metric', async () => {
    const s = spec(
      uniqueModel('sweep'),
      '{ rounds: 30, checkpoint_every: 30 }',
      '  sweep: { params: { num_leaves: [3, 31] }, max_trials: 2, parallelism: 2, metric: valid_auc }',
    );
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    await startGpuWorker(q.gpu);
    await withPipeline(q, cfg.mlflow.trackingUri, async () => {
      const h = await start(s, q);
      const result = await h.result();
      const versions = await versionsOf(s.name, h.workflowId);
      expect(versions).toHaveLength(1);
      expect(versions[0]!.version).toBe(result.candidateVersion);
      const parentId = tagsOf(versions[0]!)[VersionTag.sweepRunId];
      expect(parentId).toBeDefined();
      const parent = await mlflow.getRun(parentId!);
      const children = await mlflow.searchAllRuns({
        experimentIds: [parent.info.experimentId],
        filter: `tags.mlflow.parentRunId = '${parentId}'`,
      });
      expect(children).toHaveLength(2);
      const auc = (r: (typeof children)[number]) => r.data.metrics.find((m) => m.key === 'valid_auc')?.value ?? -1;
      const best = children.reduce((a, b) => (auc(b) > auc(a) ? b : a));
      expect(versions[0]!.runId).toBe(best.info.runId);
      expect(tagsOf(parent)[RunTag.bestRunId]).toBe(best.info.runId);
      expect(parent.info.status).toBe('FINISHED');
    });
  }, 300_000);

  it('MLflow failing after the trainer exited 0: the retry finishes the trial from the saved result, without training again', async () => {
    const s = spec(uniqueModel('saved'), '{ rounds: 200, checkpoint_every: 50 }');
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    const mlflowUrl = new URL(cfg.mlflow.trackingUri);
    const proxy = await TcpProxy.start({ host: mlflowUrl.hostname, port: Number(mlflowUrl.port) });
    // The GPU worker reaches MLflow through the proxy; the pipeline's other stages do not.
    await startGpuWorker(q.gpu, { MLO_MLFLOW_TRACKING_URI: proxy.url });
    try {
      await withPipeline(q, cfg.mlflow.trackingUri, async () => {
        const h = await start(s, q);
        await waitFor('a running trainer', async () => (await pendingTrial(h))?.details?.trainer, 120_000, {
          rethrow: true,
        });
        // From now on the trial needs MLflow only once its trainer has exited 0.
        await proxy.down();
        const saved = await waitFor(
          'the first attempt to fail with the result saved',
          async () => {
            const p = await pendingTrial(h);
            return p && p.attempt >= 2 && p.details?.result ? p.details : undefined;
          },
          300_000,
          { rethrow: true },
        );
        await proxy.up();
        const result = await h.result();
        const versions = await versionsOf(s.name, h.workflowId);
        expect(versions).toHaveLength(1);
        expect(versions[0]!.version).toBe(result.candidateVersion);
        expect(tagsOf(versions[0]!)[VersionTag.onnxUri]).toBe(saved.result!.onnxUri);
        // No trainer ran again: a second run would have resumed from a checkpoint and said so.
        const run = await mlflow.getRun(versions[0]!.runId);
        expect(tagsOf(run)[RunTag.resumedFrom]).toBeUndefined();
        expect(await checkpointSteps(h, s.name, 1)).toContain(200);
        expect(await checkpointSteps(h, s.name, 2)).toEqual([]);
        expect(run.info.status).toBe('FINISHED');
      });
    } finally {
      await proxy.down();
    }
  }, 480_000);

  it('MLflow unreachable for a while during registration: retries, then success, still one version', async () => {
    const s = spec(uniqueModel('outage'), '{ rounds: 150, checkpoint_every: 50 }');
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
    const mlflowUrl = new URL(cfg.mlflow.trackingUri);
    const proxy = await TcpProxy.start({ host: mlflowUrl.hostname, port: Number(mlflowUrl.port) });
    await startGpuWorker(q.gpu);
    try {
      // The CPU pool (registration) reaches MLflow through the proxy; training does not. MLflow goes away once
      // training runs (the CPU pool's lookup of an identical version comes before it), so registration meets it.
      await withPipeline(q, proxy.url, async () => {
        const h = await start(s, q);
        await waitFor(
          'training to start',
          async () => {
            const d = await h.describe();
            return d.raw.pendingActivities?.some((a) => a.activityType?.name === 'trainTrial') ? true : undefined;
          },
          120_000,
          { rethrow: true },
        );
        await proxy.down();
        await waitFor(
          'registration to start',
          async () => {
            const d = await h.describe();
            return d.raw.pendingActivities?.some((a) => a.activityType?.name === 'registerCandidate')
              ? true
              : undefined;
          },
          120_000,
          { rethrow: true },
        );
        await new Promise((r) => setTimeout(r, 6000));
        expect(await versionsOf(s.name, h.workflowId)).toHaveLength(0);
        await proxy.up();
        const result = await h.result();
        const versions = await versionsOf(s.name, h.workflowId);
        expect(versions).toHaveLength(1);
        expect(versions[0]!.version).toBe(result.candidateVersion);
      });
    } finally {
      await proxy.down();
    }
  });
});
