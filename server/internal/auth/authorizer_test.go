package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	batchpb "go.temporal.io/api/batch/v1"
	commonpb "go.temporal.io/api/common/v1"
	schedulepb "go.temporal.io/api/schedule/v1"
	"go.temporal.io/api/serviceerror"
	updatepb "go.temporal.io/api/update/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/server/common/api"
	"go.temporal.io/server/common/authorization"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Identities of the dev stack's users and services.
var (
	erin    = &Identity{Subject: "erin", Email: "erin@example.com", Groups: []string{"mlo-engineers"}}
	frank   = &Identity{Subject: "frank", Email: "frank@example.com", Groups: []string{"mlo-engineers"}}
	alice   = &Identity{Subject: "alice", Email: "alice@example.com", Groups: []string{"mlo-reviewers"}}
	bob     = &Identity{Subject: "bob", Email: "bob@example.com", Groups: []string{"mlo-reviewers"}}
	carol   = &Identity{Subject: "carol", Email: "carol@example.com", Groups: []string{"mlo-reviewers"}}
	olivia  = &Identity{Subject: "olivia", Email: "olivia@example.com", Groups: []string{"mlo-admins"}, Admin: true}
	mallory = &Identity{Subject: "mallory", Email: "mallory@example.com", Groups: []string{}}
	orch    = &Identity{Subject: "mlo-orchestrator", Groups: []string{"mlo-services"}, Service: true}
	sched   = &Identity{Subject: "mlo-scheduler", Groups: []string{"mlo-services"}, Service: true}
)

type fakeRequesters map[string]string

func (f fakeRequesters) RequestedBy(_ context.Context, _, wid string) (string, error) {
	if by, ok := f[wid]; ok {
		return by, nil
	}
	return "", errors.New("not found")
}

func newAuthorizer() *Authorizer {
	return &Authorizer{
		Settings: DefaultSettings(),
		Models: StaticModels(map[string][]string{
			"fraud-detector": {"alice@example.com", "bob@example.com"},
			"fraud-baseline": {"alice@example.com", "carol@example.com"},
		}),
		Requesters: fakeRequesters{
			"promotion/fraud-detector": "alice@example.com",
			"promotion/fraud-baseline": "erin@example.com",
			"rollback/fraud-detector":  "bob@example.com",
		},
	}
}

func payloads(t *testing.T, args ...any) *commonpb.Payloads {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func call(a *Authorizer, id *Identity, method string, req any) (bool, string) {
	var claims *authorization.Claims
	if id != nil {
		claims = &authorization.Claims{Subject: id.Subject, Extensions: id}
	}
	full := method
	if !strings.HasPrefix(method, "/") {
		full = api.WorkflowServicePrefix + method
	}
	res, err := a.Authorize(context.Background(), claims, &authorization.CallTarget{APIName: full, Namespace: "default", Request: req})
	allowed := res.Decision == authorization.DecisionAllow
	// A refusal is also returned as a PermissionDenied error carrying the same message.
	var pd *serviceerror.PermissionDenied
	if allowed != (err == nil) || (err != nil && (!errors.As(err, &pd) || pd.Message != res.Reason)) {
		panic(fmt.Sprintf("decision %v with error %v", res.Decision, err))
	}
	return allowed, res.Reason
}

// expect checks one decision: allowed, or refused with a message containing want.
func expect(t *testing.T, a *Authorizer, id *Identity, method string, req any, want string) {
	t.Helper()
	ok, reason := call(a, id, method, req)
	who := id.Name()
	if want == "" {
		if !ok {
			t.Fatalf("%s %s: refused: %s", who, method, reason)
		}
		return
	}
	if ok {
		t.Fatalf("%s %s: allowed, want refusal %q", who, method, want)
	}
	if !strings.Contains(reason, want) {
		t.Fatalf("%s %s: reason %q does not contain %q", who, method, reason, want)
	}
}

func start(t *testing.T, wfType, wid string, input any) *workflowservice.StartWorkflowExecutionRequest {
	return &workflowservice.StartWorkflowExecutionRequest{
		Namespace: "default", WorkflowId: wid, WorkflowType: &commonpb.WorkflowType{Name: wfType},
		Input: payloads(t, input),
	}
}

func update(t *testing.T, wid, name string, arg any) *workflowservice.UpdateWorkflowExecutionRequest {
	return &workflowservice.UpdateWorkflowExecutionRequest{
		Namespace:         "default",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
		Request: &updatepb.Request{
			Meta:  &updatepb.Meta{UpdateId: "u1"},
			Input: &updatepb.Input{Name: name, Args: payloads(t, arg)},
		},
	}
}

func signal(t *testing.T, wid, name string, arg any) *workflowservice.SignalWorkflowExecutionRequest {
	return &workflowservice.SignalWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
		SignalName: name, Input: payloads(t, arg),
	}
}

