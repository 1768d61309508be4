/**
 * `npm run replay -- --from-server`, the pre-deploy check, with a real promotion waiting for its
 * reviewers: on the dev stack's Temporal (authentication on; the check signs in as a dev user or
 * as the orchestrator service), against the working tree's workflows (passes) and against a
 * changed promotion (fails, naming the waiting promotion). Then a deploy while a promotion waits,
 * on a test server: the guarded change passes the check, the workers are replaced by ones running
 * it, and the waiting promotion is approved and completes on them; and a run pinned to a worker
 * deployment version is left to its version's workers.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, type NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildDeps, createCpuActivities } from '../../activities';
import { loadConfig, PROJECT_ROOT, WORKFLOW_INTERCEPTOR_MODULES } from '../../lib/infra/config';
import { MlflowClient } from '../../lib/registry/mlflow';
import { approveUpdate, promotionStateQuery } from '../../lib/core/definitions';
import { promotionWorkflowId } from '../../lib/core/ids';
import type { promotion, PromotionInput } from '../../workflows/promotion';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { workflowBundle } from '../helpers/workflow-bundle';
import { waitFor } from '../helpers/wait';
import { deployedSpecsDir, deploySpec } from '../helpers/deployed-spec';
import { stackClient, stackWorkerConnection, userToken, userTokens } from '../helpers/identity';
import { runTs } from '../helpers/spawn';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg);
const CHANGED = 'test/fixtures/changed-workflows/index.ts';
const PATCHED = 'test/fixtures/patched-workflows/index.ts';
const REVIEWERS = ['alice@example.com', 'bob@example.com'];

type Report = {
  source: string;
  replayed: number;
  workflowIds: string[];
  failures: { label: string; workflowId: string; error: string }[];
  skipped: { label: string; reason: string }[];
};

/** One promotion's queues, deployed specs and registered model. */
type Setup = { wfQueue: string; cpuQueue: string; specsDir: string; model: string; specHash: string };

async function newSetup(): Promise<Setup> {
  const specsDir = deployedSpecsDir();
  const model = `replay-${randomUUID().slice(0, 8)}`;
  const { specHash } = deploySpec(specsDir, model, { reviewers: REVIEWERS, deadline: '72h' });
  await mlflow.createRegisteredModel(model);
  for (const v of [1, 2])
    await mlflow.createModelVersion({ name: model, source: `s3://${cfg.s3.bucket}/test-models/${model}/v${v}` });
  await mlflow.setAlias(model, 'champion', '1');
  return { wfQueue: uniqueName('replay-wf'), cpuQueue: uniqueName('replay-cpu'), specsDir, model, specHash };
}

function input(s: Setup): PromotionInput {
  return {
    model: s.model,
    specHash: s.specHash,
    candidateVersion: '2',
    requestedBy: 'mlo-orchestrator',
    championAtEvaluation: '1',
    summary: 'replay check',
    evidence: {},
    parentWorkflowId: 'replay-test',
    cpuQueue: s.cpuQueue,
  };
}

/** The promotion's workflow worker (the given bundle) and a CPU worker with the real activities. */
async function workers(connection: NativeConnection, namespace: string, s: Setup, code: string): Promise<Worker[]> {
  return Promise.all([
    Worker.create({
      connection,
      namespace,
      taskQueue: s.wfQueue,
      workflowBundle: { code },
      interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    }),
    Worker.create({
      connection,
      namespace,
      taskQueue: s.cpuQueue,
      activities: createCpuActivities({ ...buildDeps(cfg), modelsDir: s.specsDir }),
    }),
  ]);
}

