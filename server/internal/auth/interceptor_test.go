package auth

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc"
)

func withClaims(id *Identity) context.Context {
	return context.WithValue(context.Background(), authorization.MappedClaims, &authorization.Claims{Subject: id.Subject, Extensions: id})
}

func runInterceptor(t *testing.T, ctx context.Context, req any) {
	t.Helper()
	_, err := IdentityHeaderInterceptor(ctx, req, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
}

func stamped(t *testing.T, h *commonpb.Header) *VerifiedIdentity {
	t.Helper()
	p := h.GetFields()[IdentityHeader]
	if p == nil {
		return nil
	}
	if string(p.Metadata["encoding"]) != "json/plain" {
		t.Fatalf("encoding %q", p.Metadata["encoding"])
	}
	var v VerifiedIdentity
	if err := json.Unmarshal(p.Data, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestIdentityHeaderOverwritesClientValue(t *testing.T) {
	forged := jsonPayload(VerifiedIdentity{Subject: "alice", Email: "alice@example.com"})
	upd := update(t, "promotion/fraud-detector", "approve", map[string]any{"reviewer": "bob@example.com"})
	upd.Request.Input.Header = &commonpb.Header{Fields: map[string]*commonpb.Payload{IdentityHeader: forged, "other": forged}}
	runInterceptor(t, withClaims(bob), upd)
	if v := stamped(t, upd.Request.Input.Header); v == nil || v.Email != "bob@example.com" || v.Subject != "bob" {
		t.Fatalf("update header: %+v", v)
	}
	if upd.Request.Input.Header.Fields["other"] == nil {
		t.Fatal("other headers must be kept")
	}

	sig := signal(t, "rollback/fraud-detector", "approveSignal", map[string]any{"reviewer": "alice@example.com"})
	runInterceptor(t, withClaims(alice), sig)
	if v := stamped(t, sig.Header); v == nil || v.Email != "alice@example.com" {
		t.Fatalf("signal header: %+v", v)
	}

	// Not a protected workflow: untouched.
	other := signal(t, "train-and-promote/x", "s", map[string]any{})
	runInterceptor(t, withClaims(alice), other)
	if other.Header != nil {
		t.Fatal("header added to a workflow that is not a promotion or rollback")
	}

	// No verified identity (internal frontend): a client value is removed.
	sys := signal(t, "promotion/fraud-detector", "approveSignal", map[string]any{})
	sys.Header = &commonpb.Header{Fields: map[string]*commonpb.Payload{IdentityHeader: forged}}
	runInterceptor(t, context.Background(), sys)
	if stamped(t, sys.Header) != nil {
		t.Fatal("unverified header kept")
	}

	// Updates inside ExecuteMultiOperation.
	multi := &workflowservice.ExecuteMultiOperationRequest{Operations: []*workflowservice.ExecuteMultiOperationRequest_Operation{
		{Operation: &workflowservice.ExecuteMultiOperationRequest_Operation_UpdateWorkflow{UpdateWorkflow: update(t, "promotion/fraud-detector", "approve", map[string]any{})}},
	}}
	runInterceptor(t, withClaims(bob), multi)
	if v := stamped(t, multi.Operations[0].GetUpdateWorkflow().Request.Input.Header); v == nil || v.Email != "bob@example.com" {
		t.Fatalf("multi-operation header: %+v", v)
	}
}

func TestModelsReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("fraud-detector.yaml", "name: fraud-detector\npromotion:\n  reviewers: [alice@example.com, bob@example.com]\n")
	write("notes.txt", "ignored")
	var problems []string
	m := NewModels(dir)
	m.CheckEvery = 0
	m.OnProblem = func(f string, err error) { problems = append(problems, f+": "+err.Error()) }
	if !m.IsReviewer("fraud-detector", "bob@example.com") || m.IsReviewer("fraud-detector", "carol@example.com") {
		t.Fatal("initial reviewers")
	}
	write("fraud-baseline.yml", "name: fraud-baseline\npromotion: { reviewers: [alice@example.com, carol@example.com] }\n")
	if !m.IsReviewer("fraud-baseline", "carol@example.com") {
		t.Fatal("added spec not seen")
	}
	// A changed file (new mtime) is reread.
	write("fraud-detector.yaml", "name: fraud-detector\npromotion:\n  reviewers: [carol@example.com]\n")
	future := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(filepath.Join(dir, "fraud-detector.yaml"), future, future)
	if m.IsReviewer("fraud-detector", "bob@example.com") || !m.IsReviewer("fraud-detector", "carol@example.com") {
		t.Fatal("changed spec not reread")
	}
	write("broken.yaml", "name: [unclosed\n")
	if m.Count() != 2 || len(problems) != 1 {
		t.Fatalf("count %d, problems %v", m.Count(), problems)
	}
	_ = os.Remove(filepath.Join(dir, "fraud-baseline.yml"))
	if _, ok := m.Reviewers("fraud-baseline"); ok {
		t.Fatal("removed spec still known")
	}
}

func TestCallerIdentityStampedForHistory(t *testing.T) {
	terminate := &workflowservice.TerminateWorkflowExecutionRequest{Namespace: "default", Identity: "olivia@example.com"}
	info := &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/TerminateWorkflowExecution"}
	run := func(ctx context.Context, req any) {
		t.Helper()
		if _, err := IdentityHeaderInterceptor(ctx, req, info, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	// A client that types someone else's name into identity: history gets the verified caller first.
	run(withClaims(erin), terminate)
	if want := "mlo-verified:erin@example.com (sub erin) client:olivia@example.com"; terminate.Identity != want {
		t.Errorf("identity %q, want %q", terminate.Identity, want)
	}
	// A service: its subject.
	cancel := &workflowservice.RequestCancelWorkflowExecutionRequest{Identity: "123@host"}
	run(withClaims(orch), cancel)
	if want := "mlo-verified:mlo-orchestrator client:123@host"; cancel.Identity != want {
		t.Errorf("identity %q, want %q", cancel.Identity, want)
	}
	// Updates carry it in their meta.
	upd := update(t, "promotion/fraud-detector", "approve", map[string]any{"reviewer": "bob@example.com"})
	upd.Request.Meta = &updatepb.Meta{UpdateId: "u1", Identity: "x"}
	run(withClaims(bob), upd)
	if want := "mlo-verified:bob@example.com (sub bob) client:x"; upd.Request.Meta.Identity != want {
		t.Errorf("update identity %q, want %q", upd.Request.Meta.Identity, want)
	}
	// Worker APIs keep the worker's own identity; calls without a verified caller are untouched.
	poll := &workflowservice.PollActivityTaskQueueRequest{Identity: "123@host"}
	pollInfo := &grpc.UnaryServerInfo{FullMethod: "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue"}
	if _, err := IdentityHeaderInterceptor(withClaims(orch), poll, pollInfo, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if poll.Identity != "123@host" {
		t.Errorf("poll identity %q changed", poll.Identity)
	}
	internal := &workflowservice.TerminateWorkflowExecutionRequest{Identity: "system"}
	run(context.Background(), internal)
	if internal.Identity != "system" {
		t.Errorf("internal identity %q changed", internal.Identity)
	}
}