func exec(wid string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: wid}
}

func TestRuleAuthentication(t *testing.T) {
	a := newAuthorizer()
	desc := &workflowservice.DescribeNamespaceRequest{Namespace: "default"}
	expect(t, a, nil, "DescribeNamespace", desc, "mlo: authentication: no bearer token")
	expect(t, a, &Identity{AuthError: "token expired at 2025-01-01T00:00:00Z"}, "DescribeNamespace", desc, "mlo: authentication: token expired")
	// Health checks and GetSystemInfo need no token.
	expect(t, a, nil, "GetSystemInfo", &workflowservice.GetSystemInfoRequest{}, "")
	expect(t, a, nil, healthpb.Health_Check_FullMethodName, &healthpb.HealthCheckRequest{}, "")
	// Reads: any valid token, even an outsider's.
	expect(t, a, mallory, "DescribeNamespace", desc, "")
	expect(t, a, mallory, "ListWorkflowExecutions", &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default"}, "")
	expect(t, a, mallory, "QueryWorkflow", &workflowservice.QueryWorkflowRequest{Namespace: "default", Execution: exec("promotion/fraud-detector")}, "")
	expect(t, a, erin, "GetWorkflowExecutionHistory", &workflowservice.GetWorkflowExecutionHistoryRequest{Namespace: "default", Execution: exec("promotion/fraud-detector")}, "")
}

func TestRuleInternalFrontend(t *testing.T) {
	a := newAuthorizer()
	// The internal frontend's no-op claim mapper: system admin, no identity.
	claims := &authorization.Claims{System: authorization.RoleAdmin}
	res, _ := a.Authorize(context.Background(), claims, &authorization.CallTarget{
		APIName: api.WorkflowServicePrefix + "StartWorkflowExecution", Namespace: "default",
		Request: start(t, "promotion", "promotion/fraud-detector", map[string]any{}),
	})
	if res.Decision != authorization.DecisionAllow {
		t.Fatal("internal frontend call refused")
	}
	// A token's claims with a forged system role but an identity are not internal.
	forged := &authorization.Claims{System: authorization.RoleAdmin, Extensions: erin}
	res, _ = a.Authorize(context.Background(), forged, &authorization.CallTarget{
		APIName: api.WorkflowServicePrefix + "StartWorkflowExecution", Namespace: "default",
		Request: start(t, "promotion", "promotion/fraud-detector", map[string]any{}),
	})
	if res.Decision == authorization.DecisionAllow {
		t.Fatal("claims with an identity treated as internal")
	}
}

func TestRuleWorkers(t *testing.T) {
	a := newAuthorizer()
	poll := &workflowservice.PollWorkflowTaskQueueRequest{Namespace: "default"}
	expect(t, a, erin, "PollWorkflowTaskQueue", poll, "mlo: workers: only service identities (group mlo-services) may poll and complete tasks (PollWorkflowTaskQueue); erin@example.com is not one")
	expect(t, a, olivia, "PollActivityTaskQueue", &workflowservice.PollActivityTaskQueueRequest{Namespace: "default"}, "mlo: workers:")
	expect(t, a, alice, "RespondActivityTaskCompleted", &workflowservice.RespondActivityTaskCompletedRequest{Namespace: "default"}, "mlo: workers:")
	expect(t, a, orch, "PollWorkflowTaskQueue", poll, "")
	expect(t, a, orch, "RespondWorkflowTaskCompleted", &workflowservice.RespondWorkflowTaskCompletedRequest{Namespace: "default"}, "")
	expect(t, a, sched, "RecordActivityTaskHeartbeat", &workflowservice.RecordActivityTaskHeartbeatRequest{Namespace: "default"}, "")
	// A subject listed as a service without the group.
	a.Settings.ServiceSubjects = []string{"mlo-gpu-worker"}
	// (The claim mapper sets Service from the list; here the identity says so.)
	expect(t, a, &Identity{Subject: "mlo-gpu-worker", Service: true}, "PollActivityTaskQueue", &workflowservice.PollActivityTaskQueueRequest{Namespace: "default"}, "")
}

func TestRuleWorkerVersioning(t *testing.T) {
	a := newAuthorizer()
	setCurrent := &workflowservice.SetWorkerDeploymentCurrentVersionRequest{Namespace: "default", DeploymentName: "mlo-orchestrator", BuildId: "abc"}
	expect(t, a, sched, "SetWorkerDeploymentCurrentVersion", setCurrent,
		"mlo: workers: only mlo-orchestrator or admins (group mlo-admins) may change worker versioning and settings (SetWorkerDeploymentCurrentVersion); mlo-scheduler is neither")
	expect(t, a, erin, "SetWorkerDeploymentRampingVersion", &workflowservice.SetWorkerDeploymentRampingVersionRequest{Namespace: "default"}, "mlo: workers:")
	expect(t, a, &Identity{Subject: "mlo-gpu-worker", Service: true}, "UpdateWorkerVersioningRules", &workflowservice.UpdateWorkerVersioningRulesRequest{Namespace: "default"}, "mlo: workers:")
	expect(t, a, orch, "SetWorkerDeploymentCurrentVersion", setCurrent, "")
	expect(t, a, olivia, "SetWorkerDeploymentCurrentVersion", setCurrent, "")
	expect(t, a, olivia, "DeleteWorkerDeploymentVersion", &workflowservice.DeleteWorkerDeploymentVersionRequest{Namespace: "default"}, "")
	// Reading deployments needs any valid token.
	expect(t, a, mallory, "DescribeWorkerDeployment", &workflowservice.DescribeWorkerDeploymentRequest{Namespace: "default"}, "")
}

func TestRuleDecisionsUpdate(t *testing.T) {
	a := newAuthorizer()
	const wid = "promotion/fraud-detector"
	// Not a reviewer of the model.
	expect(t, a, carol, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "carol@example.com"}),
		"mlo: reviewers: carol@example.com is not a reviewer of fraud-detector (reviewers: alice@example.com, bob@example.com)")
	expect(t, a, erin, "UpdateWorkflowExecution", update(t, wid, "reject", map[string]any{"reviewer": "erin@example.com", "reason": "x"}), "mlo: reviewers:")
	expect(t, a, olivia, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "olivia@example.com"}), "mlo: reviewers:")
	// A reviewer naming another reviewer in the payload.
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "alice@example.com"}),
		"mlo: reviewer is caller: the decision names reviewer \"alice@example.com\" but the caller is bob@example.com")
	// The requester (per MloRequestedBy) approving: four eyes.
	expect(t, a, alice, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "alice@example.com"}),
		"mlo: four eyes: alice@example.com requested this run and cannot approve it")
	// ... but may reject.
	expect(t, a, alice, "UpdateWorkflowExecution", update(t, wid, "reject", map[string]any{"reviewer": "alice@example.com", "reason": "no"}), "")
	// The right reviewer.
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "bob@example.com", "comment": "ok"}), "")
	// The model is the segment after the prefix: fraud-baseline's reviewers are alice and carol.
	expect(t, a, carol, "UpdateWorkflowExecution", update(t, "promotion/fraud-baseline", "approve", map[string]any{"reviewer": "carol@example.com"}), "")
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, "rollback/fraud-baseline", "approve", map[string]any{"reviewer": "bob@example.com"}), "mlo: reviewers:")
	// A model without a deployed spec has no reviewers.
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, "promotion/unknown-model", "approve", map[string]any{"reviewer": "bob@example.com"}), "mlo: reviewers: model unknown-model has no deployed spec")
	// Payloads that cannot be read are refused.
	enc := update(t, wid, "approve", map[string]any{"reviewer": "bob@example.com"})
	enc.Request.Input.Args.Payloads[0].Metadata["encoding"] = []byte("binary/encrypted")
	expect(t, a, bob, "UpdateWorkflowExecution", enc, "mlo: reviewer is caller: cannot read the reviewer")
	// Other updates on protected workflows: only the orchestrator.
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, wid, "setDeadline", map[string]any{}), "mlo: decisions:")
	expect(t, a, orch, "UpdateWorkflowExecution", update(t, wid, "setDeadline", map[string]any{}), "")
	// Updates to other workflows: writers.
	expect(t, a, erin, "UpdateWorkflowExecution", update(t, "train-and-promote/fraud-detector/2025-01-01", "anything", map[string]any{}), "")
	expect(t, a, mallory, "UpdateWorkflowExecution", update(t, "train-and-promote/fraud-detector/2025-01-01", "anything", map[string]any{}), "mlo: membership:")
}

