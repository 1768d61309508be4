/**
 * A promotion or rollback that is cancelled (an admin's RequestCancelWorkflowExecution: only
 * admins may, see server/README.md) records it before it ends: an audit record `cancelled`, and
 * for a promotion the candidate's `challenger` removed, so no stray alias outlives the request.
 * The cleanup runs in a non-cancellable scope; the cancellation is then rethrown and the workflow
 * ends as cancelled. Who cancelled is in the workflow's history: the server stamps its
 * `WorkflowExecutionCancelRequested` event's identity with the verified caller. Terminations and
 * resets give workflow code no chance to run: the history's events, stamped the same way, and
 * the server's log are their record.
 */
import { CancellationScope, isCancellation, patched } from '@temporalio/workflow';

/** The reason a cancelled promotion or rollback records. */
export const CANCELLED_REASON =
  'cancelled by an admin before a decision took effect (who: the WorkflowExecutionCancelRequested event of this workflow)';

/** Runs `body`; on cancellation runs `record` (non-cancellable), then rethrows. */
export async function auditedCancellation<T>(body: () => Promise<T>, record: () => Promise<unknown>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    // Histories recorded before this existed were cancelled without a record: they replay as then.
    if (isCancellation(err) && patched('audit-cancellation')) await CancellationScope.nonCancellable(record);
    throw err;
  }
}
