/**
 * The orchestrator, in-process, against the dev stack's authenticated Temporal server: a
 * workflow worker (the project's workflow bundle) and a CPU worker (the real activities, which
 * move aliases in the real MLflow as the registry's account and write the real S3 audit trail),
 * both on unique task queues over a worker connection that carries the `mlo-orchestrator`
 * service token, renewed like the production worker's. Promotions are started as the
 * orchestrator too: it is the only identity the server lets start `promotion/<model>`.
 */
import fs from 'node:fs';
import { defaultPayloadConverter, type Client, type WorkflowHandle } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type NativeConnection } from '@temporalio/worker';
import { buildDeps, createCpuActivities } from '../../activities';
import type { Config } from '../../lib/infra/config';
import { connectClient, connectWorker } from '../../lib/infra/temporal';
import { clientCredentialsToken, serviceCredentials } from '../../lib/identity/oidc-client';
import { CLIENT_IDS } from '../../lib/identity/shared';
import type { MlflowClient } from '../../lib/registry/mlflow';
import { readAudit } from '../../lib/registry/audit';
import { promotionStateQuery } from '../../lib/core/definitions';
import { promotionWorkflowId } from '../../lib/core/ids';
import { promotion } from '../../workflows';
import type { PromotionInput } from '../../workflows/promotion';
import { deployedSpecsDir } from './deployed-spec';
import { oidcIssuer, registryCredentials, type DeployedSpec } from './identities';
import { uniqueName } from './temporal';
import { waitFor } from './wait';
import { workflowBundle } from './workflow-bundle';

let runtimeInstalled = false;

/** See Orchestrator.gateSnapshot. */
export type GateSnapshot = {
  status: string;
  decision: unknown;
  refusals: number;
  decisionsInHistory: number;
  champion: string | undefined;
  challenger: string | undefined;
  audit: string[];
};

/** A promotion (version 2 over champion 1) waiting for a reviewer, untouched by any decision. */
export const UNDECIDED: GateSnapshot = {
  status: 'awaiting-approval',
  decision: undefined,
  refusals: 0,
  decisionsInHistory: 0,
  champion: '1',
  challenger: '2',
  audit: ['challenger-set'],
};

const DECISION_EVENTS = [
  temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
];

/** The decisions that reached a workflow's history: accepted updates and signals. */
export async function decisionEvents(handle: WorkflowHandle): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).filter((e) => DECISION_EVENTS.includes(e.eventType!));
}

