/**
 * Workflow interceptors, registered in the workflow bundle by every worker and bundle of mlo
 * (`WORKFLOW_INTERCEPTOR_MODULES`): the approve/reject updates (validator and handler) and
 * every signal the server stamped (decisions, and any other name, whose refusal names the
 * caller) receive the caller's verified identity from the `mlo-verified-identity` header.
 * Reading a header adds no command, so stored histories replay unchanged.
 */
import type {
  Next,
  SignalInput,
  UpdateInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
} from '@temporalio/workflow';
import { DECISION_UPDATES, IDENTITY_HEADER, readIdentityHeader, withVerifiedCaller } from './identity';

function withIdentity(args: readonly unknown[], headers: UpdateInput['headers']): unknown[] {
  const header = headers[IDENTITY_HEADER];
  if (!header) return [...args];
  return [withVerifiedCaller(args[0], readIdentityHeader(header)), ...args.slice(1)];
}

class VerifiedIdentityInbound implements WorkflowInboundCallsInterceptor {
  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    if (!DECISION_UPDATES.includes(input.name)) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }

  handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    if (!DECISION_UPDATES.includes(input.name)) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }

  handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    if (!input.headers[IDENTITY_HEADER]) return next(input);
    return next({ ...input, args: withIdentity(input.args, input.headers) });
  }
}

export const interceptors = (): WorkflowInterceptors => ({ inbound: [new VerifiedIdentityInbound()] });
