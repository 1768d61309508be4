/**
 * The nine faults, each injected at a chosen moment that the suite detects by polling the run's
 * stages, the server's heartbeat details, S3 or the traffic through a fault proxy — never by
 * sleeping. Each names the stage it hits; recovery is measured from the injection to that
 * stage's end.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { StageName } from '../../lib/core/definitions';
import { promotionWorkflowId } from '../../lib/core/ids';
import { temporal } from '@temporalio/proto';
import { RunTag } from '../../lib/registry/tags';
import type { TrainAndPromoteResult } from '../../lib/core/definitions';
import { jsonBody } from './fault-proxy';
import { isAlive, signal, signalGroup, suiteTrainers, trainerGroupsOf, type Pool } from './procs';
import { pendingActivities, sleep, stage, waitForStages } from './runs';
import type { Check } from './checks';
import type { TrainerKind } from './specs';
import type { Suite } from './suite';
import { writeChangedWorkflows } from './changed-workflows';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/infra/config';

export type Injection = { at: string; time: number; stage: StageName };

export type Ctx = {
  suite: Suite;
  model: string;
  handle: WorkflowHandle;
  runStart: number;
  /** Set by the scenario when the fault hits. */
  injection?: Injection;
  /** While true, the reviewer does not approve yet. */
  holdApproval: boolean;
  /** Facts observed on the way, printed with the result. */
  notes: string[];
};

export type Scenario = {
  name: string;
  title: string;
  trainer: TrainerKind;
  holdApproval?: boolean;
  inject(ctx: Ctx): Promise<void>;
  check?(ctx: Ctx, result: TrainAndPromoteResult): Promise<Check[]>;
};

const OUTAGE_MS = 60_000;
const WAIT_MS = 300_000;

function injected(ctx: Ctx, stageName: StageName, at: string): void {
  ctx.injection = {
    at: `${at} (+${((Date.now() - ctx.runStart) / 1000).toFixed(0)}s)`,
    time: Date.now(),
    stage: stageName,
  };
}

/** Training runs and its trainer wrote at least one checkpoint to S3. */
async function untilTraining(ctx: Ctx): Promise<number> {
  await waitForStages(ctx.handle, 'training', (s) => stage(s, 'training')?.status === 'running', WAIT_MS);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const steps = await ctx.suite.ins.checkpointSteps(ctx.model).catch(() => []);
    if (steps.length > 0) return steps.at(-1) as number;
    if (Date.now() > deadline) throw new Error('no checkpoint was written within 5 minutes of training');
    await sleep(200);
  }
}

/** kill -9 one worker and start it again, as a supervisor would. */
async function killAndRestart(ctx: Ctx, pool: Pool, withTrainers: boolean): Promise<void> {
  const w = ctx.suite.worker(pool);
  const groups = trainerGroupsOf(w.pid);
  if (withTrainers) for (const g of groups) signalGroup(g, 'SIGKILL');
  signal(w.pid, 'SIGKILL');
  await w.exited;
  if (!withTrainers) void watchOrphans(ctx, groups);
  await ctx.suite.startPool(pool);
}

/** Notes how long trainers outlived their killed worker. */
async function watchOrphans(ctx: Ctx, groups: number[]): Promise<void> {
  const t0 = Date.now();
  while (groups.some(isAlive) && Date.now() - t0 < 120_000) await sleep(250);
  const alive = groups.filter(isAlive);
  ctx.notes.push(
    groups.length === 0
      ? 'no trainer process was running under the killed worker'
      : alive.length > 0
        ? `trainer group(s) ${alive.join(', ')} still alive 120s after their worker was killed`
        : `the orphaned trainer(s) ${groups.join(', ')} exited ${((Date.now() - t0) / 1000).toFixed(1)}s after their worker was killed`,
  );
}

