/**
 * The promotion gate and rollback against a real Temporal dev server, the real MLflow
 * registry and the real S3 audit trail: decisions, refusals, deadline expiry, the
 * compare-and-set on `champion`, and rollback with and without a reviewer. Reviewers and
 * deadline come from specs deployed with the test's CPU workers; decisions that carry the
 * server's verified identity (the header a client interceptor adds here, as mlo's server does
 * with authentication) are recorded under it. The deadline runs on Temporal's time-skipping
 * test server instead, so that no test waits for it.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowClientInterceptor,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities } from '../../activities';
import { readAudit } from '../../lib/registry/audit';
import { loadConfig } from '../../lib/infra/config';
import { MlflowClient, tagsOf } from '../../lib/registry/mlflow';
import { createS3Client } from '../../lib/infra/s3';
import { promotion, rollback } from '../../workflows';
import {
  approveSignal,
  approveUpdate,
  promotionStateQuery,
  rejectSignal,
  rejectUpdate,
} from '../../lib/core/definitions';
import type { PromotionInput } from '../../workflows/promotion';
import { recordHistory } from '../helpers/fixtures';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { createTimeSkippingEnv } from '../helpers/time-skipping';
import { workflowBundle } from '../helpers/workflow-bundle';
import { waitFor } from '../helpers/wait';
import { promotionWorkflowId, rollbackWorkflowId } from '../../lib/core/ids';
import { FailureType } from '../../lib/core/failure-types';
import { deployedSpecsDir, deploySpec, type SpecOptions } from '../helpers/deployed-spec';
import { IDENTITY_HEADER } from '../../workflows/identity';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const s3 = createS3Client(cfg.s3);
/** The dev server, for everything but the deadline. */
let env: TestWorkflowEnvironment;
/** The time-skipping test server, for the deadline: it passes at once, without a real wait. */
let skippingEnv: TestWorkflowEnvironment;
let cpuQueue: string;
let wfQueue: string;
let workers: Worker[] = [];
let running: Promise<void>;
/** The specs the test's CPU workers deploy, and the hash of each model's. */
let specsDir: string;
const hashes = new Map<string, string>();

/** A workflow and a CPU worker on the same queue names on each server. */
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
      activities: createCpuActivities({ ...buildDeps(cfg), modelsDir: specsDir }),
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
}, 120_000);

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await Promise.all([env?.teardown(), skippingEnv?.teardown()]);
  s3.destroy();
  if (specsDir) fs.rmSync(specsDir, { recursive: true, force: true });
});

const REVIEWERS = ['alice@example.com', 'bob@example.com', 'carol@example.com'];

/**
 * A registered model with `n` versions (1..n) in the real registry, and its spec deployed with
 * the workers (reviewers alice, bob and carol; deadline 1h, unless `spec` says otherwise).
 */
async function registeredModel(n: number, spec: SpecOptions = {}): Promise<string> {
  const name = `promo-${randomUUID().slice(0, 8)}`;
  hashes.set(name, deploySpec(specsDir, name, { reviewers: REVIEWERS, deadline: '1h', ...spec }).specHash);
  await mlflow.createRegisteredModel(name);
  for (let i = 0; i < n; i++)
    await mlflow.createModelVersion({ name, source: `s3://${cfg.s3.bucket}/test-models/${name}/v${i + 1}` });
  return name;
}

function specHashOf(model: string): string {
  const hash = hashes.get(model);
  if (!hash) throw new Error(`no spec of ${model} is deployed in this test`);
  return hash;
}

function promotionInput(model: string, over: Partial<PromotionInput> = {}): PromotionInput {
  return {
    model,
    specHash: specHashOf(model),
    candidateVersion: '2',
    requestedBy: 'carol@example.com',
    championAtEvaluation: '1',
    summary: '| metric | candidate | champion |\n|---|---|---|\n| auc | 0.93 | 0.91 |',
    evidence: { evaluationReport: 's3://mlo/reports/x.json' },
    parentWorkflowId: 'tap-test',
    cpuQueue,
    ...over,
  };
}

