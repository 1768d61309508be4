/**
 * The registry gate: the only code that moves MLflow aliases (`challenger`, `champion`), each
 * move audited in S3 and mirrored in MLflow tags. Every activity here heartbeats and is safe to
 * retry after partial success: aliases and tags are set to the same values again, the audit
 * record's idempotency key is the same on every attempt, and a `champion` move recognizes its
 * own earlier work by the intent tag it writes first. Workflows move `champion` only through the
 * serialized `championMove` workflow (workflows/champion-move.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  AuditTrail,
  MlflowAuditAnchor,
  type AuditIdentity,
  type AuditRecord,
  type AuditRequester,
} from '../lib/registry/audit';
import { withActivityFailures } from '../lib/core/failures';
import { FailureType } from '../lib/core/failure-types';
import { quoteFilterValue, tagFilterKey, tagsOf, type MlflowClient } from '../lib/registry/mlflow';
import { ModelAlias, ModelTag, VersionTag } from '../lib/registry/tags';
import { candidateInputsKey } from '../lib/registry/inputs-key';
import { describeFailedGate, type FailedGate } from '../lib/core/gate-failures';
import type { ActivityDeps } from './deps';
import type { CandidateRef, FeatureSnapshotRef, StageInput } from './types';
import { registryActivity } from './heartbeat';

export type ChampionMoveInput = {
  model: string;
  version: string;
  /** The champion the decision was made against (null: none); compare-and-set. */
  expectedChampion: string | null;
  actor: string;
  action: 'champion-moved' | 'rollback';
  reason?: string;
  emergency?: boolean;
  evidence?: Record<string, string>;
  workflowId: string;
  /** Verified identities of the requester and of the reviewer who decided, for the audit record. */
  requester?: AuditRequester;
  decider?: AuditIdentity;
};

export type SetChallengerInput = {
  model: string;
  version: string;
  requestedBy: string;
  workflowId: string;
  evidence?: Record<string, string>;
  requester?: AuditRequester;
};

export type DropChallengerInput = {
  model: string;
  version: string;
  actor: string;
  reason: string;
  action: 'rejected' | 'expired' | 'cancelled';
  workflowId: string;
  requester?: AuditRequester;
  decider?: AuditIdentity;
};

export type IdenticalCandidateInput = StageInput & { snapshot: FeatureSnapshotRef; featureColumns: string[] };

/** A version registered earlier from identical inputs, and what became of it. */
export type IdenticalCandidate = { candidate: CandidateRef; outcome: string | null; workflowId: string | null };

export type GateFailureInput = {
  model: string;
  version: string;
  workflowId: string;
  failed: FailedGate[];
  evidence: Record<string, string>;
  requester?: AuditRequester;
};

/** The registry activities' dependencies: the audit chain's one writer for every model of the bucket. */
type RegistryDeps = ActivityDeps & { auditTrail: AuditTrail };

export function registryActivities(base: ActivityDeps) {
  const trail = new AuditTrail({
    s3: base.s3,
    bucket: base.config.s3.bucket,
    anchor: new MlflowAuditAnchor(base.mlflow),
  });
  const deps: RegistryDeps = { ...base, auditTrail: trail };
  return {
    async getChampion(input: { model: string }): Promise<string | null> {
      return registryActivity(() => championVersion(deps.mlflow, input.model));
    },

    async appendAuditRecord(record: Omit<AuditRecord, 'workflowRunId'>): Promise<string> {
      return registryActivity(() => audit(deps, record));
    },

    /** Sets `challenger` on the candidate awaiting a decision. */
    async setChallenger(input: SetChallengerInput): Promise<void> {
      return registryActivity(() => setChallenger(deps, input));
    },

    /**
     * Moves `champion` to the version, but only if it still points where it pointed when the
     * decision was made; otherwise fails for good instead of overwriting someone else's move.
     */
    async moveChampion(input: ChampionMoveInput): Promise<{ previous: string | null }> {
      return registryActivity(() => moveChampion(deps, input));
    },

    /**
     * The version registered earlier from the same inputs (lib/registry/inputs-key.ts), if any: a
     * rerun reuses it instead of training and registering a copy. The lowest such version wins.
     */
    async findIdenticalCandidate(input: IdenticalCandidateInput): Promise<IdenticalCandidate | null> {
      return registryActivity(() => findIdenticalCandidate(deps, input));
    },

    /** Tags a gate-failed candidate with its outcome and failing gates, and records it in the audit trail. */
    async recordGateFailure(input: GateFailureInput): Promise<void> {
      return registryActivity(() => recordGateFailure(deps, input));
    },

    /** Takes `challenger` off a rejected or expired candidate and records why. */
    async dropChallenger(input: DropChallengerInput): Promise<void> {
      return registryActivity(() => dropChallenger(deps, input));
    },

    /**
     * Versions that once were champion, oldest first, from the verified audit chain only, and the
     * current one. A chain that fails verification fails the rollback at once (bad input: a person
     * must look at the bucket), never a guess from records that may have been tampered with.
     */
    async championLineage(input: { model: string }): Promise<{ history: string[]; current: string | null }> {
      return registryActivity(async () => ({
        history: await trail.championHistory(input.model),
        current: await championVersion(deps.mlflow, input.model),
      }));
    },
  };
}

