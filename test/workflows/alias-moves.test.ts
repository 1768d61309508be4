/**
 * Moves of `champion` against a real Temporal server, the real MLflow registry and the real S3
 * audit trail, with faults injected at the test's boundary: an MLflow client (the real one,
 * subclassed) that loses the answer right after `champion` is set or fails a tag call after it,
 * an S3 client (the real one, with a middleware) that loses the answer to the audit record's
 * write, and a slow `champion` write that widens the window in which a promotion and a rollback
 * of the same model race. Each move must finish exactly once: `champion` where it was decided,
 * one audit record of the move, and an audit trail that agrees with MLflow.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, type ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities } from '../../activities';
import { auditPrefix, MlflowAuditAnchor, readAudit, verifiedChampionHistory } from '../../lib/registry/audit';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { MlflowClient, tagsOf, type CallOptions } from '../../lib/registry/mlflow';
import { ModelTag, VersionTag } from '../../lib/registry/tags';
import { championMoveWorkflowId, promotionWorkflowId, rollbackWorkflowId } from '../../lib/core/ids';
import { FailureType } from '../../lib/core/failure-types';
import { approveUpdate, promotionStateQuery, type DecisionResult } from '../../lib/core/definitions';
import { promotion, rollback } from '../../workflows';
import type { PromotionInput } from '../../workflows/promotion';
import { recordHistory } from '../helpers/fixtures';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { createTimeSkippingEnv } from '../helpers/time-skipping';
import { workflowBundle } from '../helpers/workflow-bundle';
import { waitFor } from '../helpers/wait';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';

type MlflowFault = 'answer-lost-after-champion-set' | 'last-move-tag-fails';

/** The real MLflow client, with faults armed per model, each firing once. */
class FaultyMlflow extends MlflowClient {
  readonly fired: { model: string; fault: MlflowFault | 'slow-champion' }[] = [];
  private readonly armed = new Map<string, Set<MlflowFault>>();
  private readonly slow = new Map<string, number>();

  arm(model: string, fault: MlflowFault): void {
    this.armed.set(model, (this.armed.get(model) ?? new Set()).add(fault));
  }

  /** Every `champion` write of the model waits this long first. */
  slowChampion(model: string, ms: number): void {
    this.slow.set(model, ms);
  }

  private take(model: string, fault: MlflowFault): boolean {
    const fires = this.armed.get(model)?.delete(fault) ?? false;
    if (fires) this.fired.push({ model, fault });
    return fires;
  }

  override async setAlias(name: string, alias: string, version: string | number, opts?: CallOptions): Promise<void> {
    const delay = alias === 'champion' ? this.slow.get(name) : undefined;
    if (delay) {
      this.fired.push({ model: name, fault: 'slow-champion' });
      await new Promise((r) => setTimeout(r, delay));
    }
    await super.setAlias(name, alias, version, opts);
    if (alias === 'champion' && this.take(name, 'answer-lost-after-champion-set'))
      throw new Error(`injected: the answer to setting champion of ${name} to ${version} was lost`);
  }

  override async setRegisteredModelTag(name: string, key: string, value: string, opts?: CallOptions): Promise<void> {
    if (key === ModelTag.lastAliasMove && this.take(name, 'last-move-tag-fails'))
      throw new Error(`injected: MLflow failed setting ${key} of ${name}`);
    await super.setRegisteredModelTag(name, key, value, opts);
  }
}

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const faulty = new FaultyMlflow({
  trackingUri: cfg.mlflow.trackingUri,
  ...(cfg.mlflow.credentials ? { credentials: cfg.mlflow.credentials } : {}),
  retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 1_000 },
});
const s3 = createS3Client(cfg.s3);
/** The workers' S3 client: real, losing the answer to one audit write of each armed model. */
const workerS3 = createS3Client(cfg.s3);
const auditAnswerLost = new Set<string>();
const auditFaultsFired: string[] = [];
workerS3.middlewareStack.add(
  (next) => async (args) => {
    const out = await next(args);
    const input = args.input as { Key?: string };
    const model = [...auditAnswerLost].find((m) => input.Key?.startsWith(auditPrefix(m)));
    if (model && (input as { IfNoneMatch?: string }).IfNoneMatch === '*') {
      auditAnswerLost.delete(model);
      auditFaultsFired.push(input.Key ?? '');
      throw new Error(`injected: the answer to writing ${input.Key} was lost`);
    }
    return out;
  },
  { step: 'initialize', name: 'injectedAuditFault' },
);