async function startPromotion(
  model: string,
  over: Partial<PromotionInput> = {},
  on: TestWorkflowEnvironment = env,
): Promise<WorkflowHandle<typeof promotion>> {
  const h = await on.client.workflow.start(promotion, {
    taskQueue: wfQueue,
    workflowId: promotionWorkflowId(model),
    args: [promotionInput(model, over)],
  });
  await waitFor('the promotion to wait', async () =>
    (await h.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined,
  );
  return h;
}

async function aliasOf(model: string, alias: string): Promise<string | undefined> {
  return (await mlflow.getModelVersionByAlias(model, alias))?.version;
}

async function refusedUpdate(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return ((err as WorkflowUpdateFailedError).cause as Error).message;
}

/**
 * A client whose updates and signals carry the header `mlo-verified-identity` with `identity`,
 * as mlo's Temporal server stamps it on decisions with authentication (this server has none).
 */
function clientAs(on: TestWorkflowEnvironment, identity: unknown): Client {
  const header = defaultPayloadConverter.toPayload(identity);
  const stamp: WorkflowClientInterceptor = {
    startUpdate: (input, next) => next({ ...input, headers: { ...input.headers, [IDENTITY_HEADER]: header } }),
    signal: (input, next) => next({ ...input, headers: { ...input.headers, [IDENTITY_HEADER]: header } }),
  };
  return new Client({ connection: on.connection, namespace: on.namespace, interceptors: { workflow: [stamp] } });
}

const ALICE = { subject: 'u-alice', email: 'alice@example.com' };
const BOB = { subject: 'u-bob', email: 'bob@example.com' };
const CAROL = { subject: 'u-carol', email: 'carol@example.com' };

describe('promotion: the deployed spec decides', () => {
  it('reviewers and deadline come from the deployed spec; an old-style input naming others changes nothing', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model, { reviewers: ['mallory@example.com'], deadline: '1s' });
    const state = await h.query(promotionStateQuery);
    expect(state.reviewers).toEqual(REVIEWERS);
    const started = (await h.describe()).startTime.getTime();
    expect(Math.abs(Date.parse(state.deadline) - started - 3600_000)).toBeLessThan(5_000);
    expect(
      await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'mallory@example.com' }] })),
    ).toMatch(/^mallory@example.com is not a reviewer of promo-\w+; the model spec's reviewers are alice@/);
    // The input's one-second deadline is long gone; the deployed hour is not.
    await new Promise((r) => setTimeout(r, 1500));
    const r = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] });
    expect(r).toMatchObject({ outcome: 'promoted', decidedBy: 'bob@example.com' });
    expect(await aliasOf(model, 'champion')).toBe('2');
  });

  it("a promotion started with a spec hash the workers don't deploy fails at once, and nothing is set", async () => {
    const model = await registeredModel(2);
    const h = await env.client.workflow.start(promotion, {
      taskQueue: wfQueue,
      workflowId: promotionWorkflowId(model),
      args: [promotionInput(model, { specHash: '0123456789abcdef' })],
    });
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe(FailureType.BadInput);
    expect(cause.message).toMatch(
      new RegExp(
        `^the workers deploy a different ${model}\\.yaml than the run was started with \\(the run's spec hash is ` +
          `0123456789abcdef; .*${model}\\.yaml on the workers hashes to ${specHashOf(model)}\\); ` +
          'redeploy the workers or start the run again$',
      ),
    );
    expect(await aliasOf(model, 'challenger')).toBeUndefined();
    expect(await readAudit(s3, cfg.s3.bucket, model)).toEqual([]);
  });
});