func TestRuleDecisionsSignal(t *testing.T) {
	a := newAuthorizer()
	const wid = "rollback/fraud-detector"
	expect(t, a, carol, "SignalWorkflowExecution", signal(t, wid, "approveSignal", map[string]any{"reviewer": "carol@example.com"}), "mlo: reviewers:")
	expect(t, a, alice, "SignalWorkflowExecution", signal(t, wid, "approveSignal", map[string]any{"reviewer": "bob@example.com"}), "mlo: reviewer is caller:")
	// bob requested this rollback.
	expect(t, a, bob, "SignalWorkflowExecution", signal(t, wid, "approveSignal", map[string]any{"reviewer": "bob@example.com"}), "mlo: four eyes: bob@example.com requested this run and cannot approve it")
	expect(t, a, alice, "SignalWorkflowExecution", signal(t, wid, "approveSignal", map[string]any{"reviewer": "alice@example.com"}), "")
	expect(t, a, bob, "SignalWorkflowExecution", signal(t, wid, "rejectSignal", map[string]any{"reviewer": "bob@example.com", "reason": "x"}), "")
	expect(t, a, erin, "SignalWorkflowExecution", signal(t, wid, "someSignal", map[string]any{}), "mlo: decisions:")
	// The documented names as signals: the same rules as the updates of those names.
	expect(t, a, carol, "SignalWorkflowExecution", signal(t, wid, "approve", map[string]any{"reviewer": "carol@example.com"}), "mlo: reviewers:")
	expect(t, a, alice, "SignalWorkflowExecution", signal(t, wid, "reject", map[string]any{"reviewer": "bob@example.com", "reason": "x"}), "mlo: reviewer is caller:")
	expect(t, a, bob, "SignalWorkflowExecution", signal(t, wid, "approve", map[string]any{"reviewer": "bob@example.com"}), "mlo: four eyes: bob@example.com requested this run and cannot approve it")
	expect(t, a, alice, "SignalWorkflowExecution", signal(t, wid, "approve", map[string]any{"reviewer": "alice@example.com"}), "")
	expect(t, a, bob, "SignalWorkflowExecution", signal(t, wid, "reject", map[string]any{"reviewer": "bob@example.com", "reason": "x"}), "")
	// A near miss of a decision name is no decision: refused by name, unless the orchestrator sends it.
	expect(t, a, alice, "SignalWorkflowExecution", signal(t, wid, "Approve", map[string]any{"reviewer": "alice@example.com"}),
		"mlo: decisions: rollback/fraud-detector accepts only the approve/reject updates and signals (or the signals approveSignal/rejectSignal) of reviewers; signal \"Approve\" from alice@example.com is refused")
	expect(t, a, orch, "SignalWorkflowExecution", signal(t, wid, "Approve", map[string]any{}), "")
	// The signal-only names are no updates.
	expect(t, a, alice, "UpdateWorkflowExecution", update(t, wid, "approveSignal", map[string]any{"reviewer": "alice@example.com"}), "mlo: decisions:")
	expect(t, a, alice, "UpdateWorkflowExecution", update(t, wid, "rejectSignal", map[string]any{"reviewer": "alice@example.com", "reason": "x"}), "mlo: decisions:")
	// ExecuteMultiOperation carrying an update is checked like an update.
	multi := &workflowservice.ExecuteMultiOperationRequest{Namespace: "default", Operations: []*workflowservice.ExecuteMultiOperationRequest_Operation{
		{Operation: &workflowservice.ExecuteMultiOperationRequest_Operation_StartWorkflow{StartWorkflow: start(t, "trainAndPromote", "train-and-promote/fraud-detector/x", map[string]any{"model": "fraud-detector", "requestedBy": "carol@example.com"})}},
		{Operation: &workflowservice.ExecuteMultiOperationRequest_Operation_UpdateWorkflow{UpdateWorkflow: update(t, "promotion/fraud-detector", "approve", map[string]any{"reviewer": "carol@example.com"})}},
	}}
	expect(t, a, carol, "ExecuteMultiOperation", multi, "mlo: reviewers:")
}