/** The dev server, for everything but the long wait. */
let env: TestWorkflowEnvironment;
/** The time-skipping test server, for a mover that waits hours for another: its timers pass at once. */
let skippingEnv: TestWorkflowEnvironment;
let cpuQueue: string;
let wfQueue: string;
let workers: Worker[] = [];
let running: Promise<void>;
let specsDir: string;
const hashes = new Map<string, string>();
const REVIEWERS = ['alice@example.com', 'bob@example.com', 'carol@example.com'];

/** A workflow and a CPU worker (over the faulty clients) on the same queue names on each server. */
async function startWorkers(on: TestWorkflowEnvironment): Promise<Worker[]> {
  return Promise.all([
    Worker.create({
      connection: on.nativeConnection,
      namespace: on.namespace,
      taskQueue: wfQueue,
      workflowBundle: await workflowBundle(),
    }),
    Worker.create({
      connection: on.nativeConnection,
      namespace: on.namespace,
      taskQueue: cpuQueue,
      activities: createCpuActivities({ ...buildDeps(cfg), mlflow: faulty, s3: workerS3, modelsDir: specsDir }),
    }),
  ]);
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  cpuQueue = uniqueName('cpu');
  wfQueue = uniqueName('wf');
  specsDir = deployedSpecsDir();
  [env, skippingEnv] = await Promise.all([createTestEnv(), createTimeSkippingEnv()]);
  workers = (await Promise.all([startWorkers(env), startWorkers(skippingEnv)])).flat();
  running = Promise.all(workers.map((w) => w.run())).then(() => undefined);
}, 180_000);

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await Promise.all([env?.teardown(), skippingEnv?.teardown()]);
  s3.destroy();
  workerS3.destroy();
  if (specsDir) fs.rmSync(specsDir, { recursive: true, force: true });
});

/** A registered model with versions 1..n and its spec deployed with the workers. */
async function registeredModel(n: number, deadline = '1h'): Promise<string> {
  const name = `move-${randomUUID().slice(0, 8)}`;
  hashes.set(name, deploySpec(specsDir, name, { reviewers: REVIEWERS, deadline }).specHash);
  await mlflow.createRegisteredModel(name);
  for (let i = 0; i < n; i++)
    await mlflow.createModelVersion({ name, source: `s3://${cfg.s3.bucket}/test-models/${name}/v${i + 1}` });
  return name;
}

function promotionInput(model: string, candidateVersion: string, championAtEvaluation: string | null): PromotionInput {
  return {
    model,
    specHash: hashes.get(model) ?? '',
    candidateVersion,
    requestedBy: 'carol@example.com',
    championAtEvaluation,
    summary: 'test',
    evidence: { evaluationReport: 's3://mlo/reports/x.json' },
    parentWorkflowId: 'tap-test',
    cpuQueue,
  };
}

