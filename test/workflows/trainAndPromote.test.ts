/**
 * trainAndPromote's orchestration against a real Temporal dev server: the spec deployed with
 * the workers (never the input's), stages on the queues of their pools, URIs between them,
 * gates that stop the run before promotion, and one promotion per model at a time. Activities
 * are mocked at the boundary, typed as the real ones, except `loadDeployedSpec`, which reads
 * real spec files.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities';
import type { GateFailureInput, IdenticalCandidate } from '../../activities/registry';
import { loadDeployed } from '../../activities/spec';
import { FailureType } from '../../lib/core/failure-types';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { findModelSpec, MODELS_DIR, specHash, type ModelSpec } from '../../lib/spec/model-spec';
import { trainAndPromote } from '../../workflows';
import {
  approveUpdate,
  progressQuery,
  promotionStateQuery,
  type TrainAndPromoteInput,
} from '../../lib/core/definitions';
import { recordHistory } from '../helpers/fixtures';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';
import { workflowBundle } from '../helpers/workflow-bundle';
import { promotionWorkflowId } from '../../lib/core/ids';
import { deployedSpecsDir, deploySpec, specText } from '../helpers/deployed-spec';
import { summarizeDataGates } from '../../activities/data-gates';
import { evaluateDataGates } from '../../lib/data/gates';
import type { FeatureSnapshotPartition } from '../../lib/features/manifest';
import { loadSpecFile } from '../../lib/spec/model-spec';
import path from 'node:path';
import { exitCodeFor, failedMessage, failureInfo } from '../../cli/runs';
import { EXIT_CODES } from '../../lib/core/errors';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
/** Specs deployed only for this file's workers (the project's models/ is deployed too). */
let specsDir: string;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  specsDir = deployedSpecsDir();
  [env, bundle] = await Promise.all([createTestEnv(), workflowBundle()]);
});
afterAll(async () => {
  await env?.teardown();
  fs.rmSync(specsDir, { recursive: true, force: true });
});

function input(
  queues: TrainAndPromoteInput['queues'],
  spec: ModelSpec = findModelSpec('fraud-detector').spec,
): TrainAndPromoteInput {
  return {
    model: spec.name,
    specHash: specHash(spec),
    asOf: '2026-03-15',
    requestedBy: 'carol@example.com',
    queues,
  };
}

type Seen = { name: string; queue: string }[];

/**
 * Every activity mocked at the boundary, typed as the real ones, but the deployed spec: the real
 * activity, over the project's models/ or this file's specs. `seen` records name and queue.
 */