describe('promotion: verified identities', () => {
  it("a decision carrying the server's verified identity is recorded under it, in the state and the audit", async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    const asBob = clientAs(env, BOB).workflow.getHandle<typeof promotion>(h.workflowId);
    const r = await asBob.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com', comment: 'ok' }] });
    expect(r).toMatchObject({ outcome: 'promoted', decidedBy: 'bob@example.com' });
    expect((await h.query(promotionStateQuery)).decision).toMatchObject({
      kind: 'approve',
      reviewer: 'bob@example.com',
      identity: BOB,
    });
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', 'champion-moved']);
    expect(trail[0]?.requester).toEqual({ email: 'carol@example.com' });
    expect(trail[1]).toMatchObject({
      actor: 'bob@example.com',
      decider: BOB,
      requester: { email: 'carol@example.com' },
    });
    // The new path (deployed spec, header read by the interceptor) replays deterministically.
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await h.fetchHistory(), h.workflowId);
  });

  it('a payload naming someone other than the verified caller is refused, as update and as signal; the requester stays refused', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    const asBob = clientAs(env, BOB).workflow.getHandle<typeof promotion>(h.workflowId);
    expect(await refusedUpdate(asBob.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] }))).toBe(
      'the decision names reviewer "alice@example.com" but the caller is bob@example.com (verified by the server); ' +
        'a reviewer decides only as themselves: {"reviewer": "bob@example.com"}',
    );
    // The requester, verified, naming themselves: four eyes.
    const asCarol = clientAs(env, CAROL).workflow.getHandle<typeof promotion>(h.workflowId);
    expect(
      await refusedUpdate(asCarol.executeUpdate(approveUpdate, { args: [{ reviewer: 'carol@example.com' }] })),
    ).toBe('carol@example.com requested this run and may not approve it (four eyes); another reviewer must approve');
    // A header that is not the server's (no subject) is no identity.
    const forged = clientAs(env, { email: 'alice@example.com' }).workflow.getHandle<typeof promotion>(h.workflowId);
    expect(
      await refusedUpdate(forged.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] })),
    ).toBe(
      `the caller's verified identity cannot be read (header ${IDENTITY_HEADER} names no subject); the decision is refused`,
    );
    await asBob.signal(approveSignal, { reviewer: 'alice@example.com' });
    const state = await waitFor('the refused updates and signal to be recorded', async () => {
      const st = await h.query(promotionStateQuery);
      return st.refusals.length === 4 ? st : undefined;
    });
    expect(state.status).toBe('awaiting-approval');
    expect(state.refusals.map((r) => [r.via, r.reviewer])).toEqual([
      ['update', 'bob@example.com'],
      ['update', 'carol@example.com'],
      ['update', 'alice@example.com'],
      ['signal', 'bob@example.com'],
    ]);
    expect(state.refusals[3]).toMatchObject({ kind: 'approve', reviewer: 'bob@example.com', identity: BOB });
    expect(state.refusals[3]?.reason).toMatch(
      /^the decision names reviewer "alice@example.com" but the caller is bob@/,
    );
    expect(await aliasOf(model, 'champion')).toBe('1');
    // Alice, as herself, decides.
    const asAlice = clientAs(env, ALICE).workflow.getHandle<typeof promotion>(h.workflowId);
    await asAlice.signal(rejectSignal, { reviewer: 'alice@example.com', reason: 'recall dropped' });
    expect(await h.result()).toMatchObject({ outcome: 'rejected', decidedBy: 'alice@example.com' });
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => [t.action, t.actor])).toEqual([
      ['challenger-set', 'mlo'],
      ['refused', 'bob@example.com'],
      ['refused', 'carol@example.com'],
      ['refused', 'alice@example.com'],
      ['refused', 'bob@example.com'],
      ['rejected', 'alice@example.com'],
    ]);
    expect(trail[1]).toMatchObject({
      decider: BOB,
      reason: expect.stringMatching(/^approve via update: the decision names/) as unknown,
    });
    expect(trail[2]?.decider).toEqual(CAROL);
    // The forged header named no identity: the refusal names the payload's reviewer, and no decider.
    expect(trail[3]?.decider).toBeUndefined();
    expect(trail[4]?.decider).toEqual(BOB);
    expect(trail[5]).toMatchObject({ decider: ALICE, requester: { email: 'carol@example.com' } });
    expect(await aliasOf(model, 'champion')).toBe('1');
  });
});