/** The same workers as versioned ones of `deployment` build `buildId`, pinning the runs they start. */
async function pinnedWorkers(
  connection: NativeConnection,
  namespace: string,
  s: Setup,
  deployment: string,
  code: string,
): Promise<Worker[]> {
  const workerDeploymentOptions = {
    version: { deploymentName: deployment, buildId: 'b1' },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'PINNED',
  } as const;
  return Promise.all([
    Worker.create({
      connection,
      namespace,
      taskQueue: s.wfQueue,
      workflowBundle: { code },
      interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
      workerDeploymentOptions,
    }),
    Worker.create({
      connection,
      namespace,
      taskQueue: s.cpuQueue,
      activities: createCpuActivities({ ...buildDeps(cfg), modelsDir: s.specsDir }),
      workerDeploymentOptions,
    }),
  ]);
}

async function startWaiting(client: Client, s: Setup): Promise<WorkflowHandle<typeof promotion>> {
  const h = await client.workflow.start<typeof promotion>('promotion', {
    taskQueue: s.wfQueue,
    workflowId: promotionWorkflowId(s.model),
    args: [input(s)],
  });
  await waitFor(
    'the promotion to wait for its reviewers',
    async () => ((await h.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined),
    60_000,
  );
  return h;
}

async function check(
  s: Setup,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string; report?: Report }> {
  const r = await runTs('scripts/replay.ts', ['--from-server', '--task-queue', s.wfQueue, ...args], {
    MLO_TOKEN_CACHE: `${PROJECT_ROOT}/no-such-dir/tokens.json`,
    ...env,
  });
  const last = r.output.trim().split('\n').at(-1) ?? '';
  const report = args.includes('--json') && last.startsWith('{') ? (JSON.parse(last) as Report) : undefined;
  return { code: r.code, output: r.output, report };
}

async function bundleOf(workflowsPath: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: `${PROJECT_ROOT}/${workflowsPath}`,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
  return code;
}

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
});

describe('the pre-deploy check on the dev stack, a promotion waiting', () => {
  let s: Setup;
  let connection: NativeConnection;
  let running: Worker[] = [];
  let done: Promise<unknown>;
  let handle: WorkflowHandle<typeof promotion>;

  beforeAll(async () => {
    s = await newSetup();
    connection = await stackWorkerConnection(cfg);
    running = await workers(connection, cfg.temporal.namespace, s, (await workflowBundle()).code);
    done = Promise.all(running.map((w) => w.run()));
    const { client, connection: c } = await stackClient();
    try {
      handle = await startWaiting(client, s);
    } finally {
      await c.close();
    }
  }, 120_000);

  afterAll(async () => {
    // Only an admin may end a promotion on the stack's server.
    const { client, connection: c } = await stackClient(userTokens('olivia@example.com'));
    await client.workflow
      .getHandle(handle?.workflowId ?? '')
      .terminate('replay test done')
      .catch(() => undefined);
    await c.close();
    for (const w of running) w.shutdown();
    await done;
    await connection?.close();
    if (s) fs.rmSync(s.specsDir, { recursive: true, force: true });
  });

  it('a signed-in admin replays the waiting promotion against the working tree: it passes', async () => {
    const r = await check(s, ['--json'], { MLO_TOKEN: await userToken('olivia@example.com') });
    expect(r.report?.failures).toEqual([]);
    expect(r.report?.workflowIds).toEqual([handle.workflowId]);
    expect(r.report?.source).toBe(
      `task queue ${s.wfQueue} on ${cfg.temporal.address}, namespace ${cfg.temporal.namespace}`,
    );
    expect(r.code).toBe(0);
  }, 120_000);

  it('against a promotion that adds a command before its wait, it fails and names the waiting promotion', async () => {
    const r = await check(s, ['--as-service', '--workflows', CHANGED], {});
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      `BREAKS   ${handle.workflowId} (type promotion, run ${handle.firstExecutionRunId}): ` + 'nondeterminism: ',
    );
    expect(r.output).toContain(
      `replay: 1 open workflow would break on this code: ${handle.workflowId}. Do not deploy it. ` +
        "Guard the changed commands with patched('<change id>')",
    );
  }, 120_000);

  it('a caller whose token the server refuses gets the authentication rule, and nothing is replayed', async () => {
    const r = await check(s, [], { MLO_TOKEN: 'not-a-token' });
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/mlo: authentication:/);
    expect(r.output).not.toMatch(/replay: \d+ of/);
  }, 60_000);
});

