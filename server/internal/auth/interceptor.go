package auth

import (
	"context"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/api"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
func IdentityHeaderInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
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
	stampCallerIdentity(ctx, req, info)
	if r, ok := req.(*workflowservice.UpdateWorkflowExecutionRequest); ok && r.GetRequest().GetMeta() != nil {
		stampCallerIdentity(ctx, r.GetRequest().GetMeta(), info)
	}
	return handler(ctx, req)
}

// stampCallerIdentity records who really called in the request's `identity` field, which
// Temporal writes into history (who terminated, cancelled, reset, signalled or started a
// workflow) and which clients otherwise fill in themselves (an SDK's "pid@host"). The
// client's own value is kept after the verified one. Worker APIs keep theirs: there it
// names the worker process, and workers are services whose token the authorizer checked.
func stampCallerIdentity(ctx context.Context, req any, info *grpc.UnaryServerInfo) {
	if info == nil || workerAPIs[api.MethodName(info.FullMethod)] {
		return
	}
	id := IdentityFromContext(ctx)
	m, ok := req.(proto.Message)
	if !ok || !id.Authenticated() {
		return
	}
	msg := m.ProtoReflect()
	field := msg.Descriptor().Fields().ByName("identity")
	if field == nil || field.Kind() != protoreflect.StringKind || field.Cardinality() == protoreflect.Repeated {
		return
	}
	verified := "mlo-verified:" + id.Name()
	if id.Email != "" && id.Subject != "" {
		verified += " (sub " + id.Subject + ")"
	}
	if client := msg.Get(field).String(); client != "" && !strings.HasPrefix(client, "mlo-verified:") {
		verified += " client:" + client
	}
	if len(verified) > maxIdentityLen {
		verified = verified[:maxIdentityLen]
	}
	msg.Set(field, protoreflect.ValueOfString(verified))
}

// maxIdentityLen keeps a stamped identity within Temporal's limit on the field.
const maxIdentityLen = 1000

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