function mocks(
  seen: Seen,
  opts: {
    evaluationPassed?: boolean;
    champion?: string | null;
    modelsDir?: string;
    identical?: IdenticalCandidate;
    gateFailures?: GateFailureInput[];
    /** The snapshot's partitions as its manifest lists them, for the data gates. */
    partitions?: FeatureSnapshotPartition[];
  } = {},
): Activities {
  const record = (name: string) => seen.push({ name, queue: Context.current().info.taskQueue });
  return {
    async loadDeployedSpec(i) {
      record('loadDeployedSpec');
      return loadDeployed({ modelsDir: opts.modelsDir ?? MODELS_DIR }, i);
    },
    async planFeatureBackfill(i) {
      record('planFeatureBackfill');
      return { featureSetHash: 'fs1', days: [i.range.from, '2026-03-14'], outputPrefix: 'features/x/fs1/' };
    },
    async computeFeaturePartition(i) {
      return { day: i.day, hash: `h-${i.day}`, rows: 10, labeledRows: 8, positives: 1, reused: false };
    },
    async checkDataGates(i) {
      record('checkDataGates');
      // The real judgement, over the manifest partitions the test gives.
      return summarizeDataGates(i.model, evaluateDataGates(i.gates, opts.partitions ?? []));
    },
    async writeFeatureManifest(i) {
      record('writeFeatureManifest');
      return {
        manifestUri: 's3://mlo/features/m.json',
        hash: 'snap',
        rows: i.partitions.length * 10,
        partitions: i.partitions.length,
        labeledRows: 16,
        positives: 2,
      };
    },
    async trainTrial(i) {
      record('trainTrial');
      expect(i.snapshot.manifestUri).toBe('s3://mlo/features/m.json');
      expect(i.featureColumns[0]).toBe('amount');
      return {
        trialIndex: i.trialIndex,
        runId: 'r1',
        onnxUri: 's3://mlo/models/m.onnx',
        metrics: { valid_auc: 0.9 },
        params: i.params,
        probabilityOutput: 'probabilities',
        probabilityIndex: 1,
      };
    },
    async registerCandidate(i) {
      record('registerCandidate');
      return { runId: i.trial.runId, version: '3', onnxUri: i.trial.onnxUri };
    },
    async startSweepRun() {
      throw new Error('no sweep in this spec');
    },
    async finishSweepRun() {
      throw new Error('no sweep in this spec');
    },
    async getChampion() {
      record('getChampion');
      return opts.champion === undefined ? '2' : opts.champion;
    },
    async findIdenticalCandidate() {
      record('findIdenticalCandidate');
      return opts.identical ?? null;
    },
    async recordGateFailure(i) {
      record('recordGateFailure');
      opts.gateFailures?.push(i);
    },
    async evaluateCandidate(i) {
      record('evaluateCandidate');
      expect(i.candidate.version).toBe('3');
      const passed = opts.evaluationPassed ?? true;
      return {
        passed,
        reportUri: 's3://mlo/reports/e.json',
        markdown: passed ? '| auc | 0.91 |' : '**auc_delta >= -0.002: FAILED (-0.03)**',
        gates: [
          { gate: 'auc >= 0.80', status: 'pass', value: 0.91, note: '' },
          passed
            ? { gate: 'auc_delta >= -0.002', status: 'pass', value: 0.01, note: '' }
            : { gate: 'auc_delta >= -0.002', status: 'fail', value: -0.03, note: 'CI [-0.05, -0.01]' },
        ],
        mlflowRunUrl: 'http://mlflow.example/#/runs/r1',
      };
    },
    async shadowScore() {
      record('shadowScore');
      return { passed: true, reportUri: 's3://mlo/reports/s.json', markdown: '| psi | 0.01 |' };
    },
    async setChallenger() {
      record('setChallenger');
    },
    async moveChampion() {
      record('moveChampion');
      return { previous: '2' };
    },
    async dropChallenger() {
      record('dropChallenger');
    },
    async appendAuditRecord() {
      return 's3://mlo/audit/x.json';
    },
    async championLineage() {
      return { history: ['1', '2'], current: '2' };
    },
  };
}

async function withWorkers<T>(
  activities: Activities,
  fn: (q: { wf: string; cpu: string; gpu: string }) => Promise<T>,
): Promise<T> {
  const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu'), gpu: uniqueName('gpu') };
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue: q.wf,
      workflowBundle: bundle,
    }),
    Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.cpu, activities }),
    Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue: q.gpu,
      activities: { trainTrial: (i: Parameters<Activities['trainTrial']>[0]) => activities.trainTrial(i) },
    }),
  ]);
  const [w0, w1, w2] = workers;
  return w0.runUntil(w1.runUntil(w2.runUntil(fn(q))));
}

