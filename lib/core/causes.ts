/**
 * Walking an error's cause chain (`err`, `err.cause`, `err.cause.cause`, …). Pure and workflow-safe:
 * it follows `.cause` only and never tests an error's class, so it reads a Temporal failure chain
 * (WorkflowFailedError → ActivityFailure → ApplicationFailure → …) the same in a workflow, a worker
 * and the CLI.
 */

/** How many links `causeChain` follows unless told otherwise: a cyclic chain ends. */
const CAUSE_CHAIN_LIMIT = 20;

/** The error and the errors it wraps, outermost first, up to `limit` entries; stops at a missing cause. */
export function causeChain(err: unknown, limit = CAUSE_CHAIN_LIMIT): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err, i = 0; e && i < limit; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** The leading Errors of the chain: it stops at the first cause that is not an Error. */
export function errorChain(err: unknown, limit = CAUSE_CHAIN_LIMIT): Error[] {
  const out: Error[] = [];
  for (const e of causeChain(err, limit)) {
    if (!(e instanceof Error)) break;
    out.push(e);
  }
  return out;
}

/** The innermost failure: an activity's or child workflow's own error, not its wrappers. */
export function rootCause(err: unknown): Error {
  const chain = errorChain(err);
  return chain[chain.length - 1] ?? new Error(String(err));
}