func TestRuleRequestedByAtStart(t *testing.T) {
	a := newAuthorizer()
	run := func(by string) map[string]any {
		return map[string]any{"model": "fraud-detector", "requestedBy": by,
			"spec": map[string]any{"name": "fraud-detector", "promotion": map[string]any{"reviewers": []string{"alice@example.com", "bob@example.com"}}}}
	}
	const wid = "train-and-promote/fraud-detector/2025-06-01"
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", wid, run("alice@example.com")),
		"mlo: requested by caller: the input's requestedBy is \"alice@example.com\" but the caller is erin@example.com")
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", wid, map[string]any{"model": "fraud-detector"}), "mlo: requested by caller:")
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", wid, run("erin@example.com")), "")
	// Services request as their subject.
	expect(t, a, sched, "StartWorkflowExecution", start(t, "trainAndPromote", wid, run("mlo-scheduler")), "")
	expect(t, a, sched, "StartWorkflowExecution", start(t, "trainAndPromote", wid, run("erin@example.com")), "mlo: requested by caller:")
	// SignalWithStart and ExecuteMultiOperation starts too.
	sws := &workflowservice.SignalWithStartWorkflowExecutionRequest{Namespace: "default", WorkflowId: wid,
		WorkflowType: &commonpb.WorkflowType{Name: "trainAndPromote"}, Input: payloads(t, run("frank@example.com")), SignalName: "x"}
	expect(t, a, erin, "SignalWithStartWorkflowExecution", sws, "mlo: requested by caller:")
	multi := &workflowservice.ExecuteMultiOperationRequest{Namespace: "default", Operations: []*workflowservice.ExecuteMultiOperationRequest_Operation{
		{Operation: &workflowservice.ExecuteMultiOperationRequest_Operation_StartWorkflow{StartWorkflow: start(t, "trainAndPromote", wid, run("frank@example.com"))}},
	}}
	expect(t, a, erin, "ExecuteMultiOperation", multi, "mlo: requested by caller:")
	// A run's spec naming reviewers the deployed spec does not have.
	forged := run("erin@example.com")
	forged["spec"] = map[string]any{"promotion": map[string]any{"reviewers": []string{"frank@example.com"}}}
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", wid, forged),
		"mlo: reviewers: the input names frank@example.com as a reviewer of fraud-detector")
	// Outsiders may not start runs.
	expect(t, a, mallory, "StartWorkflowExecution", start(t, "trainAndPromote", wid, run("mallory@example.com")),
		"mlo: membership: mallory@example.com is in none of the groups")
	// Other workflow types: requestedBy checked when present.
	expect(t, a, erin, "StartWorkflowExecution", start(t, "featureBackfill", "backfill/fraud-detector/a..b", map[string]any{"model": "fraud-detector"}), "")
	expect(t, a, erin, "StartWorkflowExecution", start(t, "featureBackfill", "backfill/fraud-detector/a..b", map[string]any{"requestedBy": "frank@example.com"}), "mlo: requested by caller:")
}