describe('promotion: decisions cannot vanish', () => {
  /** Events in the workflow's history once the refusals recorded so far are audited. */
  async function eventsOnceAudited(h: WorkflowHandle, refusals: number): Promise<number> {
    return waitFor('the refusal to be audited', async () => {
      const events = (await h.fetchHistory()).events ?? [];
      const done = events.filter((e) => e.activityTaskCompletedEventAttributes).length;
      // setChallenger, loadDeployedSpec, then one appendAuditRecord per refusal.
      return done === 2 + refusals ? events.length : undefined;
    });
  }

  it('signals under the documented names decide, the former names are heard, and any other name is refused and recorded', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    const before = await eventsOnceAudited(h, 0);
    await h.signal('Approve', { reviewer: 'alice@example.com' });
    const afterSignal = await eventsOnceAudited(h, 1);
    expect(await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'carol@example.com' }] }))).toMatch(
      /four eyes/,
    );
    const afterUpdate = await eventsOnceAudited(h, 2);
    console.log(
      `history events: a refused signal adds ${afterSignal - before}, a refused update ${afterUpdate - afterSignal}`,
    );
    expect(afterUpdate - afterSignal).toBeLessThanOrEqual(12);
    await h.signal('approveSignal', { reviewer: 'carol@example.com' });
    await waitFor('the refusal', async () =>
      (await h.query(promotionStateQuery)).refusals.length === 3 ? 1 : undefined,
    );
    await h.signal('approve', { reviewer: 'alice@example.com', comment: 'by signal' });
    expect(await h.result()).toMatchObject({ outcome: 'promoted', decidedBy: 'alice@example.com' });
    const state = await h.query(promotionStateQuery);
    expect(state.refusals.map((r) => [r.via, r.kind, r.name ?? '', r.reviewer])).toEqual([
      ['signal', 'unknown', 'Approve', 'alice@example.com'],
      ['update', 'approve', '', 'carol@example.com'],
      ['signal', 'approve', '', 'carol@example.com'],
    ]);
    expect(state.refusals[0]?.reason).toMatch(/^"Approve" is not a decision of this workflow/);
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', 'refused', 'refused', 'refused', 'champion-moved']);
    expect(trail[1]?.reason).toMatch(/^unknown via signal "Approve": /);
    expect(await aliasOf(model, 'champion')).toBe('2');
    recordHistory('promotion-decided-by-signal-after-refusals', h, {
      address: env.address,
      namespace: env.namespace ?? 'default',
    });
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await h.fetchHistory(), h.workflowId);
  });

  it('a refusal whose audit record cannot be written never fails the promotion', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const queue = uniqueName('cpu-no-audit');
    const real = createCpuActivities({ ...buildDeps(cfg), modelsDir: specsDir });
    const failing: typeof real = {
      ...real,
      appendAuditRecord: () => Promise.reject(ApplicationFailure.nonRetryable('the audit store is down', 'S3Down')),
    };
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue: queue,
      activities: failing,
    });
    const run = worker.run();
    try {
      const h = await startPromotion(model, { cpuQueue: queue });
      await h.signal(approveSignal, { reviewer: 'carol@example.com' });
      await waitFor('the failed audit', async () =>
        (await h.query(promotionStateQuery)).refusalsNotAudited === 1 ? 1 : undefined,
      );
      const r = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] });
      expect(r).toMatchObject({ outcome: 'promoted', decidedBy: 'bob@example.com' });
      expect(await h.result()).toEqual(r);
      const state = await h.query(promotionStateQuery);
      expect(state.refusals).toHaveLength(1);
      expect(state.refusalsNotAudited).toBe(1);
      expect(await aliasOf(model, 'champion')).toBe('2');
      expect((await readAudit(s3, cfg.s3.bucket, model)).map((t) => t.action)).toEqual([
        'challenger-set',
        'champion-moved',
      ]);
    } finally {
      worker.shutdown();
      await run;
    }
  });
});