async function awaitingPromotion(
  model: string,
  candidate: string,
  champion: string | null,
): Promise<WorkflowHandle<typeof promotion>> {
  const h = await env.client.workflow.start(promotion, {
    taskQueue: wfQueue,
    workflowId: promotionWorkflowId(model),
    args: [promotionInput(model, candidate, champion)],
  });
  await waitFor('the promotion to wait', async () =>
    (await h.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined,
  );
  return h;
}

async function promote(model: string, candidate: string, champion: string | null): Promise<DecisionResult> {
  const h = await awaitingPromotion(model, candidate, champion);
  await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
  return h.result();
}

function startEmergencyRollback(
  model: string,
  on: TestWorkflowEnvironment = env,
): Promise<WorkflowHandle<typeof rollback>> {
  return on.client.workflow.start(rollback, {
    taskQueue: wfQueue,
    workflowId: rollbackWorkflowId(model),
    args: [
      {
        model,
        specHash: hashes.get(model) ?? '',
        requestedBy: 'olivia@example.com',
        reason: 'false positives spiked',
        emergency: true,
        cpuQueue,
      },
    ],
  });
}

async function championOf(model: string): Promise<string | undefined> {
  return (await mlflow.getModelVersionByAlias(model, 'champion'))?.version;
}

/** The audit records of `champion` moves, oldest first. */
async function auditedMoves(model: string) {
  const records = await readAudit(s3, cfg.s3.bucket, model);
  return records.filter((r) => r.action === 'champion-moved' || r.action === 'rollback');
}

/** The verified audit chain's latest champion is MLflow's. */
async function expectAuditAgrees(model: string): Promise<void> {
  const history = await verifiedChampionHistory(s3, cfg.s3.bucket, model, new MlflowAuditAnchor(mlflow));
  expect(history.at(-1)).toBe(await championOf(model));
}

/** Attempts of the move activity in the model's latest `champion/<model>` workflow. */
async function moveAttempts(model: string): Promise<number[]> {
  const history = await env.client.workflow.getHandle(championMoveWorkflowId(model)).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.activityTaskStartedEventAttributes?.attempt)
    .filter((a): a is number => typeof a === 'number');
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('a champion move finishes exactly once after partial success', () => {
  it('the answer to setting champion is lost: the retry recognizes its own move and audits it once', async () => {
    const model = await registeredModel(2);
    await promote(model, '1', null);
    faulty.arm(model, 'answer-lost-after-champion-set');
    const h = await awaitingPromotion(model, '2', '1');
    await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
    const r = await h.result();
    const server = { address: env.address, namespace: env.namespace ?? 'default' };
    recordHistory('promotion-approved-serialized-move', h, server);
    recordHistory(
      'champion-move-retried-after-lost-answer',
      env.client.workflow.getHandle(championMoveWorkflowId(model)),
      server,
    );

    expect(r).toMatchObject({ outcome: 'promoted', version: '2' });
    expect(faulty.fired).toContainEqual({ model, fault: 'answer-lost-after-champion-set' });
    expect(await moveAttempts(model)).toEqual([2]); // attempt 1 failed after the alias moved
    expect(await championOf(model)).toBe('2');
    const moves = await auditedMoves(model);
    expect(moves.map((m) => [m.previousChampion, m.newChampion])).toEqual([
      [null, '1'],
      ['1', '2'],
    ]);
    // The tags of the finished move name the champion it replaced, as the intent recorded it.
    const v2 = tagsOf(await mlflow.getModelVersion(model, '2'));
    expect(v2[VersionTag.previousChampion]).toBe('1');
    expect(JSON.parse(v2[VersionTag.championMove] ?? '{}')).toMatchObject({ previous: '1', at: moves[1]?.at });
    expect(tagsOf(await mlflow.getModelVersion(model, '1'))[VersionTag.replacedBy]).toBe(`2 at ${moves[1]?.at}`);
    await expectAuditAgrees(model);
  });

  it('a tag call fails after champion moved: the retry finishes the tags and the audit record', async () => {
    const model = await registeredModel(2);
    await promote(model, '1', null);
    faulty.arm(model, 'last-move-tag-fails');
    const r = await promote(model, '2', '1');

    expect(r).toMatchObject({ outcome: 'promoted', version: '2' });
    expect(faulty.fired).toContainEqual({ model, fault: 'last-move-tag-fails' });
    expect(await moveAttempts(model)).toEqual([2]);
    expect((await auditedMoves(model)).map((m) => m.newChampion)).toEqual(['1', '2']);
    const registered = await mlflow.getRegisteredModel(model);
    expect(JSON.parse(tagsOf(registered)[ModelTag.lastAliasMove] ?? '{}')).toMatchObject({
      champion: '2',
      previous: '1',
    });
    await expectAuditAgrees(model);
  });

  it('the answer to the audit write is lost: the retry finds its record instead of writing a second', async () => {
    const model = await registeredModel(2);
    await promote(model, '1', null);
    const h = await awaitingPromotion(model, '2', '1');
    auditAnswerLost.add(model); // the next audit write is the move's
    await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
    const r = await h.result();

    expect(r).toMatchObject({ outcome: 'promoted', version: '2' });
    expect(auditFaultsFired.some((k) => k.startsWith(auditPrefix(model)))).toBe(true);
    expect(await moveAttempts(model)).toEqual([2]);
    const moves = await auditedMoves(model);
    expect(moves.map((m) => m.newChampion)).toEqual(['1', '2']);
    // The lost write did land, once, as the move's record.
    expect(auditFaultsFired.filter((k) => k.startsWith(auditPrefix(model)))).toHaveLength(1);
    expect((await readAudit(s3, cfg.s3.bucket, model)).filter((x) => x.action === 'champion-moved')).toHaveLength(2);
    await expectAuditAgrees(model);
  });

  it('an emergency rollback whose champion answer is lost still rolls back, audited once', async () => {
    const model = await registeredModel(2);
    await promote(model, '1', null);
    await promote(model, '2', '1');
    faulty.arm(model, 'answer-lost-after-champion-set');
    const h = await startEmergencyRollback(model);
    const r = await h.result();

    expect(r).toMatchObject({ outcome: 'promoted', version: '1' });
    expect(await moveAttempts(model)).toEqual([2]);
    expect(await championOf(model)).toBe('1');
    const moves = await auditedMoves(model);
    expect(moves.map((m) => [m.action, m.newChampion])).toEqual([
      ['champion-moved', '1'],
      ['champion-moved', '2'],
      ['rollback', '1'],
    ]);
    await expectAuditAgrees(model);
  });
});

describe('a registry answer that asking again cannot change', () => {
  it('is final at once: a promotion of a version that does not exist fails in one attempt, naming it', async () => {
    const model = await registeredModel(1);
    const h = await env.client.workflow.start(promotion, {
      taskQueue: wfQueue,
      workflowId: promotionWorkflowId(model),
      args: [promotionInput(model, '9', null)],
    });
    const err = await failureOf(h.result());
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = ((err as WorkflowFailedError).cause as ActivityFailure).cause as ApplicationFailure;
    expect(cause.type).toBe(FailureType.BadInput);
    expect(cause.message).toMatch(
      /^MLflow refused POST \/api\/2\.0\/mlflow\/registered-models\/alias \(HTTP 4\d\d\): /,
    );
    const history = await h.fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => e.activityTaskStartedEventAttributes?.attempt ?? []);
    expect(attempts.at(-1)).toBe(1);
    expect(await championOf(model)).toBeUndefined();
  });
});

