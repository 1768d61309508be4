/**
 * mlo's authorization rules, at the API, against the dev stack's own Temporal server (`--auth`)
 * and MLflow (basic auth), with real tokens from the stack's dev OIDC provider: people signed in
 * with the authorization-code flow, services with client credentials. One test per rule of the
 * server (server/README.md): a valid token of the wrong identity is refused with PERMISSION_DENIED
 * and a message naming the rule, and nothing changes (no workflow, schedule or batch job
 * appears, no decision reaches the promotion, champion stays); the right identity is allowed.
 *
 * The orchestrator runs in-process (test/helpers/orchestrator.ts) with the `mlo-orchestrator`
 * token; the test model's spec is deployed to the stack's model directory, from which the server
 * reads its reviewers. Fails, never skips, without the stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ScheduleNotFoundError,
  WorkflowNotFoundError,
  defaultPayloadConverter,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, type JWK } from 'jose';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { runInput } from '../../lib/client/runs';
import { readAudit } from '../../lib/registry/audit';
import { basicAuthorization } from '../../lib/registry/mlflow/credentials';
import { SIGNING_KEY_FILE } from '../../lib/identity/keys';
import { devPassword } from '../../lib/identity/dev-users';
import { CLIENT_IDS } from '../../lib/identity/shared';
import { stackPaths } from '../../lib/stack/stack';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type TrainAndPromoteInput,
} from '../../lib/core/definitions';
import { promotionWorkflowId, rollbackWorkflowId } from '../../lib/core/ids';
import type { PromotionInput } from '../../workflows/promotion';
import type { RollbackInput } from '../../workflows/rollback';
import {
  Identities,
  PEOPLE,
  connectAs,
  deployModelSpec,
  nativeConnectAs,
  oidcIssuer,
  personToken,
  refusedBy,
  registryCredentials,
  waitForSpecKnown,
  type DeployedSpec,
} from '../helpers/identities';
import { Orchestrator, UNDECIDED, decisionEvents, verifiedIdentityOf } from '../helpers/orchestrator';
import { uniqueName } from '../helpers/temporal';
import { workflowBundle } from '../helpers/workflow-bundle';

const { alice, bob, carol, erin, frank, mallory, olivia } = PEOPLE;
const REVIEWERS = [alice, bob, carol];

const cfg = loadConfig();
const s3 = createS3Client(cfg.s3);
const ids = new Identities(cfg);
let orch: Orchestrator;
let spec: DeployedSpec;
/** Workflows a test started (allowed calls), terminated by the admin at the end. */
const started: string[] = [];

/** Why setting up failed; each test then fails with it (vitest would only mark them skipped). */
let setupFailure: Error | undefined;
function requireSetup(): void {
  if (setupFailure) throw setupFailure;
}

beforeAll(async () => {
  try {
    // The test model, with reviewers alice, bob and carol, deployed where the server and the
    // orchestrator's workers read specs.
    orch = await Orchestrator.start(cfg);
    spec = deployModelSpec(cfg, 'authz', REVIEWERS, orch.modelsDir);
    await waitForSpecKnown(await ids.client(alice), spec.name, alice);
  } catch (err) {
    setupFailure = err instanceof Error ? err : new Error(String(err));
  }
}, 120_000);

afterAll(async () => {
  const admin = await ids.client(olivia).catch(() => undefined);
  if (admin) for (const id of started) await Orchestrator.terminateIfRunning(admin, id);
  await orch?.shutdown();
  spec?.remove();
  await ids.close();
  s3.destroy();
});

/** A trainAndPromote input for the test model (its deployed spec), requested by `requestedBy`. */
function runOf(requestedBy: string, over: Partial<TrainAndPromoteInput> = {}): TrainAndPromoteInput {
  return { ...runInput(cfg, spec.spec, { asOf: '2026-01-01', requestedBy }), ...over };
}

/** Starts trainAndPromote on a task queue no worker polls (nothing runs), under a unique id. */
function startRun(client: Client, input: TrainAndPromoteInput, workflowId = uniqueName(`authz-run-${spec.name}`)) {
  return client.workflow.start('trainAndPromote', {
    taskQueue: uniqueName('authz-nobody'),
    workflowId,
    args: [input],
  });
}

