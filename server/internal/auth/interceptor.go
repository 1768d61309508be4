package auth

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// VerifiedIdentity is the value of the mlo-verified-identity header.
type VerifiedIdentity struct {
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
}

// IdentityHeaderInterceptor stamps the verified caller on Updates and Signals sent to
// promotion/rollback workflows (header mlo-verified-identity), replacing whatever the client
// put there, so workflow code can read who really decided. Calls without a verified
// identity (the internal frontend) have the header removed. It runs after Temporal's
// authorization interceptor, which put the claims into the context.
func IdentityHeaderInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch r := req.(type) {
	case *workflowservice.UpdateWorkflowExecutionRequest:
		if isProtected(r.GetWorkflowExecution().GetWorkflowId()) && r.GetRequest().GetInput() != nil {
			in := r.GetRequest().GetInput()
			in.Header = stamp(ctx, in.GetHeader())
		}
	case *workflowservice.SignalWorkflowExecutionRequest:
		if isProtected(r.GetWorkflowExecution().GetWorkflowId()) {
			r.Header = stamp(ctx, r.GetHeader())
		}
	case *workflowservice.SignalWithStartWorkflowExecutionRequest:
		if isProtected(r.GetWorkflowId()) {
			r.Header = stamp(ctx, r.GetHeader())
		}
	case *workflowservice.ExecuteMultiOperationRequest:
		for _, op := range r.GetOperations() {
			u := op.GetUpdateWorkflow()
			if u != nil && isProtected(u.GetWorkflowExecution().GetWorkflowId()) && u.GetRequest().GetInput() != nil {
				in := u.GetRequest().GetInput()
				in.Header = stamp(ctx, in.GetHeader())
			}
		}
	}
	return handler(ctx, req)
}

func stamp(ctx context.Context, h *commonpb.Header) *commonpb.Header {
	id := IdentityFromContext(ctx)
	if h == nil {
		if !id.Authenticated() {
			return nil
		}
		h = &commonpb.Header{}
	}
	if h.Fields == nil {
		h.Fields = map[string]*commonpb.Payload{}
	}
	if !id.Authenticated() {
		delete(h.Fields, IdentityHeader)
		return h
	}
	h.Fields[IdentityHeader] = jsonPayload(VerifiedIdentity{Subject: id.Subject, Email: id.Email})
	return h
}