describe('a deploy while a promotion waits (test server)', () => {
  let env: TestWorkflowEnvironment;
  let s: Setup;

  beforeAll(async () => {
    [env, s] = await Promise.all([createTestEnv(), newSetup()]);
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
    if (s) fs.rmSync(s.specsDir, { recursive: true, force: true });
  });

  it('the guarded change passes the check, and the waiting promotion completes on the new workers', async () => {
    const server = { MLO_TEMPORAL_ADDRESS: env.address, MLO_TEMPORAL_NAMESPACE: env.namespace ?? 'default' };
    const before = await workers(env.nativeConnection, env.namespace ?? 'default', s, (await workflowBundle()).code);
    const beforeRun = Promise.all(before.map((w) => w.run()));
    const h = await startWaiting(env.client, s);
    // The release: the old workers stop, the check runs, the new workers start.
    for (const w of before) w.shutdown();
    await beforeRun;

    const unguarded = await check(s, ['--as-service', '--json', '--workflows', CHANGED], server);
    expect(unguarded.code).toBe(1);
    expect(unguarded.report?.failures.map((f) => f.workflowId)).toEqual([h.workflowId]);
    const guarded = await check(s, ['--as-service', '--json', '--workflows', PATCHED], server);
    expect(guarded.report?.failures).toEqual([]);
    expect(guarded.report?.workflowIds).toEqual([h.workflowId]);
    expect(guarded.code).toBe(0);

    const after = await workers(env.nativeConnection, env.namespace ?? 'default', s, await bundleOf(PATCHED));
    const afterRun = Promise.all(after.map((w) => w.run()));
    try {
      const r = await h.executeUpdate(approveUpdate, { args: [{ reviewer: 'alice@example.com' }] });
      expect(r).toMatchObject({ outcome: 'promoted', decidedBy: 'alice@example.com' });
      expect(await h.result()).toMatchObject({ outcome: 'promoted' });
      expect((await mlflow.getModelVersionByAlias(s.model, 'champion'))?.version).toBe('2');
    } finally {
      for (const w of after) w.shutdown();
      await afterRun;
    }
  }, 240_000);

  it('a run pinned to a worker deployment version is skipped, named with its version', async () => {
    const server = { MLO_TEMPORAL_ADDRESS: env.address, MLO_TEMPORAL_NAMESPACE: env.namespace ?? 'default' };
    const namespace = env.namespace ?? 'default';
    const p = await newSetup();
    const deployment = uniqueName('mlo-orchestrator');
    const pinned = await pinnedWorkers(env.nativeConnection, namespace, p, deployment, (await workflowBundle()).code);
    const run = Promise.all(pinned.map((w) => w.run()));
    try {
      await waitFor('the version to be current', () =>
        env.client.workflowService
          .setWorkerDeploymentCurrentVersion({ namespace, deploymentName: deployment, buildId: 'b1' })
          .then(() => true),
      );
      const h = await startWaiting(env.client, p);
      const r = await check(p, ['--as-service', '--json', '--workflows', CHANGED], server);
      expect(r.report?.replayed).toBe(0);
      expect(r.report?.skipped).toEqual([
        {
          label: `${h.workflowId} (type promotion, run ${h.firstExecutionRunId})`,
          reason: `pinned to ${deployment}.b1`,
        },
      ]);
      expect(r.code).toBe(0);
      await h.terminate('replay test done');
    } finally {
      for (const w of pinned) w.shutdown();
      await run;
      fs.rmSync(p.specsDir, { recursive: true, force: true });
    }
  }, 240_000);
});