/** Where the candidate's training run resumed from (its `mlo.resumed_from` tag), if it did. */
async function resumedFrom(ctx: Ctx, result: TrainAndPromoteResult): Promise<string | undefined> {
  if (!result.candidateVersion) return undefined;
  const v = await ctx.suite.ins.mlflow.getModelVersion(ctx.model, result.candidateVersion);
  const run = await ctx.suite.ins.mlflow.getRun(v.runId);
  return run.data.tags.find((t) => t.key === RunTag.resumedFrom)?.value;
}

/** An observation, not a requirement: where the retry resumed. */
async function resumeNote(ctx: Ctx, result: TrainAndPromoteResult): Promise<Check[]> {
  const r = await resumedFrom(ctx, result);
  return [{ name: 'resume', ok: true, detail: `the retry resumed from ${r ?? 'nothing (trained from scratch)'}` }];
}

const gpuKill: Scenario = {
  name: 'gpu-kill',
  title: 'kill -9 the GPU worker alone during training',
  trainer: 'slow',
  async inject(ctx) {
    const step = await untilTraining(ctx);
    injected(ctx, 'training', `training, checkpoint step ${step} written`);
    await killAndRestart(ctx, 'gpu', false);
  },
  check: resumeNote,
};

const groupKill: Scenario = {
  name: 'group-kill',
  title: 'kill -9 the GPU worker and its trainer group together',
  trainer: 'slow',
  async inject(ctx) {
    const step = await untilTraining(ctx);
    injected(ctx, 'training', `training, checkpoint step ${step} written`);
    await killAndRestart(ctx, 'gpu', true);
  },
  check: resumeNote,
};

/**
 * Runs `fault` while evaluation certainly runs: the first S3 read of the candidate's ONNX model
 * that happens while the run's stage is `evaluation` is held at the proxy until the fault is in.
 * (Registration reads the same object during training: that read passes.)
 */
function duringEvaluation(ctx: Ctx, fault: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('evaluation never read the candidate model')), WAIT_MS);
    ctx.suite.s3Proxy.arm({
      match: (req) =>
        req.method === 'GET' && /\.onnx(\?|$)/.test(req.url ?? '') && (req.url ?? '').includes(`/${ctx.model}/`),
      when: 'hold',
      fire: async () => {
        const s = await waitForStages(
          ctx.handle,
          'evaluation',
          (st) => stage(st, 'evaluation')?.status === 'running',
          5_000,
        ).catch(() => undefined);
        if (!s) return false;
        clearTimeout(timer);
        injected(ctx, 'evaluation', 'evaluation running, reading the candidate model');
        await fault().then(resolve, reject);
        return true;
      },
    });
  });
}

const temporalRestart: Scenario = {
  name: 'temporal-restart',
  title: 'restart the Temporal server during evaluation',
  trainer: 'fast',
  inject: (ctx) =>
    duringEvaluation(ctx, async () => {
      const t0 = Date.now();
      await ctx.suite.restartTemporal();
      ctx.notes.push(`Temporal was away for ${((Date.now() - t0) / 1000).toFixed(1)}s (stop and start)`);
    }),
};

