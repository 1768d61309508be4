/**
 * Runs as users start and decide them: the engineer (erin) requests trainAndPromote through the
 * normal client path with her own token; a reviewer (alice), signed in as herself, approves the
 * promotion with the `approve` Update. Also what the suite polls to inject faults at the right
 * moment: the stages of a run and the heartbeat details of its pending activities.
 */
import { defaultPayloadConverter, type Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../lib/infra/config';
import { connectClient } from '../../lib/infra/temporal';
import { devUserTokenSource } from '../../lib/identity/oidc-client';
import { clientCredentialsToken, serviceCredentials } from '../../lib/identity/oidc-client';
import { CLIENT_IDS } from '../../lib/identity/shared';
import { devPassword } from '../../lib/identity/dev-users';
import { runInput, startOrAttach } from '../../lib/client/runs';
import {
  approveUpdate,
  progressQuery,
  type StageName,
  type StageProgress,
  type TrainAndPromoteResult,
  type TrainAndPromoteWorkflow,
} from '../../lib/core/definitions';
import { promotionWorkflowId } from '../../lib/core/ids';
import type { ModelSpec } from '../../lib/spec/model-spec';
import { AS_OF, REQUESTER, REVIEWER } from './specs';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One client per identity, each over its own connection with its own token. */
export class Clients {
  private constructor(
    readonly engineer: Client,
    readonly reviewer: Client,
    /** the orchestrator service: reads histories and describes workflows */
    readonly service: Client,
    private readonly connections: Connection[],
  ) {}

  static async open(cfg: Config): Promise<Clients> {
    const person = (email: string) => connectClient(cfg, devUserTokenSource(email, devPassword(email)));
    const [e, r, s] = await Promise.all([
      person(REQUESTER),
      person(REVIEWER),
      connectClient(cfg, clientCredentialsToken(serviceCredentials(CLIENT_IDS.orchestrator))),
    ]);
    return new Clients(e.client, r.client, s.client, [e.connection, r.connection, s.connection]);
  }

  async close(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.close().catch(() => undefined)));
  }
}

/** Requests the run as the engineer (the normal path: validated spec, its hash, the caller as requester). */
export async function startRun(
  clients: Clients,
  cfg: Config,
  spec: ModelSpec,
): Promise<WorkflowHandle<TrainAndPromoteWorkflow>> {
  const input = { ...runInput(cfg, spec, { asOf: AS_OF, requestedBy: REQUESTER }), asOf: AS_OF };
  const { handle } = await startOrAttach(clients.engineer, cfg, input);
  return handle;
}

/** The run's stages (empty while the query cannot be answered, e.g. during a restart). */
export async function stagesOf(handle: WorkflowHandle): Promise<StageProgress[]> {
  return handle.query(progressQuery).catch(() => [] as StageProgress[]);
}

export function stage(stages: StageProgress[], name: StageName): StageProgress | undefined {
  return stages.find((s) => s.stage === name);
}

/** Polls the run until `pred` holds on its stages; fails when the run closed first or after `timeoutMs`. */
export async function waitForStages(
  handle: WorkflowHandle,
  what: string,
  pred: (s: StageProgress[]) => boolean,
  timeoutMs: number,
  everyMs = 250,
): Promise<StageProgress[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stagesOf(handle);
    if (s.length > 0 && pred(s)) return s;
    const d = await handle.describe().catch(() => undefined);
    if (d && d.status.name !== 'RUNNING') throw new Error(`the run closed (${d.status.name}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export type PendingActivity = { type: string; attempt: number; details: unknown; lastHeartbeat?: Date };

/** The run's pending activities as the server sees them, with their last heartbeat details decoded. */
export async function pendingActivities(handle: WorkflowHandle): Promise<PendingActivity[]> {
  const d = await handle.describe();
  return (d.raw.pendingActivities ?? []).map((a) => {
    const payload = a.heartbeatDetails?.payloads?.[0];
    return {
      type: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 0,
      details: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
      lastHeartbeat: a.lastHeartbeatTime?.seconds ? new Date(Number(a.lastHeartbeatTime.seconds) * 1000) : undefined,
    };
  });
}

/**
 * Approves the run's promotion as the reviewer, once it awaits a decision, unless `hold()` says
 * to wait (a scenario still injecting its fault). Stops when `done()` is true.
 */
export async function approveWhenAwaiting(
  clients: Clients,
  handle: WorkflowHandle,
  model: string,
  opts: { hold: () => boolean; done: () => boolean },
): Promise<void> {
  while (!opts.done()) {
    const promo = stage(await stagesOf(handle), 'promotion');
    if (promo?.status === 'running' && promo.phase === 'awaiting-approval' && !opts.hold()) {
      const ok = await approve(clients, model).then(
        () => true,
        () => false,
      );
      if (ok) return;
    }
    await sleep(500);
  }
}

async function approve(clients: Clients, model: string): Promise<void> {
  await clients.reviewer.workflow.getHandle(promotionWorkflowId(model)).executeUpdate(approveUpdate, {
    args: [{ reviewer: REVIEWER, comment: 'approved by the chaos suite, signed in as the reviewer' }],
  });
}

/** The run's result, or its failure as an error naming why. */
export async function resultOf(handle: WorkflowHandle<TrainAndPromoteWorkflow>): Promise<TrainAndPromoteResult> {
  return handle.result();
}