describe('promotion', () => {
  it('an allowed reviewer approves: champion moves, challenger goes, both versions are tagged and every step is audited', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    expect(await aliasOf(model, 'challenger')).toBe('2');
    const d = await h.describe();
    expect(d.searchAttributes).toMatchObject({
      MloModel: [model],
      MloStage: ['awaiting-approval'],
      MloCandidateVersion: ['2'],
      MloRequestedBy: ['carol@example.com'],
    });
    const r = await h.executeUpdate(approveUpdate, {
      args: [{ reviewer: 'alice@example.com', candidateVersion: '2', comment: 'AUC up, slices fine' }],
    });
    expect(r).toEqual({
      outcome: 'promoted',
      version: '2',
      decidedBy: 'alice@example.com',
      message: `${model} version 2 is now champion (approved by alice@example.com)`,
    });
    expect(await h.result()).toEqual(r);
    recordHistory('promotion-approved', h, { address: env.address, namespace: env.namespace ?? 'default' });
    expect(await aliasOf(model, 'champion')).toBe('2');
    expect(await aliasOf(model, 'challenger')).toBeUndefined();
    const v2 = tagsOf(await mlflow.getModelVersion(model, '2'));
    expect(v2['mlo.approved_by']).toBe('alice@example.com');
    expect(v2['mlo.previous_champion']).toBe('1');
    expect(v2['mlo.promoted_at']).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(tagsOf(await mlflow.getModelVersion(model, '1'))['mlo.replaced_by']).toMatch(/^2 at /);
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', 'champion-moved']);
    expect(trail[1]).toMatchObject({
      actor: 'alice@example.com',
      version: '2',
      previousChampion: '1',
      newChampion: '2',
      workflowId: promotionWorkflowId(model),
    });
  });

  it('refuses self-approval, strangers, rejections without a reason and other versions, with the reason; refused signals change nothing and are recorded', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    expect(await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'carol@example.com' }] }))).toBe(
      'carol@example.com requested this run and may not approve it (four eyes); another reviewer must approve',
    );
    expect(
      await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'mallory@example.com' }] })),
    ).toMatch(/^mallory@example.com is not a reviewer of promo-/);
    expect(
      await refusedUpdate(h.executeUpdate(rejectUpdate, { args: [{ reviewer: 'bob@example.com', reason: ' ' }] })),
    ).toMatch(/^a rejection needs a reason/);
    expect(
      await refusedUpdate(
        h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com', candidateVersion: '7' }] }),
      ),
    ).toMatch(/not version 7/);
    await h.signal(approveSignal, { reviewer: 'carol@example.com' });
    // A sixth refusal within a minute is beyond the rate limit: counted, not recorded.
    await h.signal(rejectSignal, { reviewer: 'mallory@example.com', reason: 'no' });
    const state = await waitFor('the refusals to be recorded', async () => {
      const s = await h.query(promotionStateQuery);
      return s.refusalsNotRecorded === 1 ? s : undefined;
    });
    expect(state.status).toBe('awaiting-approval');
    expect(state.refusals.map((r) => [r.via, r.kind, r.reviewer])).toEqual([
      ['update', 'approve', 'carol@example.com'],
      ['update', 'approve', 'mallory@example.com'],
      ['update', 'reject', 'bob@example.com'],
      ['update', 'approve', 'bob@example.com'],
      ['signal', 'approve', 'carol@example.com'],
    ]);
    // A seventh, as an update, is refused before it reaches the history.
    expect(await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'carol@example.com' }] }))).toMatch(
      /^too many refused decisions on this workflow: 5 refused decisions in the last 60s \(the rate limit\)/,
    );
    const history = await h.fetchHistory();
    const accepted = history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes) ?? [];
    expect(accepted).toHaveLength(4);
    expect(await aliasOf(model, 'champion')).toBe('1');
    // A valid rejection by signal, then a second decision is refused.
    await h.signal(rejectSignal, { reviewer: 'bob@example.com', reason: 'recall on DE dropped 3 points' });
    const r = await h.result();
    recordHistory('promotion-rejected-after-refusals', h, {
      address: env.address,
      namespace: env.namespace ?? 'default',
    });
    expect(r).toMatchObject({ outcome: 'rejected', decidedBy: 'bob@example.com' });
    expect(await aliasOf(model, 'champion')).toBe('1');
    expect(await aliasOf(model, 'challenger')).toBeUndefined();
    expect(tagsOf(await mlflow.getModelVersion(model, '2'))['mlo.rejected']).toBe(
      'rejected by bob@example.com: recall on DE dropped 3 points',
    );
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((t) => t.action)).toEqual(['challenger-set', ...Array<string>(5).fill('refused'), 'rejected']);
    expect(trail[1]?.reason).toMatch(/^approve via update: .*four eyes/);
    expect(trail[5]?.reason).toMatch(/^approve via signal: .*four eyes/);
  });

  it('a second decision is refused once one is made', async () => {
    const model = await registeredModel(2);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model);
    await h.signal(rejectSignal, { reviewer: 'alice@example.com', reason: 'not now' });
    // The update may race the workflow's completion: refused by the validator, or the workflow is done.
    const err = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(
      String((err as Error).cause instanceof Error ? (err as { cause: Error }).cause.message : (err as Error).message),
    ).toMatch(/already decided \(rejected by alice@example.com\)|workflow execution already completed/i);
    expect((await h.result()).outcome).toBe('rejected');
    expect(await aliasOf(model, 'champion')).toBe('1');
  });

  it('with no decision before the deadline the candidate is rejected as expired, and a late decision is refused', async () => {
    const model = await registeredModel(2, { deadline: '72h' });
    // The test server skips time only while a client waits for a result: the promotion is seen
    // waiting for a decision first, then its 72 hours pass at once.
    const h = await startPromotion(model, { championAtEvaluation: null }, skippingEnv);
    const r = await h.result();
    recordHistory('promotion-expired', h, {
      address: skippingEnv.address,
      namespace: skippingEnv.namespace ?? 'default',
    });
    expect(r).toMatchObject({ outcome: 'expired', decidedBy: 'mlo' });
    expect(await aliasOf(model, 'challenger')).toBeUndefined();
    expect(await aliasOf(model, 'champion')).toBeUndefined();
    expect((await readAudit(s3, cfg.s3.bucket, model)).map((t) => t.action)).toEqual(['challenger-set', 'expired']);
    expect(tagsOf(await mlflow.getModelVersion(model, '2'))['mlo.rejected']).toMatch(
      /^expired by mlo: no decision before the deadline/,
    );
    // A decision after the deadline changes nothing.
    await expect(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] })).rejects.toThrow();
    expect(await aliasOf(model, 'champion')).toBeUndefined();
  });

  it('if champion moved since evaluation, approval fails clearly and overwrites nothing', async () => {
    const model = await registeredModel(3);
    await mlflow.setAlias(model, 'champion', '1');
    const h = await startPromotion(model, { candidateVersion: '2', championAtEvaluation: '1' });
    await mlflow.setAlias(model, 'champion', '3'); // someone else's promotion
    const upd = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(upd).toBeInstanceOf(WorkflowUpdateFailedError);
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const msg = ((err as WorkflowFailedError).cause as Error & { cause?: Error }).cause?.message ?? '';
    expect(msg).toMatch(
      /the champion of promo-\w+ moved since the decision was made \(expected version 1, found version 3\); nothing was changed/,
    );
    expect(await aliasOf(model, 'champion')).toBe('3');
    expect(await aliasOf(model, 'challenger')).toBeUndefined();
  });
});