/** Resolves when the proxy's trigger fired and the outage it started is over. */
function armOutage(
  ctx: Ctx,
  proxy: Suite['mlflowProxy'],
  stageName: StageName,
  at: string,
  opts: { match: Parameters<Suite['mlflowProxy']['arm']>[0]['match']; when: 'before' | 'after'; mode: 'down' | 'fail' },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${proxy.name} fault never triggered: ${at}`)), WAIT_MS);
    proxy.arm({
      match: opts.match,
      when: opts.when,
      fire: () => {
        clearTimeout(timer);
        injected(ctx, stageName, at);
        proxy.outage(opts.mode, OUTAGE_MS).then(resolve, reject);
      },
    });
  });
}

const mlflowRegistration: Scenario = {
  name: 'mlflow-registration',
  title: 'MLflow down for 60 s during registration',
  trainer: 'fast',
  inject: (ctx) =>
    armOutage(
      ctx,
      ctx.suite.mlflowProxy,
      'training',
      'registration: model-versions/create done, answer lost; down 60s',
      {
        match: (req) => req.method === 'POST' && (req.url ?? '').includes('/model-versions/create'),
        when: 'after',
        mode: 'down',
      },
    ),
};

const s3Backfill: Scenario = {
  name: 's3-backfill',
  title: 'S3 down for 60 s during backfill',
  trainer: 'fast',
  inject(ctx) {
    let puts = 0;
    return armOutage(ctx, ctx.suite.s3Proxy, 'featureBackfill', 'backfill: 3rd partition write dropped; down 60s', {
      match: (req) => req.method === 'PUT' && (req.url ?? '').includes(`/features/${ctx.model}/`) && ++puts === 3,
      when: 'before',
      mode: 'down',
    });
  },
};

const mlflowAfterChampion: Scenario = {
  name: 'mlflow-after-champion',
  title: 'MLflow failing right after `champion` is set',
  trainer: 'fast',
  inject: (ctx) =>
    armOutage(ctx, ctx.suite.mlflowProxy, 'promotion', 'promotion: champion set, then MLflow answers 503 for 60s', {
      match: (req, body) =>
        req.method === 'POST' &&
        (req.url ?? '').includes('/registered-models/alias') &&
        jsonBody(body)?.alias === 'champion',
      when: 'after',
      mode: 'fail',
    }),
};

/**
 * Beyond the nine: the crash window of a promotion, a worker that dies between setting `champion`
 * and recording it (tags, audit). The retry must finish the move, not report that nothing moved.
 */
const cpuKillAfterChampion: Scenario = {
  name: 'cpu-kill-after-champion',
  title: 'kill -9 the CPU worker right after `champion` is set (its answer lost)',
  trainer: 'fast',
  inject(ctx) {
    const proxy = ctx.suite.mlflowProxy;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('`champion` was never set through the proxy')), WAIT_MS);
      proxy.arm({
        match: (req, body) =>
          req.method === 'POST' &&
          (req.url ?? '').includes('/registered-models/alias') &&
          jsonBody(body)?.alias === 'champion',
        when: 'after',
        fire: () => {
          clearTimeout(timer);
          injected(ctx, 'promotion', 'promotion: champion set, CPU worker killed before its next call');
          const w = ctx.suite.worker('cpu');
          signal(w.pid, 'SIGKILL');
          w.exited.then(() => ctx.suite.startPool('cpu')).then(() => resolve(), reject);
        },
      });
    });
  },
};

const sigtermCpu: Scenario = {
  name: 'sigterm-cpu',
  title: 'SIGTERM to the CPU worker during evaluation',
  trainer: 'fast',
  async inject(ctx) {
    const w = ctx.suite.worker('cpu');
    let t0 = 0;
    // The held read goes on right after the signal: a graceful shutdown may let it finish.
    await duringEvaluation(ctx, async () => {
      t0 = Date.now();
      signal(w.pid, 'SIGTERM');
    });
    await w.exited;
    ctx.notes.push(`the CPU worker exited ${((Date.now() - t0) / 1000).toFixed(1)}s after SIGTERM`);
    await ctx.suite.startPool('cpu');
  },
};

/** The workflow-task completions and failures of the promotion after `since`, with the worker identity. */
async function taskEvents(ctx: Ctx, since: number): Promise<{ failed: number; completedBy: string[] }> {
  const h = ctx.suite.clients.service.workflow.getHandle(promotionWorkflowId(ctx.model));
  const { events } = await h.fetchHistory();
  const E = temporal.api.enums.v1.EventType;
  const after = (events ?? []).filter((e) => Number(e.eventTime?.seconds ?? 0) * 1000 >= since - 1000);
  return {
    failed: after.filter((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_FAILED).length,
    completedBy: after
      .filter((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
      .map((e) => e.workflowTaskCompletedEventAttributes?.identity ?? ''),
  };
}

const deployChanged: Scenario = {
  name: 'deploy-changed',
  title: 'a deploy of a changed promotion workflow while a promotion waits',
  trainer: 'fast',
  holdApproval: true,
  async inject(ctx) {
    await waitForStages(
      ctx.handle,
      'the promotion to await approval',
      (s) => stage(s, 'promotion')?.phase === 'awaiting-approval',
      WAIT_MS,
    );
    injected(ctx, 'promotion', 'promotion awaiting approval: workflow worker redeployed with changed code');
    const entry = writeChangedWorkflows();
    ctx.suite.entries.set('orchestrator', {
      entry: path.join(PROJECT_ROOT, 'test', 'chaos', 'orchestrator-changed.ts'),
      env: { MLO_CHAOS_WORKFLOWS_PATH: entry },
    });
    const w = await ctx.suite.redeploy('orchestrator');
    ctx.notes.push(`changed workflow worker pid ${w.pid}`);
    ctx.holdApproval = false;
  },
  async check(ctx) {
    const since = ctx.injection?.time ?? ctx.runStart;
    const pid = ctx.suite.worker('orchestrator').pid;
    const { failed, completedBy } = await taskEvents(ctx, since);
    const byChanged = completedBy.filter((id) => id.startsWith(`${pid}@`)).length;
    return [
      {
        name: 'replay',
        ok: failed === 0 && byChanged > 0,
        detail: `after the deploy: ${failed} failed workflow tasks, ${byChanged} completed by the changed worker (pid ${pid})`,
      },
    ];
  },
};

const checkpointBeforeHeartbeat: Scenario = {
  name: 'ckpt-before-heartbeat',
  title: 'kill -9 worker and trainer group after a checkpoint is written, before the next heartbeat',
  trainer: 'slow',
  async inject(ctx) {
    await untilTraining(ctx);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const [steps, acts] = await Promise.all([
        ctx.suite.ins.checkpointSteps(ctx.model),
        pendingActivities(ctx.handle),
      ]);
      const trial = acts.find((a) => a.type === 'trainTrial');
      const beat = (trial?.details as { checkpoint?: { step: number } } | undefined)?.checkpoint?.step ?? 0;
      const newest = steps.at(-1) ?? 0;
      if (trial && newest >= 50 && newest > beat) {
        injected(ctx, 'training', `checkpoint step ${newest} in S3, the server's heartbeat has step ${beat || 'none'}`);
        ctx.notes.push(`newest checkpoint ${newest}, server heartbeat ${beat || 'none'}`);
        (ctx as Ctx & { newestCheckpoint?: number }).newestCheckpoint = newest;
        await killAndRestart(ctx, 'gpu', true);
        return;
      }
      if (Date.now() > deadline) throw new Error('no checkpoint newer than the last heartbeat appeared');
      await sleep(100);
    }
  },
  async check(ctx, result) {
    const newest = (ctx as Ctx & { newestCheckpoint?: number }).newestCheckpoint;
    const resumed = await resumedFrom(ctx, result);
    return [
      {
        name: 'resume',
        ok: resumed !== undefined && resumed.startsWith(`step ${newest} `),
        detail: `resumed from ${resumed ?? 'nothing (trained from scratch)'}; newest checkpoint at the kill: step ${newest}`,
      },
    ];
  },
};

export const SCENARIOS: Scenario[] = [
  gpuKill,
  groupKill,
  temporalRestart,
  mlflowRegistration,
  s3Backfill,
  mlflowAfterChampion,
  sigtermCpu,
  deployChanged,
  checkpointBeforeHeartbeat,
  cpuKillAfterChampion,
];

/** Trainer processes of the suite that are still running (for reports). */
export function runningTrainers(suite: Suite): number {
  return suiteTrainers(suite.env.tmpDir).length;
}