describe('trainAndPromote', () => {
  it("runs every stage on the queue of its pool and promotes on a reviewer's approval", async () => {
    const seen: Seen = [];
    const out = await withWorkers(mocks(seen), async (q) => {
      const h = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId('fraud-detector'));
      const state = await waitFor('the promotion to wait for a decision', async () => {
        const s = await promo.query(promotionStateQuery);
        return s.status === 'awaiting-approval' ? s : undefined;
      });
      expect(state).toMatchObject({
        candidateVersion: '3',
        requestedBy: 'carol@example.com',
        reviewers: ['alice@example.com', 'bob@example.com'],
      });
      const stages = await h.query(progressQuery);
      expect(stages.find((s) => s.stage === 'promotion')?.message).toBe(
        'awaiting approval in workflow promotion/fraud-detector',
      );
      const decision = await promo.executeUpdate(approveUpdate, {
        args: [{ reviewer: 'alice@example.com', candidateVersion: '3' }],
      });
      expect(decision).toMatchObject({ outcome: 'promoted', version: '3', decidedBy: 'alice@example.com' });
      const r = await h.result();
      recordHistory('train-and-promote-promoted', h, { address: env.address, namespace: env.namespace ?? 'default' });
      recordHistory('promotion-approved-in-run', promo, {
        address: env.address,
        namespace: env.namespace ?? 'default',
      });
      recordHistory('feature-backfill', env.client.workflow.getHandle(`${h.workflowId}/features`), {
        address: env.address,
        namespace: env.namespace ?? 'default',
      });
      // The deployed-spec path replays deterministically (stored fixtures hold only older runs).
      await Worker.runReplayHistory({ workflowBundle: bundle }, await h.fetchHistory(), h.workflowId);
      await Worker.runReplayHistory({ workflowBundle: bundle }, await promo.fetchHistory(), promo.workflowId);
      return { r, q };
    });
    expect(out.r.outcome).toBe('promoted');
    expect(out.r.candidateVersion).toBe('3');
    expect(out.r.windows).toMatchObject({
      asOf: '2026-03-15',
      labelCutoff: '2026-03-15T00:00:00.000Z',
      holdout: { from: '2026-02-08', to: '2026-02-13' },
      validation: { from: '2026-02-03', to: '2026-02-08' },
      shadow: { from: '2026-03-12', to: '2026-03-15' },
    });
    expect(out.r.stages.map((s) => [s.stage, s.status])).toEqual([
      ['featureBackfill', 'succeeded'],
      ['training', 'succeeded'],
      ['evaluation', 'succeeded'],
      ['shadow', 'succeeded'],
      ['promotion', 'succeeded'],
    ]);
    const q = out.q;
    expect(seen).toEqual([
      { name: 'loadDeployedSpec', queue: q.cpu },
      { name: 'planFeatureBackfill', queue: q.cpu },
      { name: 'writeFeatureManifest', queue: q.cpu },
      { name: 'findIdenticalCandidate', queue: q.cpu },
      { name: 'trainTrial', queue: q.gpu },
      { name: 'registerCandidate', queue: q.cpu },
      { name: 'getChampion', queue: q.cpu },
      { name: 'evaluateCandidate', queue: q.cpu },
      { name: 'shadowScore', queue: q.cpu },
      { name: 'loadDeployedSpec', queue: q.cpu },
      { name: 'setChallenger', queue: q.cpu },
      { name: 'moveChampion', queue: q.cpu },
    ]);
  });

  it('with queues per kind of CPU work, partitions, evaluation and shadow scoring, and CPU training take their own', async () => {
    const seen: Seen = [];
    const activities = mocks(seen);
    const name = (kind: string) => uniqueName(kind);
    const q = {
      wf: name('wf'),
      cpu: name('cpu'),
      gpu: name('gpu'),
      features: name('features'),
      evaluation: name('evaluation'),
      cpuTraining: name('cpu-training'),
    };
    const on = (taskQueue: string, bundled = false) =>
      Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace,
        taskQueue,
        ...(bundled ? { workflowBundle: bundle } : { activities }),
      });
    const workers = await Promise.all([
      on(q.wf, true),
      ...[q.cpu, q.gpu, q.features, q.evaluation, q.cpuTraining].map((x) => on(x)),
    ]);
    const run = async () => {
      const spec = findModelSpec('fraud-baseline').spec;
      const h = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap-kinds'),
        args: [
          input(
            { cpu: q.cpu, gpu: q.gpu, features: q.features, evaluation: q.evaluation, cpuTraining: q.cpuTraining },
            spec,
          ),
        ],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId(spec.name));
      await waitFor('the promotion to wait for a decision', async () =>
        (await promo.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined,
      );
      await promo.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
      return h.result();
    };
    const all = workers.reduce<Promise<unknown>>((p, w) => w.runUntil(p), run());
    const r = (await all) as Awaited<ReturnType<typeof trainAndPromote>>;
    expect(r.outcome).toBe('promoted');
    const queueOf = (n: string) => [...new Set(seen.filter((x) => x.name === n).map((x) => x.queue))];
    expect(queueOf('planFeatureBackfill')).toEqual([q.features]);
    expect(queueOf('writeFeatureManifest')).toEqual([q.features]);
    expect(queueOf('trainTrial')).toEqual([q.cpuTraining]);
    expect(queueOf('evaluateCandidate')).toEqual([q.evaluation]);
    expect(queueOf('shadowScore')).toEqual([q.evaluation]);
    for (const n of ['loadDeployedSpec', 'registerCandidate', 'getChampion', 'setChallenger', 'moveChampion'])
      expect(queueOf(n)).toEqual([q.cpu]);
  });

  it("a run started with a spec hash the workers don't deploy fails at once, naming both hashes, and trains nothing", async () => {
    const seen: Seen = [];
    const deployed = findModelSpec('fraud-detector').spec;
    // The requester's copy differs from the workers' (here: other reviewers).
    const local: ModelSpec = { ...deployed, promotion: { ...deployed.promotion, reviewers: ['mallory@example.com'] } };
    const err = await withWorkers(mocks(seen), (q) =>
      env.client.workflow
        .execute(trainAndPromote, {
          taskQueue: q.wf,
          workflowId: uniqueName('tap'),
          args: [input({ cpu: q.cpu, gpu: q.gpu }, local)],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe(FailureType.BadInput);
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toBe(
      'the workers deploy a different fraud-detector.yaml than the run was started with ' +
        `(the run's spec hash is ${specHash(local)}; models/fraud-detector.yaml on the workers hashes to ` +
        `${specHash(deployed)}); redeploy the workers or start the run again`,
    );
    // One attempt (not retried), and no stage ran.
    expect(seen.map((s) => s.name)).toEqual(['loadDeployedSpec']);
  });

  it("an input's own spec changes nothing: trainer, gates, reviewers and deadline come from the deployed spec", async () => {
    const { spec: deployed } = deploySpec(specsDir, 'forged-input', {
      reviewers: ['alice@example.com', 'bob@example.com'],
      deadline: '48h',
    });
    // An old-style input that names its own trainer, gates, reviewers and deadline.
    const forged: ModelSpec = {
      ...deployed,
      training: { ...deployed.training, trainer: { command: ['sh', '-c', 'echo forged'], pool: 'cpu' } },
      evaluation: { ...deployed.evaluation, gates: [] },
      promotion: { ...deployed.promotion, reviewers: ['mallory@example.com'], deadline: '1s' },
    };
    const base = mocks([], { modelsDir: specsDir });
    const specsSeen: Record<string, ModelSpec> = {};
    const activities: Activities = {
      ...base,
      trainTrial(i) {
        specsSeen.trainTrial = i.spec;
        return base.trainTrial(i);
      },
      evaluateCandidate(i) {
        specsSeen.evaluateCandidate = i.spec;
        return base.evaluateCandidate(i);
      },
    };
    await withWorkers(activities, async (q) => {
      const h = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap'),
        args: [
          { ...input({ cpu: q.cpu, gpu: q.gpu }, deployed), spec: forged, featureSet: featureSetFromSpec(forged) },
        ],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId('forged-input'));
      const state = await waitFor('the promotion to wait for a decision', async () => {
        const s = await promo.query(promotionStateQuery);
        return s.status === 'awaiting-approval' ? s : undefined;
      });
      expect(state.reviewers).toEqual(['alice@example.com', 'bob@example.com']);
      const started = (await promo.describe()).startTime.getTime();
      expect(Date.parse(state.deadline) - started).toBeGreaterThanOrEqual(48 * 3600_000 - 5_000);
      expect(Date.parse(state.deadline) - started).toBeLessThanOrEqual(48 * 3600_000 + 5_000);
      expect(specsSeen.trainTrial?.training.trainer.command).toEqual(['python', 'trainers/logreg/train.py']);
      expect(specsSeen.evaluateCandidate?.evaluation.gates).toEqual(deployed.evaluation.gates);
      expect(deployed.evaluation.gates.length).toBeGreaterThan(0);
      const refused = await promo.executeUpdate(approveUpdate, { args: [{ reviewer: 'mallory@example.com' }] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(((refused as { cause?: Error }).cause as Error).message).toBe(
        "mallory@example.com is not a reviewer of forged-input; the model spec's reviewers are alice@example.com, bob@example.com",
      );
      await promo.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] });
      expect((await h.result()).outcome).toBe('promoted');
    });
  });

  it('a failed gate ends the run before promotion, and nothing moves in the registry', async () => {
    const seen: Seen = [];
    const gateFailures: GateFailureInput[] = [];
    const r = await withWorkers(mocks(seen, { evaluationPassed: false, gateFailures }), (q) =>
      env.client.workflow.execute(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      }),
    );
    expect(r.outcome).toBe('gate-failed');
    const message =
      'not promoted: a gate failed: evaluation: auc_delta >= -0.002 — value -0.03 (CI [-0.05, -0.01]). ' +
      'Report: http://mlflow.example/#/runs/r1. Nothing moved in the registry';
    expect(r.message).toBe(message);
    expect(r.stages.find((s) => s.stage === 'promotion')).toMatchObject({ status: 'skipped', message });
    expect(gateFailures).toEqual([
      expect.objectContaining({
        version: '3',
        failed: [{ stage: 'evaluation', gate: 'auc_delta >= -0.002', value: -0.03, note: 'CI [-0.05, -0.01]' }],
        evidence: expect.objectContaining({ evaluationReport: 's3://mlo/reports/e.json' }) as unknown,
      }),
    ]);
    expect(seen.map((s) => s.name)).not.toContain('setChallenger');
    expect(seen.map((s) => s.name)).not.toContain('moveChampion');
  });

  it('a rerun on identical inputs reuses the registered version: nothing is trained or registered', async () => {
    const seen: Seen = [];
    const identical: IdenticalCandidate = {
      candidate: { runId: 'r0', version: '3', onnxUri: 's3://mlo/models/m.onnx' },
      outcome: 'rejected',
      workflowId: 'train-and-promote/x/2026-03-15',
    };
    const r = await withWorkers(mocks(seen, { identical, champion: '2' }), async (q) => {
      const h = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId('fraud-detector'));
      await waitFor('the promotion of the reused version', async () => {
        const s = await promo.query(promotionStateQuery).catch(() => undefined);
        return s?.status === 'awaiting-approval' && s.candidateVersion === '3' ? s : undefined;
      });
      await promo.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com', candidateVersion: '3' }] });
      return h.result();
    });
    expect(r.outcome).toBe('promoted');
    expect(r.candidateVersion).toBe('3');
    expect(r.stages.find((s) => s.stage === 'training')?.message).toMatch(/^reused version 3, trained by /);
    const names = seen.map((s) => s.name);
    expect(names).toContain('findIdenticalCandidate');
    expect(names).not.toContain('trainTrial');
    expect(names).not.toContain('registerCandidate');
    expect(names).toContain('evaluateCandidate'); // judged again, against today's champion
    expect(names).toContain('moveChampion');
  });

  it('a rerun whose identical version already is the champion ends at once: already-champion', async () => {
    const seen: Seen = [];
    const identical: IdenticalCandidate = {
      candidate: { runId: 'r0', version: '2', onnxUri: 's3://mlo/models/m.onnx' },
      outcome: 'promoted',
      workflowId: 'train-and-promote/x/2026-03-15',
    };
    const r = await withWorkers(mocks(seen, { identical, champion: '2' }), (q) =>
      env.client.workflow.execute(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      }),
    );
    expect(r.outcome).toBe('already-champion');
    expect(r.candidateVersion).toBe('2');
    expect(r.stages.find((s) => s.stage === 'training')).toMatchObject({
      status: 'succeeded',
      message:
        'reused version 2, trained by train-and-promote/x/2026-03-15 on identical inputs ' +
        '(nothing trained, no copy registered; it was promoted)',
    });
    expect(r.stages.filter((s) => s.status === 'skipped').map((s) => s.stage)).toEqual([
      'evaluation',
      'shadow',
      'promotion',
    ]);
    const names = seen.map((s) => s.name);
    expect(names).not.toContain('trainTrial');
    expect(names).not.toContain('evaluateCandidate');
    expect(names).not.toContain('setChallenger');
    expect(names).not.toContain('moveChampion');
  });

  describe('data gates', () => {
    const gates = ['rows >= 0.5 * trailing_median(rows, 14d)', 'null_rate(amount) <= 0.01'];
    /** A day partition of the snapshot's manifest: `rows` rows, `nulls` of them with a null amount. */
    const part = (day: string, rows: number, nulls = 0): FeatureSnapshotPartition => ({
      day,
      uri: `s3://mlo/features/x/day=${day}/h.arrow`,
      rows,
      labeledRows: rows,
      positives: 1,
      hash: `h-${day}`,
      stats: { rows, columns: { amount: { nulls, nullRate: nulls / rows, min: 1, max: 9 } }, warnings: [] },
    });
    const deployGated = (name: string) => {
      const text = specText(name).replace(/^data:\n/m, `data:\n  gates: ${JSON.stringify(gates)}\n`);
      const file = path.join(specsDir, `${name}.yaml`);
      fs.writeFileSync(file, text);
      return loadSpecFile(file);
    };

    it('a failing data gate stops the run before training, non-retryable, naming the gate, value, threshold and day', async () => {
      const spec = deployGated('data-gated');
      expect(spec.data.gates).toEqual(gates);
      const seen: Seen = [];
      const partitions = [part('2026-03-11', 1000), part('2026-03-12', 1200), part('2026-03-13', 100)];
      const { err, details } = await withWorkers(mocks(seen, { modelsDir: specsDir, partitions }), async (q) => {
        const h = await env.client.workflow.start(trainAndPromote, {
          taskQueue: q.wf,
          workflowId: uniqueName('tap'),
          args: [input({ cpu: q.cpu, gpu: q.gpu }, spec)],
        });
        const e = await h.result().then(
          () => undefined,
          (x: unknown) => x,
        );
        // What the Temporal UI shows as the workflow's current details.
        const meta = await h.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        return { err: e, details: meta.currentDetails };
      });
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const stage = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(stage.type).toBe(FailureType.StageFailed);
      expect(stage.nonRetryable).toBe(true);
      expect(stage.details?.[0]).toEqual({ stage: 'featureBackfill', type: FailureType.DataGateFailed });
      const gate = stage.cause as ApplicationFailure;
      expect(gate.type).toBe(FailureType.DataGateFailed);
      expect(gate.message).toBe(
        'data gate failed before training: 2026-03-13: "rows >= 0.5 * trailing_median(rows, 14d)": ' +
          'rows = 100 fails >= 0.5 × median 1100 of rows over 2 earlier day(s) = 550',
      );
      expect(gate.details?.[0]).toMatchObject({
        failures: 1,
        judged: 6,
        failed: [{ gate: gates[0], day: '2026-03-13', value: 100, threshold: 550, status: 'fail' }],
      });
      expect(details).toContain(
        '| 2026-03-13 | `rows >= 0.5 * trailing_median(rows, 14d)` | 100 | 550 | rows = 100 fails >= 0.5 × median 1100',
      );
      // What `mlo status` and `mlo train-and-promote` print, and their exit code.
      const info = failureInfo(err);
      expect(failedMessage(info)).toBe(`stage featureBackfill failed (MloDataGateFailed): ${gate.message}`);
      expect(exitCodeFor('failed', info.type)).toBe(EXIT_CODES.gateFailed);
      expect(seen.map((s) => s.name)).toContain('checkDataGates');
      expect(seen.map((s) => s.name)).not.toContain('trainTrial');
    });

    it('passing data gates let the run go on to training', async () => {
      const spec = deployGated('data-gated-ok');
      const seen: Seen = [];
      const partitions = [part('2026-03-11', 1000), part('2026-03-12', 1200), part('2026-03-13', 900, 9)];
      const r = await withWorkers(mocks(seen, { modelsDir: specsDir, partitions, evaluationPassed: false }), (q) =>
        env.client.workflow.execute(trainAndPromote, {
          taskQueue: q.wf,
          workflowId: uniqueName('tap'),
          args: [input({ cpu: q.cpu, gpu: q.gpu }, spec)],
        }),
      );
      expect(r.outcome).toBe('gate-failed'); // the evaluation gate of this test, after training
      const names = seen.map((s) => s.name);
      expect(names.indexOf('checkDataGates')).toBeGreaterThan(names.indexOf('writeFeatureManifest'));
      expect(names.indexOf('trainTrial')).toBeGreaterThan(names.indexOf('checkDataGates'));
    });
  });

  it('a second run for the same model waits for the pending promotion (when_busy: queue)', async () => {
    const seen: Seen = [];
    await withWorkers(mocks(seen), async (q) => {
      const first = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap1'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId('fraud-detector'));
      const firstRun = await waitFor('the first promotion', async () => {
        const d = await promo.describe();
        return d.status.name === 'RUNNING' && (await promo.query(promotionStateQuery)).status === 'awaiting-approval'
          ? d.runId
          : undefined;
      });
      const second = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap2'),
        args: [input({ cpu: q.cpu, gpu: q.gpu })],
      });
      await waitFor('the second run to queue', async () => {
        const s = (await second.query(progressQuery)).find((x) => x.stage === 'promotion');
        return s?.message?.startsWith('waiting for the pending promotion of fraud-detector') ? true : undefined;
      });
      await env.client.workflow
        .getHandle(promotionWorkflowId('fraud-detector'), firstRun)
        .executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] });
      expect((await first.result()).outcome).toBe('promoted');
      // The second now holds the promotion lock and waits for its own decision.
      const secondRun = await waitFor(
        'the second promotion',
        async () => {
          const d = await promo.describe();
          if (d.runId === firstRun || d.status.name !== 'RUNNING') return undefined;
          return (await promo.query(promotionStateQuery)).status === 'awaiting-approval' ? d.runId : undefined;
        },
        60_000,
      );
      await env.client.workflow
        .getHandle(promotionWorkflowId('fraud-detector'), secondRun)
        .executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
      expect((await second.result()).outcome).toBe('promoted');
    });
  });

  it('a second run for the same model is refused while one is pending (when_busy: refuse)', async () => {
    const { spec } = deploySpec(specsDir, 'fraud-refuse', {
      reviewers: ['alice@example.com', 'bob@example.com'],
      whenBusy: 'refuse',
    });
    await withWorkers(mocks([], { modelsDir: specsDir }), async (q) => {
      const first = await env.client.workflow.start(trainAndPromote, {
        taskQueue: q.wf,
        workflowId: uniqueName('tap1'),
        args: [input({ cpu: q.cpu, gpu: q.gpu }, spec)],
      });
      const promo = env.client.workflow.getHandle(promotionWorkflowId('fraud-refuse'));
      await waitFor('the first promotion', async () =>
        (await promo.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined,
      );
      const err = await env.client.workflow
        .execute(trainAndPromote, {
          taskQueue: q.wf,
          workflowId: uniqueName('tap2'),
          args: [input({ cpu: q.cpu, gpu: q.gpu }, spec)],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause?.message).toMatch(
        /stage promotion failed: another promotion of fraud-refuse is pending \(workflow promotion\/fraud-refuse\); the model spec says when_busy: refuse/,
      );
      await promo.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
      expect((await first.result()).outcome).toBe('promoted');
    });
  });
});