describe('rollback', () => {
  async function withHistory(): Promise<string> {
    // v1 champion, then v2 promoted through the gate: the audit trail knows both.
    const model = await registeredModel(3);
    const p1 = await startPromotion(model, { candidateVersion: '1', championAtEvaluation: null });
    await p1.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
    await p1.result();
    const p2 = await startPromotion(model, { candidateVersion: '2', championAtEvaluation: '1' });
    await p2.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
    await p2.result();
    expect(await aliasOf(model, 'champion')).toBe('2');
    return model;
  }

  it('rolls back to the previous champion after a reviewer approves, audited', async () => {
    const model = await withHistory();
    const h = await env.client.workflow.start(rollback, {
      taskQueue: wfQueue,
      workflowId: rollbackWorkflowId(model),
      args: [
        {
          model,
          specHash: specHashOf(model),
          requestedBy: 'carol@example.com',
          reason: 'false positives spiked',
          emergency: false,
          cpuQueue,
        },
      ],
    });
    await waitFor('the rollback to wait', async () =>
      (await h.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined,
    );
    expect(await aliasOf(model, 'champion')).toBe('2');
    expect(await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'carol@example.com' }] }))).toMatch(
      /four eyes/,
    );
    const r = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'bob@example.com' }] });
    expect(r.message).toBe(`${model} champion rolled back from version 2 to 1`);
    recordHistory('rollback-approved', h, { address: env.address, namespace: env.namespace ?? 'default' });
    expect(await aliasOf(model, 'champion')).toBe('1');
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    // The refused update is recorded too.
    expect(trail.slice(-3).map((t) => t.action)).toEqual(['rollback-requested', 'refused', 'rollback']);
    expect(trail.at(-2)?.reason).toMatch(/^approve via update: .*four eyes/);
    expect(trail.at(-1)).toMatchObject({
      actor: 'bob@example.com',
      previousChampion: '2',
      newChampion: '1',
      emergency: false,
    });
  });

  it("a rollback's reviewers come from the deployed spec, and its audit names the verified requester and decider", async () => {
    const model = await withHistory();
    const h = await env.client.workflow.start(rollback, {
      taskQueue: wfQueue,
      workflowId: rollbackWorkflowId(model),
      // An old-style input naming its own reviewers and deadline: ignored.
      args: [
        {
          model,
          specHash: specHashOf(model),
          requestedBy: 'carol@example.com',
          reason: 'false positives spiked',
          emergency: false,
          cpuQueue,
          reviewers: ['mallory@example.com'],
          deadline: '1s',
        },
      ],
    });
    const state = await waitFor('the rollback to wait', async () => {
      const st = await h.query(promotionStateQuery);
      return st.status === 'awaiting-approval' ? st : undefined;
    });
    expect(state.reviewers).toEqual(REVIEWERS);
    expect(
      await refusedUpdate(h.executeUpdate(approveUpdate, { args: [{ reviewer: 'mallory@example.com' }] })),
    ).toMatch(/^mallory@example.com is not a reviewer of promo-/);
    const asAlice = clientAs(env, ALICE).workflow.getHandle<typeof rollback>(h.workflowId);
    const r = await asAlice.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
    expect(r).toMatchObject({ outcome: 'promoted', version: '1', decidedBy: 'alice@example.com' });
    expect(await aliasOf(model, 'champion')).toBe('1');
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.at(-3)).toMatchObject({ action: 'rollback-requested', requester: { email: 'carol@example.com' } });
    expect(trail.at(-2)).toMatchObject({ action: 'refused', actor: 'mallory@example.com' });
    expect(trail.at(-1)).toMatchObject({
      action: 'rollback',
      actor: 'alice@example.com',
      decider: ALICE,
      requester: { email: 'carol@example.com' },
    });
  });

  it('the emergency path moves at once and is audited as an emergency; a version that never was champion is refused', async () => {
    const model = await withHistory();
    const never = await env.client.workflow
      .execute(rollback, {
        taskQueue: wfQueue,
        workflowId: uniqueName('rb'),
        args: [
          {
            model,
            specHash: specHashOf(model),
            toVersion: '3',
            requestedBy: 'carol@example.com',
            reason: 'x',
            emergency: true,
            cpuQueue,
          },
        ],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(((never as WorkflowFailedError).cause as Error).message).toBe(
      `version 3 never was champion of ${model}; former champions: 1, 2`,
    );
    const r = await env.client.workflow.execute(rollback, {
      taskQueue: wfQueue,
      workflowId: rollbackWorkflowId(model),
      args: [
        {
          model,
          specHash: specHashOf(model),
          toVersion: '1',
          requestedBy: 'carol@example.com',
          reason: 'fraud losses spiking',
          emergency: true,
          cpuQueue,
        },
      ],
    });
    expect(r.message).toBe(`${model} champion rolled back from version 2 to 1 (emergency)`);
    expect(await aliasOf(model, 'champion')).toBe('1');
    expect(tagsOf(await mlflow.getModelVersion(model, '1'))['mlo.emergency']).toBe('true');
    expect((await readAudit(s3, cfg.s3.bucket, model)).at(-1)).toMatchObject({
      action: 'rollback',
      emergency: true,
      actor: 'carol@example.com',
      reason: 'fraud losses spiking',
    });
  });
});