/** The identity the server stamped on an accepted update (header `mlo-verified-identity`), decoded. */
export function verifiedIdentityOf(event: temporal.api.history.v1.IHistoryEvent): unknown {
  const payload =
    event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.header?.fields?.[
      VERIFIED_IDENTITY_HEADER
    ];
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

/** The header mlo's Temporal server sets on decisions (server/README.md, "Identity header"). */
export const VERIFIED_IDENTITY_HEADER = 'mlo-verified-identity';

export class Orchestrator {
  private constructor(
    readonly cfg: Config,
    /** the orchestrator's client (`mlo-orchestrator` token) */
    readonly client: Client,
    /** the registry's MLflow client (`mlo-registry`), which may move aliases */
    readonly mlflow: MlflowClient,
    readonly workflowQueue: string,
    readonly cpuQueue: string,
    /** the specs deployed with these workers (their activities' `modelsDir`) */
    readonly modelsDir: string,
    private readonly s3: S3Client,
    private readonly close: () => Promise<void>,
  ) {}

  /** Connects as `mlo-orchestrator` and starts the workers. */
  static async start(cfg: Config): Promise<Orchestrator> {
    if (!runtimeInstalled) {
      // Errors only, from core too: the tests' refused workers would log each refusal as a warning.
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
      });
      runtimeInstalled = true;
    }
    const registryCfg: Config = { ...cfg, mlflow: { ...cfg.mlflow, credentials: registryCredentials(cfg) } };
    const tokens = clientCredentialsToken({ ...serviceCredentials(CLIENT_IDS.orchestrator), issuer: oidcIssuer() });
    const native: NativeConnection = await connectWorker(cfg, tokens);
    const { client, connection } = await connectClient(cfg, tokens);
    const workflowQueue = uniqueName('authz-wf');
    const cpuQueue = uniqueName('authz-cpu');
    const modelsDir = deployedSpecsDir();
    const deps = { ...buildDeps(registryCfg), modelsDir };
    const workers = await Promise.all([
      Worker.create({
        connection: native,
        namespace: cfg.temporal.namespace,
        taskQueue: workflowQueue,
        workflowBundle: await workflowBundle(),
      }),
      Worker.create({
        connection: native,
        namespace: cfg.temporal.namespace,
        taskQueue: cpuQueue,
        activities: createCpuActivities(deps),
      }),
    ]);
    const running = Promise.all(workers.map((w) => w.run()));
    running.catch(() => undefined); // a worker's failure shows in the tests' waits; shutdown reports it
    return new Orchestrator(cfg, client, deps.mlflow, workflowQueue, cpuQueue, modelsDir, deps.s3, async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running.catch(() => undefined);
      await native.close();
      await connection.close();
      deps.s3.destroy();
      fs.rmSync(modelsDir, { recursive: true, force: true });
    });
  }

  /** A registered model with versions 1 (champion) and 2 (the candidate). */
  async registeredModel(name: string): Promise<void> {
    await this.mlflow.createRegisteredModel(name);
    for (const v of [1, 2])
      await this.mlflow.createModelVersion({
        name,
        source: `s3://${this.cfg.s3.bucket}/test-models/${name}/v${v}`,
      });
    await this.mlflow.setAlias(name, 'champion', '1');
  }

  /** Which version holds `alias` of `model` now (undefined: none). */
  async aliasOf(model: string, alias: string): Promise<string | undefined> {
    return (await this.mlflow.getModelVersionByAlias(model, alias))?.version;
  }

  /**
   * Starts `promotion/<model>` of version 2 as the orchestrator, for the spec deployed with these
   * workers (reviewers and deadline come from it), and waits until it awaits a reviewer.
   */
  async startPromotion(
    deployed: Pick<DeployedSpec, 'name' | 'specHash'>,
    over: Pick<PromotionInput, 'requestedBy'> & Partial<PromotionInput>,
  ): Promise<WorkflowHandle<typeof promotion>> {
    const model = deployed.name;
    const input: PromotionInput = {
      model,
      specHash: deployed.specHash,
      candidateVersion: '2',
      championAtEvaluation: '1',
      summary: '| metric | candidate | champion |\n|---|---|---|\n| auc | 0.93 | 0.91 |',
      evidence: { evaluationReport: `s3://${this.cfg.s3.bucket}/reports/${model}.json` },
      parentWorkflowId: 'authz-test',
      cpuQueue: this.cpuQueue,
      ...over,
    };
    const handle = await this.client.workflow.start(promotion, {
      taskQueue: this.workflowQueue,
      workflowId: promotionWorkflowId(model),
      args: [input],
    });
    await waitFor(
      `promotion/${model} to await a reviewer`,
      async () => ((await handle.query(promotionStateQuery)).status === 'awaiting-approval' ? true : undefined),
      60_000,
    );
    return handle;
  }

  /**
   * What a decision could have changed, as one comparable value: the promotion's status, decision
   * and recorded refusals; the decisions in its history (accepted updates, signals); the aliases;
   * the audit trail's actions. `handle` may belong to any identity (reads are open to all).
   */
  async gateSnapshot(handle: WorkflowHandle, model: string): Promise<GateSnapshot> {
    const state = await handle.query(promotionStateQuery);
    return {
      status: state.status,
      decision: state.decision,
      refusals: state.refusals.length,
      decisionsInHistory: (await decisionEvents(handle)).length,
      champion: await this.aliasOf(model, 'champion'),
      challenger: await this.aliasOf(model, 'challenger'),
      audit: (await readAudit(this.s3, this.cfg.s3.bucket, model)).map((r) => r.action),
    };
  }

  /** Terminates the promotion when it still runs (the orchestrator may not: an admin's client is passed). */
  static async terminateIfRunning(admin: Client, workflowId: string): Promise<void> {
    const h = admin.workflow.getHandle(workflowId);
    const d = await h.describe().catch(() => undefined);
    if (d?.status.name === 'RUNNING') await h.terminate('authz test cleanup').catch(() => undefined);
  }

  shutdown(): Promise<void> {
    return this.close();
  }
}