func TestRuleWhoStartsWhat(t *testing.T) {
	a := newAuthorizer()
	in := map[string]any{"model": "fraud-detector", "requestedBy": "erin@example.com", "candidateVersion": "3", "reviewers": []string{"alice@example.com"}}
	expect(t, a, erin, "StartWorkflowExecution", start(t, "promotion", "promotion/fraud-detector", in),
		"mlo: who starts what: only mlo-orchestrator starts promotion workflows (type \"promotion\", id \"promotion/fraud-detector\"); erin@example.com may not")
	expect(t, a, olivia, "StartWorkflowExecution", start(t, "promotion", "promotion/fraud-detector", in), "mlo: who starts what:")
	expect(t, a, sched, "StartWorkflowExecution", start(t, "promotion", "promotion/fraud-detector", in), "mlo: who starts what:")
	// Any type under a protected id, and the protected types under any id.
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", "promotion/fraud-detector", in), "mlo: who starts what:")
	expect(t, a, erin, "StartWorkflowExecution", start(t, "promotion", "my-promotion", in), "mlo: who starts what:")
	expect(t, a, orch, "StartWorkflowExecution", start(t, "promotion", "promotion/fraud-detector", in), "")
	expect(t, a, orch, "StartWorkflowExecution", start(t, "rollback", "rollback/fraud-detector", in), "")
	// SignalWithStart of a promotion: not even a reviewer.
	sws := &workflowservice.SignalWithStartWorkflowExecutionRequest{Namespace: "default", WorkflowId: "promotion/fraud-detector",
		WorkflowType: &commonpb.WorkflowType{Name: "promotion"}, Input: payloads(t, in), SignalName: "approveSignal"}
	expect(t, a, bob, "SignalWithStartWorkflowExecution", sws, "mlo: who starts what:")
}

