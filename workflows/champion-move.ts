/**
 * championMove: the one path by which `champion` moves. Promotions and rollbacks start it as a
 * child workflow with the fixed id `champion/<model>`; the server runs at most one workflow per
 * id, so the moves of one model happen one at a time, each with its compare-and-set against the
 * champion its decision was made on. A mover that finds the id taken waits and tries again. The
 * child outlives a parent that is terminated mid-move (ParentClosePolicy ABANDON): a started move
 * always finishes and is audited.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  ParentClosePolicy,
  patched,
  proxyActivities,
  sleep,
  startChild,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChampionMoveInput } from '../activities/registry';
import { FailureType } from '../lib/core/failure-types';
import { championMoveWorkflowId } from '../lib/core/ids';
import * as profiles from './activity-options';

export type ChampionMoveRequest = { move: ChampionMoveInput; cpuQueue: string };

/** Histories recorded before moves were serialized call the activity directly; they replay that way. */
export const SERIALIZED_MOVE_PATCH = 'serialized-champion-move';

/** The child workflow: runs the move activity (idempotent, retried within its time budget). */
export async function championMove(request: ChampionMoveRequest): Promise<{ previous: string | null }> {
  const acts = proxyActivities<Activities>(profiles.aliasAndAudit(request.cpuQueue));
  return acts.moveChampion(request.move);
}

/** Longest wait between two tries to start the move while another mover of the model holds it. */
const MAX_WAIT_MS = 10_000;

/** How long a mover waits for another: longer than any move may take (its activity's whole budget). */
export const MAX_WAIT_FOR_OTHER_MOVE_MS = 3 * 3_600_000;

/**
 * Moves `champion` through `champion/<model>`, after any move of the same model that is under
 * way. Fails as the move activity failed (an ActivityFailure, e.g. ChampionMoved).
 */
export async function moveChampionSerialized(
  acts: Pick<Activities, 'moveChampion'>,
  request: ChampionMoveRequest,
): Promise<{ previous: string | null }> {
  // A move, once begun, runs to its end: an admin's cancellation of the promotion or rollback
  // waits for it (only the wait for another mover, before it begins, is cancellable).
  if (!patched(SERIALIZED_MOVE_PATCH)) return CancellationScope.nonCancellable(() => acts.moveChampion(request.move));
  const handle = await startWhenFree(request);
  try {
    return await CancellationScope.nonCancellable(() => handle.result());
  } catch (err) {
    if (err instanceof ChildWorkflowFailure && err.cause instanceof ActivityFailure) throw err.cause;
    throw err;
  }
}

async function startWhenFree(request: ChampionMoveRequest) {
  const workflowId = championMoveWorkflowId(request.move.model);
  const giveUpAt = Date.now() + MAX_WAIT_FOR_OTHER_MOVE_MS;
  for (let waitMs = 500; ; waitMs = Math.min(MAX_WAIT_MS, waitMs * 2)) {
    try {
      return await startChild(championMove, {
        workflowId,
        args: [request],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      if (Date.now() >= giveUpAt) throw otherMoveStuck(workflowId);
      await sleep(waitMs); // another move of this model is under way
    }
  }
}

function otherMoveStuck(workflowId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.ChampionMoveBusy,
    nonRetryable: true,
    message:
      `another move of the champion has held ${workflowId} for over ${MAX_WAIT_FOR_OTHER_MOVE_MS / 3_600_000} hours, ` +
      'longer than any move may take; nothing was changed. Look at that workflow in the Temporal UI ' +
      '(an admin may terminate it once its alias, tags and audit record agree), then decide again.',
  });
}