describe('moves of one model are serialized', () => {
  it('a promotion and an emergency rollback at once: exactly one moves champion, the other is refused', async () => {
    const model = await registeredModel(3);
    await promote(model, '1', null);
    await promote(model, '2', '1');
    const pending = await awaitingPromotion(model, '3', '2');
    // Each champion write now takes 4 s: unserialized, both movers would read version 2 first.
    faulty.slowChampion(model, 4_000);

    const rollbackHandle = startEmergencyRollback(model);
    const [approved, rolledBack] = await Promise.all([
      failureOf(pending.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] })),
      rollbackHandle.then((h) => failureOf(h.result())),
    ]);
    const promoted = await failureOf(pending.result());
    const server = { address: env.address, namespace: env.namespace ?? 'default' };
    recordHistory('race-promotion-against-rollback', pending, server);
    recordHistory('race-rollback-against-promotion', await rollbackHandle, server);

    const outcomes = [promoted, rolledBack];
    const failed = outcomes.filter((e) => e !== undefined);
    expect(failed).toHaveLength(1);
    const err = failed[0] as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(err.cause).toBeInstanceOf(ActivityFailure);
    const cause = (err.cause as ActivityFailure).cause as ApplicationFailure;
    expect(cause.type).toBe(FailureType.ChampionMoved);
    expect(cause.message).toMatch(/moved since the decision was made \(expected version 2, found version [13]\)/);
    const winner = promoted === undefined ? '3' : '1';
    if (promoted !== undefined) expect(approved).toBeDefined(); // the approval's update failed with it

    expect(await championOf(model)).toBe(winner);
    const moves = await auditedMoves(model);
    expect(moves.map((m) => m.newChampion)).toEqual(['1', '2', winner]);
    expect(moves.at(-1)?.previousChampion).toBe('2');
    await expectAuditAgrees(model);

    // Both movers ran as champion/<model>, one after the other.
    const runs: { start: number; end: number }[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${championMoveWorkflowId(model)}'` }))
      runs.push({ start: w.startTime.getTime(), end: w.closeTime?.getTime() ?? Infinity });
    runs.sort((a, b) => a.start - b.start);
    // Four moves in all: two seeding promotions, then the race's two.
    expect(runs).toHaveLength(4);
    const [first, second] = runs.slice(-2);
    expect(first && second && first.end <= second.start).toBe(true);
  });

  it('a mover that another holds back for longer than any move may take gives up, changing nothing', async () => {
    const model = await registeredModel(2, '10h');
    await promote(model, '1', null);
    await promote(model, '2', '1');
    // A workflow that holds champion/<model> for ten hours: a promotion started under that id,
    // waiting for a decision until its deadline. (The test server skips time only while every
    // workflow waits on a timer, so the holder must be one, not a workflow without a worker.)
    const stuck = await skippingEnv.client.workflow.start(promotion, {
      taskQueue: wfQueue,
      workflowId: championMoveWorkflowId(model),
      args: [promotionInput(model, '2', '1')],
    });
    try {
      const h = await startEmergencyRollback(model, skippingEnv);
      const err = await failureOf(h.result()); // the test server skips the hours of waiting
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe(FailureType.ChampionMoveBusy);
      expect(cause.message).toBe(
        `another move of the champion has held champion/${model} for over 3 hours, longer than any move may ` +
          'take; nothing was changed. Look at that workflow in the Temporal UI (an admin may terminate it once ' +
          'its alias, tags and audit record agree), then decide again.',
      );
      expect(await championOf(model)).toBe('2');
      expect((await auditedMoves(model)).map((m) => m.newChampion)).toEqual(['1', '2']);
    } finally {
      await stuck.terminate('test over');
    }
  });
});