// champion/<model> moves the champion alias: only the orchestrator starts it (as the child of a
// promotion or rollback), no schedule does, it takes no decisions, and only admins end it.
func TestRuleChampionMove(t *testing.T) {
	a := newAuthorizer()
	const wid = "champion/fraud-detector"
	in := map[string]any{"move": map[string]any{"model": "fraud-detector", "version": "3", "expectedChampion": "2"}, "cpuQueue": "mlo-cpu"}
	expect(t, a, erin, "StartWorkflowExecution", start(t, "championMove", wid, in),
		"mlo: who starts what: only mlo-orchestrator starts champion-move workflows (type \"championMove\", id \"champion/fraud-detector\"); erin@example.com may not")
	expect(t, a, olivia, "StartWorkflowExecution", start(t, "championMove", wid, in), "mlo: who starts what:")
	expect(t, a, alice, "StartWorkflowExecution", start(t, "championMove", wid, in), "mlo: who starts what:")
	expect(t, a, sched, "StartWorkflowExecution", start(t, "championMove", wid, in), "mlo: who starts what:")
	// The type under another id, another type (even a reviewer's rollback) under the id.
	expect(t, a, erin, "StartWorkflowExecution", start(t, "championMove", "my-move", in), "mlo: who starts what:")
	rb := map[string]any{"model": "fraud-detector", "requestedBy": "alice@example.com", "reason": "bad", "emergency": false}
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, rb), "mlo: who starts what:")
	expect(t, a, erin, "StartWorkflowExecution", start(t, "trainAndPromote", wid, in), "mlo: who starts what:")
	expect(t, a, orch, "StartWorkflowExecution", start(t, "championMove", wid, in), "")
	sws := &workflowservice.SignalWithStartWorkflowExecutionRequest{Namespace: "default", WorkflowId: wid,
		WorkflowType: &commonpb.WorkflowType{Name: "championMove"}, Input: payloads(t, in), SignalName: "approveSignal"}
	expect(t, a, bob, "SignalWithStartWorkflowExecution", sws, "mlo: who starts what:")
	// No decisions, not even a reviewer's.
	expect(t, a, bob, "UpdateWorkflowExecution", update(t, wid, "approve", map[string]any{"reviewer": "bob@example.com"}),
		"mlo: decisions: champion/fraud-detector moves the champion alias and accepts no decisions; update \"approve\" from bob@example.com is refused")
	expect(t, a, bob, "SignalWorkflowExecution", signal(t, wid, "approveSignal", map[string]any{"reviewer": "bob@example.com"}), "mlo: decisions:")
	// Ending it: admins only; other writes: the orchestrator.
	term := &workflowservice.TerminateWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec(wid)}
	expect(t, a, erin, "TerminateWorkflowExecution", term, "mlo: admins only: TerminateWorkflowExecution on champion/fraud-detector needs group mlo-admins")
	expect(t, a, olivia, "TerminateWorkflowExecution", term, "")
	// Schedules never start it.
	sch := &schedulepb.Schedule{Action: &schedulepb.ScheduleAction{Action: &schedulepb.ScheduleAction_StartWorkflow{
		StartWorkflow: &workflowpb.NewWorkflowExecutionInfo{WorkflowId: "x", WorkflowType: &commonpb.WorkflowType{Name: "championMove"}, Input: payloads(t, in)},
	}}}
	expect(t, a, orch, "CreateSchedule", &workflowservice.CreateScheduleRequest{Namespace: "default", ScheduleId: "x", Schedule: sch},
		"mlo: schedules: a schedule may not start champion-move workflows")
	// Reads stay open.
	expect(t, a, mallory, "DescribeWorkflowExecution", &workflowservice.DescribeWorkflowExecutionRequest{Namespace: "default", Execution: exec(wid)}, "")
}

func TestRuleRollbackStart(t *testing.T) {
	a := newAuthorizer()
	rb := func(by string, emergency bool, reviewers ...string) map[string]any {
		if reviewers == nil {
			reviewers = []string{"alice@example.com", "bob@example.com"}
		}
		return map[string]any{"model": "fraud-detector", "requestedBy": by, "reason": "bad", "emergency": emergency,
			"reviewers": reviewers, "deadline": "24h", "cpuQueue": "mlo-cpu"}
	}
	const wid = "rollback/fraud-detector"
	expect(t, a, erin, "StartWorkflowExecution", start(t, "rollback", wid, rb("erin@example.com", false)),
		"mlo: rollback: erin@example.com is neither a reviewer of fraud-detector nor an admin (group mlo-admins), so may not request its rollback")
	expect(t, a, carol, "StartWorkflowExecution", start(t, "rollback", wid, rb("carol@example.com", false)), "mlo: rollback:")
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, rb("bob@example.com", false)), "mlo: requested by caller:")
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, rb("alice@example.com", true)),
		"mlo: rollback: an emergency rollback (no approval) needs group mlo-admins")
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, rb("alice@example.com", false, "alice@example.com", "frank@example.com")),
		"mlo: reviewers: the input names frank@example.com")
	bad := rb("alice@example.com", false)
	bad["model"] = "fraud-baseline"
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, bad), "mlo: rollback: the input's model")
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", wid, rb("alice@example.com", false)), "")
	expect(t, a, olivia, "StartWorkflowExecution", start(t, "rollback", wid, rb("olivia@example.com", true)), "")
	// A rollback type under another id is the orchestrator's.
	expect(t, a, alice, "StartWorkflowExecution", start(t, "rollback", "rb-fraud-detector", rb("alice@example.com", false)), "mlo: who starts what:")
}