/** The workflow was never started: the admin (who may read everything) finds no execution. */
async function expectNotStarted(workflowId: string): Promise<void> {
  const admin = await ids.client(olivia);
  await expect(admin.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** olivia's (an admin's) real access token, its claims and header. */
async function adminToken(): Promise<{ token: string; claims: Record<string, unknown>; kid: string }> {
  const token = await personToken(olivia);
  const header = decodeProtectedHeader(token);
  if (!header.kid) throw new Error('the dev provider issued an access token without a kid');
  return { token, claims: decodeJwt(token), kid: header.kid };
}

/** The same claims, re-signed with `key` (under the provider's kid), with `iat`/`exp` as given. */
async function resign(
  claims: Record<string, unknown>,
  kid: string,
  key: Parameters<SignJWT['sign']>[0],
  times: { iat: number; exp: number },
): Promise<string> {
  return new SignJWT({ ...claims, iat: times.iat, exp: times.exp, jti: randomUUID() })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
    .sign(key);
}

/** The stack's dev provider signing key (its state directory is the stack's). */
async function providerKey(kid: string): Promise<Parameters<SignJWT['sign']>[0]> {
  const file = path.join(stackPaths(cfg.stack).oidcState, SIGNING_KEY_FILE);
  const jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as JWK & { kid: string };
  if (jwk.kid !== kid)
    throw new Error(
      `${file} holds key ${jwk.kid}, but the provider signs with ${kid}: is MLO_OIDC_ISSUER another provider?`,
    );
  return importJWK(jwk, 'RS256');
}

describe('authentication: every call needs a valid token of the provider', () => {
  it('no token: a start and a read are refused, and nothing starts', async () => {
    requireSetup();
    const { client, connection } = await connectAs(cfg, undefined);
    try {
      const id = uniqueName(`authz-run-${spec.name}`);
      const msg = await refusedBy('authentication', startRun(client, runOf(olivia), id));
      expect(msg).toBe(
        `mlo: authentication: no bearer token; call with the header "authorization: Bearer <access token>" from ${oidcIssuer()}`,
      );
      await refusedBy('authentication', client.workflow.count(`WorkflowId="${id}"`));
      await expectNotStarted(id);
    } finally {
      await connection.close();
    }
  });

  it("a forged token (an admin's claims, signed with another key) is refused, and nothing starts", async () => {
    requireSetup();
    const { claims, kid } = await adminToken();
    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await resign(claims, kid, privateKey, { iat: now, exp: now + 600 });
    const { client, connection } = await connectAs(cfg, forged);
    try {
      const id = uniqueName(`authz-run-${spec.name}`);
      expect(await refusedBy('authentication', startRun(client, runOf(olivia), id))).toBe(
        'mlo: authentication: token signature does not verify',
      );
      await expectNotStarted(id);
    } finally {
      await connection.close();
    }
  });

  it('an expired token is refused and nothing starts; the same claims, unexpired, are allowed', async () => {
    requireSetup();
    const { claims, kid } = await adminToken();
    const key = await providerKey(kid);
    const now = Math.floor(Date.now() / 1000);
    const expiredAt = now - 3600;
    const expired = await resign(claims, kid, key, { iat: now - 7200, exp: expiredAt });
    const refused = await connectAs(cfg, expired);
    try {
      const id = uniqueName(`authz-run-${spec.name}`);
      expect(await refusedBy('authentication', startRun(refused.client, runOf(olivia), id))).toBe(
        `mlo: authentication: token expired at ${new Date(expiredAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
      );
      await expectNotStarted(id);
    } finally {
      await refused.connection.close();
    }
    // The control: only `exp` differed, and with a valid one the same call goes through.
    const valid = await connectAs(cfg, await resign(claims, kid, key, { iat: now, exp: now + 600 }));
    try {
      const id = uniqueName(`authz-run-${spec.name}`);
      started.push(id);
      await startRun(valid.client, runOf(olivia), id);
      expect((await (await ids.client(olivia)).workflow.getHandle(id).describe()).status.name).toBe('RUNNING');
    } finally {
      await valid.connection.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Starts

function promotionInput(requestedBy: string): PromotionInput {
  return {
    model: spec.name,
    specHash: spec.specHash,
    candidateVersion: '2',
    requestedBy,
    championAtEvaluation: '1',
    summary: 'typed by hand',
    evidence: {},
    parentWorkflowId: 'none',
    cpuQueue: 'authz-nobody',
  };
}

function rollbackInput(requestedBy: string, over: Partial<RollbackInput> = {}): RollbackInput {
  return {
    model: spec.name,
    specHash: spec.specHash,
    requestedBy,
    reason: 'authz test',
    emergency: false,
    cpuQueue: 'authz-nobody',
    ...over,
  };
}

describe('who starts what: only the orchestrator starts promotions', () => {
  it('an engineer, a reviewer and another service starting promotion/<model> directly are refused; nothing starts', async () => {
    requireSetup();
    const wid = promotionWorkflowId(spec.name);
    for (const who of [erin, alice, CLIENT_IDS.scheduler]) {
      const client = await ids.client(who);
      const msg = await refusedBy(
        'who starts what',
        client.workflow.start('promotion', {
          taskQueue: 'authz-nobody',
          workflowId: wid,
          args: [promotionInput(who)],
        }),
      );
      expect(msg).toBe(
        `mlo: who starts what: only mlo-orchestrator starts promotion workflows (type "promotion", id "${wid}"); ${who} may not`,
      );
    }
    // Nor under another id: the workflow type is enough.
    const other = uniqueName('authz-disguised');
    await refusedBy(
      'who starts what',
      (await ids.client(erin)).workflow.start('promotion', {
        taskQueue: 'authz-nobody',
        workflowId: other,
        args: [promotionInput(erin)],
      }),
    );
    await expectNotStarted(wid);
    await expectNotStarted(other);
  });

  it("rollback: an engineer may not request a model's rollback, a reviewer no emergency one; nothing starts", async () => {
    requireSetup();
    const wid = rollbackWorkflowId(spec.name);
    const start = async (who: string, input: RollbackInput) =>
      (await ids.client(who)).workflow.start('rollback', { taskQueue: 'authz-nobody', workflowId: wid, args: [input] });
    expect(await refusedBy('rollback', start(erin, rollbackInput(erin)))).toBe(
      `mlo: rollback: ${erin} is neither a reviewer of ${spec.name} nor an admin (group mlo-admins), so may not request its rollback`,
    );
    expect(await refusedBy('rollback', start(alice, rollbackInput(alice, { emergency: true })))).toBe(
      `mlo: rollback: an emergency rollback (no approval) needs group mlo-admins; ${alice} is not in it`,
    );
    expect(await refusedBy('requested by caller', start(alice, rollbackInput(bob)))).toBe(
      `mlo: requested by caller: the input's requestedBy is "${bob}" but the caller is ${alice}; a run is requested by whoever starts it`,
    );
    await expectNotStarted(wid);
  });
});

describe('requested by caller: a run is requested by whoever starts it', () => {
  it("an engineer starting trainAndPromote in a reviewer's name is refused; in her own name it starts", async () => {
    requireSetup();
    const client = await ids.client(erin);
    const refusedId = uniqueName(`authz-run-${spec.name}`);
    expect(await refusedBy('requested by caller', startRun(client, runOf(alice), refusedId))).toBe(
      `mlo: requested by caller: the input's requestedBy is "${alice}" but the caller is ${erin}; a run is requested by whoever starts it`,
    );
    await expectNotStarted(refusedId);

    const ownId = uniqueName(`authz-run-${spec.name}`);
    started.push(ownId);
    await startRun(client, runOf(erin), ownId);
    const admin = await ids.client(olivia);
    const d = await admin.workflow.getHandle(ownId).describe();
    expect([d.status.name, d.type]).toEqual(['RUNNING', 'trainAndPromote']);
    await admin.workflow.getHandle(ownId).terminate('authz test: allowed start, cleaned up');
    expect((await admin.workflow.getHandle(ownId).describe()).status.name).toBe('TERMINATED');
    // Who started and who terminated, as the server verified them, in the history.
    const events = (await admin.workflow.getHandle(ownId).fetchHistory()).events ?? [];
    expect(events[0]?.workflowExecutionStartedEventAttributes?.identity).toMatch(
      /^mlo-verified:erin@example\.com \(sub dev-erin\) client:/,
    );
    const terminated = events.find(
      (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    );
    expect(terminated?.workflowExecutionTerminatedEventAttributes?.identity).toMatch(
      /^mlo-verified:olivia@example\.com \(sub dev-olivia\) client:/,
    );
  });

  it('reviewers (inputs): a run naming a reviewer the deployed spec does not have is refused; nothing starts', async () => {
    requireSetup();
    const id = uniqueName(`authz-run-${spec.name}`);
    const input = runOf(erin);
    // Runs load their reviewers from the deployed spec and ignore an input's spec; the server refuses
    // one that disagrees with the deployment all the same, so no history claims other reviewers.
    input.spec = { ...spec.spec, promotion: { ...spec.spec.promotion, reviewers: [alice, frank] } };
    expect(await refusedBy('reviewers', startRun(await ids.client(erin), input, id))).toBe(
      `mlo: reviewers: the input names ${frank} as a reviewer of ${spec.name}, but the deployed spec's reviewers are ${REVIEWERS.join(', ')}`,
    );
    await expectNotStarted(id);
  });

  it('membership: an outsider may read but not start a run, even in her own name; nothing starts', async () => {
    requireSetup();
    const client = await ids.client(mallory);
    const id = uniqueName(`authz-run-${spec.name}`);
    expect(await refusedBy('membership', startRun(client, runOf(mallory), id))).toBe(
      `mlo: membership: ${mallory} is in none of the groups mlo-engineers, mlo-reviewers, mlo-admins, mlo-services, so may only read`,
    );
    await expectNotStarted(id);
    // Reads are open to any valid token.
    await expect(client.workflow.count(`WorkflowId="${id}"`)).resolves.toMatchObject({ count: 0 });
  });

  it('schedules: a schedule that would start promotion/<model> is refused, even to an admin; none is created', async () => {
    requireSetup();
    const scheduleId = uniqueName('authz-schedule');
    const wid = promotionWorkflowId(spec.name);
    for (const who of [erin, olivia]) {
      const msg = await refusedBy(
        'schedules',
        (await ids.client(who)).schedule.create({
          scheduleId,
          spec: { intervals: [{ every: '1h' }] },
          action: {
            type: 'startWorkflow',
            workflowType: 'promotion',
            workflowId: wid,
            taskQueue: 'authz-nobody',
            args: [promotionInput(who)],
          },
        }),
      );
      expect(msg).toBe(`mlo: schedules: a schedule may not start promotion workflows (type "promotion", id "${wid}")`);
    }
    await expect((await ids.client(olivia)).schedule.getHandle(scheduleId).describe()).rejects.toBeInstanceOf(
      ScheduleNotFoundError,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Decisions on a waiting promotion

describe("decisions: only the model's reviewers decide, as themselves, never on their own run", () => {
  let handle: WorkflowHandle;
  /** The promotion as a reviewer sees it (any identity may read). */
  let view: WorkflowHandle;

  beforeAll(async () => {
    if (setupFailure) return;
    try {
      await orch.registeredModel(spec.name);
      handle = await orch.startPromotion(spec, { requestedBy: carol });
      started.push(handle.workflowId);
      view = (await ids.client(bob)).workflow.getHandle(handle.workflowId);
    } catch (err) {
      setupFailure = err instanceof Error ? err : new Error(String(err));
    }
  }, 120_000);

  /** Nothing moved: still waiting, undecided, no refusal recorded, no decision in history, aliases and audit as set. */
  async function expectNothingChanged(): Promise<void> {
    expect(await orch.gateSnapshot(view, spec.name)).toEqual(UNDECIDED);
  }

  const decide = async (who: string) => (await ids.client(who)).workflow.getHandle(handle.workflowId);

  it("reviewers: an engineer's and an outsider's decisions are refused, by update and by signal; nothing changes", async () => {
    requireSetup();
    const notReviewer = (who: string) =>
      `mlo: reviewers: ${who} is not a reviewer of ${spec.name} (reviewers: ${REVIEWERS.join(', ')})`;
    for (const who of [erin, mallory]) {
      const h = await decide(who);
      expect(await refusedBy('reviewers', h.executeUpdate(approveUpdate, { args: [{ reviewer: who }] }))).toBe(
        notReviewer(who),
      );
      expect(await refusedBy('reviewers', h.signal(approveSignal, { reviewer: who }))).toBe(notReviewer(who));
      expect(await refusedBy('reviewers', h.signal(rejectSignal, { reviewer: who, reason: 'no' }))).toBe(
        notReviewer(who),
      );
    }
    await expectNothingChanged();
  });

  it("reviewer is caller: a reviewer typing another reviewer's e-mail is refused, by update and by signal; nothing changes", async () => {
    requireSetup();
    const h = await decide(bob);
    const expected = `mlo: reviewer is caller: the decision names reviewer "${alice}" but the caller is ${bob}`;
    expect(await refusedBy('reviewer is caller', h.executeUpdate(approveUpdate, { args: [{ reviewer: alice }] }))).toBe(
      expected,
    );
    expect(await refusedBy('reviewer is caller', h.signal(approveSignal, { reviewer: alice }))).toBe(expected);
    expect(
      await refusedBy(
        'reviewer is caller',
        h.executeUpdate(rejectUpdate, { args: [{ reviewer: alice, reason: 'in her name' }] }),
      ),
    ).toBe(expected);
    // The requester, a reviewer too, cannot get her run approved under another reviewer's name either.
    expect(
      await refusedBy(
        'reviewer is caller',
        (await decide(carol)).executeUpdate(approveUpdate, { args: [{ reviewer: alice }] }),
      ),
    ).toBe(`mlo: reviewer is caller: the decision names reviewer "${alice}" but the caller is ${carol}`);
    await expectNothingChanged();
  });

  it('four eyes: the requester, though a reviewer, cannot approve her own run, by update or by signal; nothing changes', async () => {
    requireSetup();
    const h = await decide(carol);
    const expected = `mlo: four eyes: ${carol} requested this run and cannot approve it`;
    expect(await refusedBy('four eyes', h.executeUpdate(approveUpdate, { args: [{ reviewer: carol }] }))).toBe(
      expected,
    );
    expect(await refusedBy('four eyes', h.signal(approveSignal, { reviewer: carol }))).toBe(expected);
    await expectNothingChanged();
  });

  it('decisions: any other update or signal from a person is refused, even from a reviewer; nothing changes', async () => {
    requireSetup();
    const h = await decide(alice);
    expect(await refusedBy('decisions', h.executeUpdate('setDeadline', { args: [{ deadline: '1m' }] }))).toBe(
      `mlo: decisions: ${handle.workflowId} accepts only the approve/reject updates and signals (or the signals approveSignal/rejectSignal) of reviewers; update "setDeadline" from ${alice} is refused`,
    );
    expect(await refusedBy('decisions', h.signal('cancel'))).toBe(
      `mlo: decisions: ${handle.workflowId} accepts only the approve/reject updates and signals (or the signals approveSignal/rejectSignal) of reviewers; signal "cancel" from ${alice} is refused`,
    );
    await expectNothingChanged();
  });

  it('batch: a batch signal is refused, even to an admin; no job is created and nothing changes', async () => {
    requireSetup();
    const admin = await ids.client(olivia);
    const jobId = uniqueName('authz-batch');
    const msg = await refusedBy(
      'batch',
      admin.connection.workflowService.startBatchOperation({
        namespace: cfg.temporal.namespace,
        jobId,
        reason: 'approve in bulk',
        visibilityQuery: `WorkflowId="${handle.workflowId}"`,
        signalOperation: {
          signal: approveSignal.name,
          input: { payloads: [defaultPayloadConverter.toPayload({ reviewer: alice })] },
        },
      }),
    );
    expect(msg).toBe(
      `mlo: batch: a batch operation may not send signals (it would bypass the reviewers' checks); ${olivia} must signal workflows one by one`,
    );
    await expect(
      admin.connection.workflowService.describeBatchOperation({ namespace: cfg.temporal.namespace, jobId }),
    ).rejects.toMatchObject({ code: 5 });
    await expectNothingChanged();
  });

  it("a reviewer's own approval is accepted: the server stamps her verified identity, champion moves, the audit names her", async () => {
    requireSetup();
    const h = await decide(alice);
    const result = await h.executeUpdate(approveUpdate, {
      args: [{ reviewer: alice, candidateVersion: '2', comment: 'AUC up, slices fine' }],
    });
    expect(result).toEqual({
      outcome: 'promoted',
      version: '2',
      decidedBy: alice,
      message: `${spec.name} version 2 is now champion (approved by ${alice})`,
    });
    expect(await view.result()).toEqual(result);
    expect(await orch.aliasOf(spec.name, 'champion')).toBe('2');
    expect(await orch.aliasOf(spec.name, 'challenger')).toBeUndefined();

    // The one decision in history carries the identity the server verified, not one a client typed.
    const decisions = await decisionEvents(view);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name).toBe('approve');
    expect(verifiedIdentityOf(decisions[0]!)).toEqual({ subject: 'dev-alice', email: alice });

    const trail = await readAudit(s3, cfg.s3.bucket, spec.name);
    expect(trail.map((r) => r.action)).toEqual(['challenger-set', 'champion-moved']);
    expect(trail[1]).toMatchObject({
      actor: alice,
      version: '2',
      previousChampion: '1',
      newChampion: '2',
      workflowId: handle.workflowId,
      // Verified identities: the decider as the server stamped her, the requester as the server checked at start.
      decider: { subject: 'dev-alice', email: alice },
      requester: { email: carol },
    });
  });
});

describe('admins only: terminate and cancel of promotion/*', () => {
  let adminSpec: DeployedSpec | undefined;
  afterAll(() => adminSpec?.remove());
  let model: string;
  let wid: string;

  beforeAll(async () => {
    if (setupFailure) return;
    try {
      // Any promotion of a deployed model.
      adminSpec = deployModelSpec(cfg, 'authz-admin', REVIEWERS, orch.modelsDir);
      model = adminSpec.name;
      await orch.registeredModel(model);
      const h = await orch.startPromotion(adminSpec, { requestedBy: carol });
      wid = h.workflowId;
      started.push(wid);
    } catch (err) {
      setupFailure = err instanceof Error ? err : new Error(String(err));
    }
  }, 120_000);

  it('an engineer, a reviewer and the orchestrator may not terminate or cancel it; the admin may', async () => {
    requireSetup();
    const refusals: string[] = [];
    for (const who of [erin, alice, CLIENT_IDS.orchestrator]) {
      const h = (await ids.client(who)).workflow.getHandle(wid);
      refusals.push(await refusedBy('admins only', h.terminate('not mine to stop')));
      refusals.push(await refusedBy('admins only', h.cancel()));
    }
    expect(refusals).toEqual(
      [erin, alice, CLIENT_IDS.orchestrator].flatMap((who) => [
        `mlo: admins only: TerminateWorkflowExecution on ${wid} needs group mlo-admins; ${who} is not in it`,
        `mlo: admins only: RequestCancelWorkflowExecution on ${wid} needs group mlo-admins; ${who} is not in it`,
      ]),
    );
    const admin = (await ids.client(olivia)).workflow.getHandle(wid);
    const before = await admin.describe();
    expect(before.status.name).toBe('RUNNING');
    const { events } = await admin.fetchHistory();
    expect(
      (events ?? []).some(
        (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
      ),
    ).toBe(false);

    // The admin's cancellation: the promotion records it (audit, challenger removed) and ends cancelled;
    // the history names the admin as the server verified her, whatever identity her client sent.
    await admin.cancel();
    await expect(admin.result()).rejects.toThrow();
    expect((await admin.describe()).status.name).toBe('CANCELLED');
    const cancelRequested = (await admin.fetchHistory()).events?.find(
      (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    );
    expect(cancelRequested?.workflowExecutionCancelRequestedEventAttributes?.identity).toMatch(
      /^mlo-verified:olivia@example\.com \(sub dev-olivia\) client:/,
    );
    const trail = await readAudit(s3, cfg.s3.bucket, model);
    expect(trail.map((r) => r.action)).toEqual(['challenger-set', 'cancelled']);
    expect(trail[1]).toMatchObject({ actor: 'mlo', version: '2', workflowId: wid, requester: { email: carol } });
    expect(await orch.aliasOf(model, 'challenger')).toBeUndefined();
    expect(await orch.aliasOf(model, 'champion')).toBe('1');
  });
});

describe('workers: only service identities poll and complete tasks', () => {
  it("a person's polls are refused: the raw calls, and an SDK worker with her token never gets the task", async () => {
    requireSetup();
    const erinClient = await ids.client(erin);
    const queue = uniqueName('authz-erin-queue');
    const service = erinClient.connection.workflowService;
    expect(
      await refusedBy(
        'workers',
        service.pollWorkflowTaskQueue({
          namespace: cfg.temporal.namespace,
          taskQueue: { name: queue },
          identity: erin,
        }),
      ),
    ).toBe(
      `mlo: workers: only service identities (group mlo-services) may poll and complete tasks (PollWorkflowTaskQueue); ${erin} is not one`,
    );
    expect(
      await refusedBy(
        'workers',
        service.pollActivityTaskQueue({
          namespace: cfg.temporal.namespace,
          taskQueue: { name: queue },
          identity: erin,
        }),
      ),
    ).toBe(
      `mlo: workers: only service identities (group mlo-services) may poll and complete tasks (PollActivityTaskQueue); ${erin} is not one`,
    );

    // A worker with her token polls the queue of her own (allowed) run; the task is never handed out.
    const wid = uniqueName(`authz-run-${spec.name}`);
    started.push(wid);
    await erinClient.workflow.start('trainAndPromote', { taskQueue: queue, workflowId: wid, args: [runOf(erin)] });
    const native = await nativeConnectAs(cfg, await personToken(erin));
    const worker = await Worker.create({
      connection: native,
      namespace: cfg.temporal.namespace,
      taskQueue: queue,
      workflowBundle: await workflowBundle(),
    });
    const running = worker.run();
    try {
      await new Promise((r) => setTimeout(r, 5000));
      const { events } = await erinClient.workflow.getHandle(wid).fetchHistory();
      expect((events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType!])).toEqual([
        'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
        'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      ]);
    } finally {
      worker.shutdown();
      await running.catch(() => undefined);
      await native.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// MLflow

describe('MLflow: only the registry account moves aliases', () => {
  const people = [alice, olivia];
  let model: string;

  beforeAll(async () => {
    if (setupFailure) return;
    try {
      model = `authz-mlflow-${randomUUID().slice(0, 8)}`;
      await orch.registeredModel(model); // champion → 1, as the registry
    } catch (err) {
      setupFailure = err instanceof Error ? err : new Error(String(err));
    }
  }, 60_000);

  /** MLflow's REST call that moves (POST) or removes (DELETE, JSON body as MLflow's clients send it) `champion`. */
  const aliasCall = (method: 'POST' | 'DELETE', authorization: string | undefined, version = '2') => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization) headers.authorization = authorization;
    const body = method === 'POST' ? { name: model, alias: 'champion', version } : { name: model, alias: 'champion' };
    return fetch(`${cfg.mlflow.trackingUri}/api/2.0/mlflow/registered-models/alias`, {
      method,
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  };
  const person = (email: string) => basicAuthorization({ username: email, password: devPassword(email) });

  it('without credentials 401; a person (reviewer, admin) 403 to set or delete champion; champion stays', async () => {
    requireSetup();
    for (const method of ['POST', 'DELETE'] as const) {
      const anonymous = await aliasCall(method, undefined);
      expect({ method, status: anonymous.status }).toEqual({ method, status: 401 });
      expect(await anonymous.text()).toMatch(/^You are not authenticated/);
    }
    for (const email of people) {
      for (const method of ['POST', 'DELETE'] as const) {
        const res = await aliasCall(method, person(email));
        expect({ email, method, status: res.status }).toEqual({ email, method, status: 403 });
        expect(await res.text()).toBe('Permission denied');
      }
    }
    // The people can read it: their accounts work, only the write is refused.
    const read = await fetch(
      `${cfg.mlflow.trackingUri}/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(model)}&alias=champion`,
      { headers: { authorization: person(alice) }, signal: AbortSignal.timeout(15_000) },
    );
    expect(read.status).toBe(200);
    expect(((await read.json()) as { model_version: { version: string } }).model_version.version).toBe('1');
    expect(await orch.aliasOf(model, 'champion')).toBe('1');
  });

  it('the registry account sets champion', async () => {
    requireSetup();
    const res = await aliasCall('POST', basicAuthorization(registryCredentials(cfg)));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await orch.aliasOf(model, 'champion')).toBe('2');
  });
});
