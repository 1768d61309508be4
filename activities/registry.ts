/**
 * The registry gate: the only code that moves MLflow aliases (`challenger`, `champion`), each
 * move audited in S3 and mirrored in MLflow tags.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  appendAudit,
  championHistory,
  readAudit,
  type AuditIdentity,
  type AuditRecord,
  type AuditRequester,
} from '../lib/registry/audit';
import type { ActivityDeps } from './deps';
import { FailureType } from '../lib/core/failure-types';

export const CHAMPION = 'champion';
export const CHALLENGER = 'challenger';

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

export function registryActivities(deps: ActivityDeps) {
  const { mlflow } = deps;
  const bucket = deps.config.s3.bucket;
  const runId = () => Context.current().info.workflowExecution?.runId;

  async function championVersion(model: string): Promise<string | null> {
    try {
      return (await mlflow.getModelVersionByAlias(model, CHAMPION))?.version ?? null;
    } catch (err) {
      if ((err as { kind?: string }).kind === 'not_found') return null; // no registered model yet
      throw err;
    }
  }

  /** Removes `challenger` when it is on this version (and only then). */
  async function dropChallengerAlias(model: string, version: string): Promise<void> {
    const ch = await mlflow.getModelVersionByAlias(model, CHALLENGER).catch(() => undefined);
    if (ch?.version === version) await mlflow.deleteAlias(model, CHALLENGER);
  }

  async function audit(record: Omit<AuditRecord, 'at' | 'workflowRunId'> & { at?: string }): Promise<string> {
    return appendAudit(deps.s3, bucket, {
      ...record,
      at: record.at ?? new Date().toISOString(),
      workflowRunId: runId(),
    });
  }

  return {
    async getChampion(input: { model: string }): Promise<string | null> {
      return championVersion(input.model);
    },

    async appendAuditRecord(record: Omit<AuditRecord, 'workflowRunId'>): Promise<string> {
      return audit(record);
    },

    /** Sets `challenger` on the candidate awaiting a decision. */
    async setChallenger(input: {
      model: string;
      version: string;
      requestedBy: string;
      workflowId: string;
      evidence?: Record<string, string>;
      requester?: AuditRequester;
    }): Promise<void> {
      await mlflow.setAlias(input.model, CHALLENGER, input.version);
      await mlflow.setModelVersionTag(input.model, input.version, 'mlo.awaiting_approval_in', input.workflowId);
      await audit({
        model: input.model,
        action: 'challenger-set',
        actor: 'mlo',
        version: input.version,
        workflowId: input.workflowId,
        evidence: input.evidence,
        requester: input.requester,
      });
    },

    /**
     * Moves `champion` to the version, but only if it still points where it pointed when the
     * decision was made; otherwise fails for good instead of overwriting someone else's move.
     */
    async moveChampion(input: ChampionMoveInput): Promise<{ previous: string | null }> {
      const current = await championVersion(input.model);
      if (current !== input.expectedChampion) {
        throw ApplicationFailure.create({
          type: FailureType.ChampionMoved,
          nonRetryable: true,
          message: `the champion of ${input.model} moved since the decision was made (expected ${input.expectedChampion ? `version ${input.expectedChampion}` : 'no champion'}, found ${current ? `version ${current}` : 'none'}); nothing was changed. Evaluate again against the current champion.`,
        });
      }
      const at = new Date().toISOString();
      await mlflow.setAlias(input.model, CHAMPION, input.version);
      await dropChallengerAlias(input.model, input.version);
      await mlflow.setModelVersionTag(input.model, input.version, 'mlo.promoted_at', at);
      await mlflow.setModelVersionTag(input.model, input.version, 'mlo.approved_by', input.actor);
      await mlflow.setModelVersionTag(input.model, input.version, 'mlo.previous_champion', current ?? 'none');
      if (input.emergency) await mlflow.setModelVersionTag(input.model, input.version, 'mlo.emergency', 'true');
      if (current)
        await mlflow.setModelVersionTag(input.model, current, 'mlo.replaced_by', `${input.version} at ${at}`);
      await mlflow.setRegisteredModelTag(
        input.model,
        'mlo.last_alias_move',
        JSON.stringify({ champion: input.version, previous: current, by: input.actor, at, action: input.action }),
      );
      await audit({
        model: input.model,
        action: input.action,
        actor: input.actor,
        at,
        version: input.version,
        previousChampion: current,
        newChampion: input.version,
        reason: input.reason,
        emergency: input.emergency,
        evidence: input.evidence,
        workflowId: input.workflowId,
        requester: input.requester,
        decider: input.decider,
      });
      return { previous: current };
    },

    /** Takes `challenger` off a rejected or expired candidate and records why. */
    async dropChallenger(input: {
      model: string;
      version: string;
      actor: string;
      reason: string;
      action: 'rejected' | 'expired';
      workflowId: string;
      requester?: AuditRequester;
      decider?: AuditIdentity;
    }): Promise<void> {
      await dropChallengerAlias(input.model, input.version);
      await mlflow.setModelVersionTag(
        input.model,
        input.version,
        'mlo.rejected',
        `${input.action} by ${input.actor}: ${input.reason}`,
      );
      await audit({
        model: input.model,
        action: input.action,
        actor: input.actor,
        version: input.version,
        reason: input.reason,
        workflowId: input.workflowId,
        requester: input.requester,
        decider: input.decider,
      });
    },

    /** Versions that once were champion (from the audit trail), oldest first, and the current one. */
    async championLineage(input: { model: string }): Promise<{ history: string[]; current: string | null }> {
      const records = await readAudit(deps.s3, bucket, input.model);
      return { history: championHistory(records), current: await championVersion(input.model) };
    },
  };
}