func TestRuleAdminsOnly(t *testing.T) {
	a := newAuthorizer()
	const wid = "promotion/fraud-detector"
	reqs := map[string]any{
		"TerminateWorkflowExecution":     &workflowservice.TerminateWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec(wid)},
		"ResetWorkflowExecution":         &workflowservice.ResetWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec(wid)},
		"RequestCancelWorkflowExecution": &workflowservice.RequestCancelWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec(wid)},
		"DeleteWorkflowExecution":        &workflowservice.DeleteWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec(wid)},
		"PauseActivity":                  &workflowservice.PauseActivityRequest{Namespace: "default", Execution: exec("rollback/fraud-baseline")},
	}
	for method, req := range reqs {
		expect(t, a, alice, method, req, "mlo: admins only: "+method)
		expect(t, a, orch, method, req, "mlo: admins only:")
		expect(t, a, olivia, method, req, "")
	}
	expect(t, a, erin, "TerminateWorkflowExecution", reqs["TerminateWorkflowExecution"],
		"mlo: admins only: TerminateWorkflowExecution on promotion/fraud-detector needs group mlo-admins; erin@example.com is not in it")
	// On other workflows, writers may.
	expect(t, a, erin, "TerminateWorkflowExecution", &workflowservice.TerminateWorkflowExecutionRequest{Namespace: "default", WorkflowExecution: exec("train-and-promote/x")}, "")
	// Batch operations: admins, whatever they target.
	batch := &workflowservice.StartBatchOperationRequest{Namespace: "default", VisibilityQuery: "WorkflowType='trainAndPromote'"}
	expect(t, a, erin, "StartBatchOperation", batch, "mlo: admins only: StartBatchOperation needs group mlo-admins")
	expect(t, a, olivia, "StartBatchOperation", batch, "")
	expect(t, a, erin, "StopBatchOperation", &workflowservice.StopBatchOperationRequest{Namespace: "default"}, "mlo: admins only:")
	// Batch signals: not even admins (they would skip the decision checks).
	sig := &workflowservice.StartBatchOperationRequest{Namespace: "default", VisibilityQuery: "WorkflowType='promotion'",
		Operation: &workflowservice.StartBatchOperationRequest_SignalOperation{SignalOperation: &batchpb.BatchOperationSignal{Signal: "approveSignal"}}}
	expect(t, a, olivia, "StartBatchOperation", sig, "mlo: batch: a batch operation may not send signals")
	// Namespace and search-attribute administration.
	expect(t, a, erin, "RegisterNamespace", &workflowservice.RegisterNamespaceRequest{Namespace: "x"}, "mlo: admins only:")
	expect(t, a, orch, api.OperatorServicePrefix+"AddSearchAttributes", nil, "mlo: admins only:")
	expect(t, a, olivia, api.OperatorServicePrefix+"AddSearchAttributes", nil, "")
	expect(t, a, erin, api.OperatorServicePrefix+"ListSearchAttributes", nil, "")
	expect(t, a, erin, api.AdminServicePrefix+"DescribeCluster", nil, "mlo: admins only:")
}

func TestRuleProtectedDefaultDeny(t *testing.T) {
	a := newAuthorizer()
	opts := &workflowservice.UpdateWorkflowExecutionOptionsRequest{Namespace: "default", WorkflowExecution: exec("promotion/fraud-detector")}
	expect(t, a, bob, "UpdateWorkflowExecutionOptions", opts, "mlo: admins only:")
	reset := &workflowservice.ResetStickyTaskQueueRequest{Namespace: "default", Execution: exec("promotion/fraud-detector")}
	expect(t, a, bob, "ResetStickyTaskQueue", reset, "mlo: workers:")
	// A write API not listed, targeting a protected id: refused unless orchestrator.
	upd := &workflowservice.UpdateActivityOptionsRequest{Namespace: "default", Execution: exec("train-and-promote/x")}
	expect(t, a, erin, "UpdateActivityOptions", upd, "")
	expect(t, a, mallory, "UpdateActivityOptions", upd, "mlo: membership:")
}