async function championVersion(mlflow: MlflowClient, model: string): Promise<string | null> {
  try {
    return (await mlflow.getModelVersionByAlias(model, ModelAlias.champion))?.version ?? null;
  } catch (err) {
    if ((err as { kind?: string }).kind === 'not_found') return null; // no registered model yet
    throw err;
  }
}

/** Removes `challenger` when it is on this version (and only then). */
async function dropChallengerAlias(mlflow: MlflowClient, model: string, version: string): Promise<void> {
  // Only "no such model" means no challenger; any other failure (an outage) fails the attempt, which is
  // retried, rather than leaving `challenger` on a version that is no longer the candidate.
  const ch = await mlflow.getModelVersionByAlias(model, ModelAlias.challenger).catch((err: unknown) => {
    if ((err as { kind?: string }).kind === 'not_found') return undefined;
    throw err;
  });
  if (ch?.version === version) await mlflow.deleteAlias(model, ModelAlias.challenger);
}

/**
 * Appends to the model's audit chain through its one writer. The idempotency key names the
 * activity attempt's identity without the attempt number, so a retried activity finds the record
 * its earlier attempt wrote instead of writing a second one.
 */
async function audit(
  deps: RegistryDeps,
  record: Omit<AuditRecord, 'at' | 'workflowRunId'> & { at?: string },
): Promise<string> {
  const info = Context.current().info;
  const runId = info.workflowExecution?.runId;
  const appended = await withActivityFailures(() =>
    deps.auditTrail.append(
      { ...record, at: record.at ?? new Date().toISOString(), workflowRunId: runId },
      {
        idempotencyKey: `${info.workflowExecution?.workflowId ?? record.workflowId}/${runId}/${info.activityId}/${record.action}`,
      },
    ),
  );
  return appended.uri;
}

async function setChallenger(deps: RegistryDeps, input: SetChallengerInput): Promise<void> {
  await deps.mlflow.setAlias(input.model, ModelAlias.challenger, input.version);
  await deps.mlflow.setModelVersionTag(input.model, input.version, VersionTag.awaitingApprovalIn, input.workflowId);
  await audit(deps, {
    model: input.model,
    action: 'challenger-set',
    actor: 'mlo',
    version: input.version,
    workflowId: input.workflowId,
    evidence: input.evidence,
    requester: input.requester,
  });
}

function championMoved(input: ChampionMoveInput, current: string | null): ApplicationFailure {
  const expected = input.expectedChampion ? `version ${input.expectedChampion}` : 'no champion';
  return ApplicationFailure.create({
    type: FailureType.ChampionMoved,
    nonRetryable: true,
    message:
      `the champion of ${input.model} moved since the decision was made (expected ${expected}, ` +
      `found ${current ? `version ${current}` : 'none'}); nothing was changed. ` +
      'Evaluate again against the current champion.',
  });
}

/**
 * Moves `champion`, safe to retry after partial success. Before the alias moves, the version is
 * tagged with the move's intent (this activity's workflow run and activity id, the replaced
 * champion, the time); a retry that finds `champion` already on the version and that intent on
 * it knows the move is its own, and finishes the rest (challenger, tags, the audit record, whose
 * idempotency key is the same on every attempt). Any other champion is someone else's move.
 */
async function moveChampion(deps: RegistryDeps, input: ChampionMoveInput): Promise<{ previous: string | null }> {
  const { mlflow } = deps;
  const move = moveKey(input.workflowId);
  const current = await championVersion(mlflow, input.model);
  const intent = await readIntent(mlflow, input.model, input.version);
  const ours = intent?.move === move ? intent : undefined;
  let previous: string | null;
  let at: string;
  if (current === input.expectedChampion) {
    previous = current;
    at = ours?.at ?? new Date().toISOString();
    const value: MoveIntent = { move, previous, at };
    await mlflow.setModelVersionTag(input.model, input.version, VersionTag.championMove, JSON.stringify(value));
    await mlflow.setAlias(input.model, ModelAlias.champion, input.version);
  } else if (current === input.version && ours) {
    ({ previous, at } = ours); // an earlier attempt of this move set the alias; finish its work
  } else throw championMoved(input, current);
  await dropChallengerAlias(mlflow, input.model, input.version);
  await tagPromotion(mlflow, input, previous, at);
  await audit(deps, {
    model: input.model,
    action: input.action,
    actor: input.actor,
    at,
    version: input.version,
    previousChampion: previous,
    newChampion: input.version,
    reason: input.reason,
    emergency: input.emergency,
    evidence: input.evidence,
    workflowId: input.workflowId,
    requester: input.requester,
    decider: input.decider,
  });
  return { previous };
}

/** The intent a move records on its version before moving `champion` there. */
type MoveIntent = { move: string; previous: string | null; at: string };