func TestRuleSchedules(t *testing.T) {
	a := newAuthorizer()
	sch := func(wfType, wid string, input any) *schedulepb.Schedule {
		return &schedulepb.Schedule{Action: &schedulepb.ScheduleAction{Action: &schedulepb.ScheduleAction_StartWorkflow{
			StartWorkflow: &workflowpb.NewWorkflowExecutionInfo{WorkflowId: wid, WorkflowType: &commonpb.WorkflowType{Name: wfType}, Input: payloads(t, input)},
		}}}
	}
	retrain := sch("trainAndPromote", "train-and-promote/fraud-detector/scheduled", map[string]any{"model": "fraud-detector", "requestedBy": "mlo-schedule"})
	create := &workflowservice.CreateScheduleRequest{Namespace: "default", ScheduleId: "mlo-retrain/fraud-detector", Schedule: retrain}
	expect(t, a, sched, "CreateSchedule", create,
		"mlo: requested by caller: the input's requestedBy is \"mlo-schedule\" but the caller is mlo-scheduler")
	expect(t, a, erin, "CreateSchedule", create, "mlo: requested by caller:")
	ok := &workflowservice.CreateScheduleRequest{Namespace: "default", ScheduleId: "mlo-retrain/fraud-detector",
		Schedule: sch("trainAndPromote", "train-and-promote/fraud-detector/scheduled", map[string]any{"model": "fraud-detector", "requestedBy": "mlo-scheduler"})}
	expect(t, a, sched, "CreateSchedule", ok, "")
	upd := &workflowservice.UpdateScheduleRequest{Namespace: "default", ScheduleId: "mlo-retrain/fraud-detector", Schedule: ok.Schedule}
	expect(t, a, erin, "UpdateSchedule", upd, "mlo: requested by caller:")
	expect(t, a, sched, "UpdateSchedule", upd, "")
	promo := &workflowservice.CreateScheduleRequest{Namespace: "default", ScheduleId: "x", Schedule: sch("promotion", "promotion/fraud-detector", map[string]any{})}
	expect(t, a, orch, "CreateSchedule", promo, "mlo: schedules: a schedule may not start promotion workflows")
	expect(t, a, mallory, "CreateSchedule", ok, "mlo: membership:")
	// Triggering, pausing: writers.
	patch := &workflowservice.PatchScheduleRequest{Namespace: "default", ScheduleId: "mlo-retrain/fraud-detector"}
	expect(t, a, erin, "PatchSchedule", patch, "")
	expect(t, a, mallory, "PatchSchedule", patch, "mlo: membership:")
}

func TestRuleWriterGroupsOff(t *testing.T) {
	a := newAuthorizer()
	a.Settings.WriterGroups = nil
	expect(t, a, mallory, "StartWorkflowExecution", start(t, "featureBackfill", "backfill/x", map[string]any{}), "")
}

func TestModelOf(t *testing.T) {
	for wid, want := range map[string]string{
		"promotion/fraud-detector": "fraud-detector", "rollback/fraud-baseline": "fraud-baseline",
		"promotion/fraud-detector/3": "fraud-detector", "train-and-promote/x": "",
	} {
		if got := modelOf(wid); got != want {
			t.Errorf("modelOf(%q) = %q, want %q", wid, got, want)
		}
	}
}

func TestRuleReaders(t *testing.T) {
	a := newAuthorizer()
	list := &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default"}
	// Default: any valid token reads.
	expect(t, a, mallory, "ListWorkflowExecutions", list, "")
	// With reader groups, an identity in none of the reader or writer groups may not read.
	a.Settings.ReaderGroups = []string{"mlo-auditors"}
	expect(t, a, mallory, "ListWorkflowExecutions", list,
		"mlo: readers: mallory@example.com is in none of the groups mlo-auditors, mlo-engineers, mlo-reviewers, mlo-admins, mlo-services, so may not read")
	expect(t, a, mallory, "QueryWorkflow", &workflowservice.QueryWorkflowRequest{Namespace: "default", Execution: exec("promotion/fraud-detector")}, "mlo: readers:")
	expect(t, a, erin, "ListWorkflowExecutions", list, "")
	auditor := &Identity{Subject: "dana", Email: "dana@example.com", Groups: []string{"mlo-auditors"}}
	expect(t, a, auditor, "ListWorkflowExecutions", list, "")
	expect(t, a, auditor, "StartWorkflowExecution", start(t, "featureBackfill", "backfill/x", map[string]any{}), "mlo: membership:")
}