/** This move's identity, the same on every attempt: workflow id, run id and activity id. */
function moveKey(workflowId: string): string {
  const info = Context.current().info;
  const run = info.workflowExecution;
  return `${run?.workflowId ?? workflowId}/${run?.runId ?? ''}/${info.activityId}`;
}

async function readIntent(mlflow: MlflowClient, model: string, version: string): Promise<MoveIntent | undefined> {
  const raw = tagsOf(await mlflow.getModelVersion(model, version))[VersionTag.championMove];
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as Partial<MoveIntent>;
    return typeof parsed.move === 'string' && typeof parsed.at === 'string'
      ? { move: parsed.move, previous: parsed.previous ?? null, at: parsed.at }
      : undefined;
  } catch {
    return undefined; // not written by a move: no move recognizes it as its own
  }
}

/** Mirrors an alias move in MLflow tags: on the new champion, the replaced one, and the registered model. */
async function tagPromotion(
  mlflow: MlflowClient,
  input: ChampionMoveInput,
  current: string | null,
  at: string,
): Promise<void> {
  const tag = (version: string, key: string, value: string) =>
    mlflow.setModelVersionTag(input.model, version, key, value);
  await tag(input.version, VersionTag.promotedAt, at);
  await tag(input.version, VersionTag.outcome, 'promoted');
  await mlflow.deleteModelVersionTag(input.model, input.version, VersionTag.awaitingApprovalIn);
  await tag(input.version, VersionTag.approvedBy, input.actor);
  await tag(input.version, VersionTag.previousChampion, current ?? 'none');
  if (input.emergency) await tag(input.version, VersionTag.emergency, 'true');
  if (current) await tag(current, VersionTag.replacedBy, `${input.version} at ${at}`);
  await mlflow.setRegisteredModelTag(
    input.model,
    ModelTag.lastAliasMove,
    JSON.stringify({ champion: input.version, previous: current, by: input.actor, at, action: input.action }),
  );
}

async function dropChallenger(deps: RegistryDeps, input: DropChallengerInput): Promise<void> {
  await dropChallengerAlias(deps.mlflow, input.model, input.version);
  await deps.mlflow.setModelVersionTag(
    input.model,
    input.version,
    VersionTag.rejected,
    `${input.action} by ${input.actor}: ${input.reason}`,
  );
  await deps.mlflow.setModelVersionTag(input.model, input.version, VersionTag.outcome, input.action);
  await deps.mlflow.deleteModelVersionTag(input.model, input.version, VersionTag.awaitingApprovalIn);
  await audit(deps, {
    model: input.model,
    action: input.action,
    actor: input.actor,
    version: input.version,
    reason: input.reason,
    workflowId: input.workflowId,
    requester: input.requester,
    decider: input.decider,
  });
}

async function findIdenticalCandidate(
  deps: RegistryDeps,
  input: IdenticalCandidateInput,
): Promise<IdenticalCandidate | null> {
  const key = candidateInputsKey({
    snapshotHash: input.snapshot.hash,
    windows: input.windows,
    featureColumns: input.featureColumns,
    training: input.spec.training,
    codeVersion: deps.codeVersion,
  });
  const filter =
    `name = ${quoteFilterValue(input.model)} and ` + `${tagFilterKey(VersionTag.inputsKey)} = ${quoteFilterValue(key)}`;
  let found;
  try {
    found = (await deps.mlflow.searchModelVersions({ filter, maxResults: 50 })).items;
  } catch (err) {
    if ((err as { kind?: string }).kind === 'not_found') return null; // no registered model yet
    throw err;
  }
  const ready = found.filter((v) => v.status === 'READY').sort((a, b) => Number(a.version) - Number(b.version));
  const v = ready[0];
  if (!v) return null;
  const tags = tagsOf(v);
  const onnxUri = tags[VersionTag.onnxUri];
  if (!onnxUri || !v.runId) return null; // not a version mlo registered whole: train afresh
  return {
    candidate: { runId: v.runId, version: v.version, onnxUri },
    outcome: tags[VersionTag.outcome] ?? null,
    workflowId: tags[VersionTag.workflowId] ?? null,
  };
}

async function recordGateFailure(deps: RegistryDeps, input: GateFailureInput): Promise<void> {
  await deps.mlflow.setModelVersionTag(input.model, input.version, VersionTag.outcome, 'gate-failed');
  // MLflow tag values hold at most 5000 characters: the gates in full are in the report and the audit record.
  const gates = JSON.stringify(input.failed);
  await deps.mlflow.setModelVersionTag(
    input.model,
    input.version,
    VersionTag.failedGates,
    gates.length <= 5000 ? gates : `${gates.slice(0, 4990)}…`,
  );
  await audit(deps, {
    model: input.model,
    action: 'gate-failed',
    actor: 'mlo',
    version: input.version,
    reason: input.failed.map(describeFailedGate).join('; '),
    evidence: input.evidence,
    workflowId: input.workflowId,
    requester: input.requester,
  });
}
