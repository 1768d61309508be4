package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	schedulepb "go.temporal.io/api/schedule/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/api"
	"go.temporal.io/server/common/authorization"
)

// mlo's workflow types, update and signal names, and protected workflow-id prefixes.
const (
	TypeTrainAndPromote = "trainAndPromote"
	TypePromotion       = "promotion"
	TypeRollback        = "rollback"
	// TypeChampionMove moves a model's champion alias; promotions and rollbacks start it as a
	// child under champion/<model>, so that the moves of one model run one at a time.
	TypeChampionMove = "championMove"

	PrefixPromotion = "promotion/"
	PrefixRollback  = "rollback/"
	PrefixChampion  = "champion/"
)

// The decisions a reviewer may send, by kind: the updates approve/reject, and the signals under
// the same names or (workflows started before those signals existed) approveSignal/rejectSignal.
var (
	approveNames  = []string{"approve", "approveSignal"}
	decisionNames = map[string]map[string]bool{
		"update": {"approve": true, "reject": true},
		"signal": {"approve": true, "reject": true, "approveSignal": true, "rejectSignal": true},
	}
)

// RequesterLookup finds who requested a running promotion/rollback (its MloRequestedBy
// search attribute). Optional: the workflow itself enforces four eyes too.
type RequesterLookup interface {
	RequestedBy(ctx context.Context, namespace, workflowID string) (string, error)
}

// Authorizer enforces mlo's rules on every call to the public frontend. Each refusal is a
// PermissionDenied whose message names the rule ("mlo: <rule>: …").
type Authorizer struct {
	Settings Settings
	Models   *Models
	// Requesters, when set, lets the authorizer refuse an approval by the run's requester
	// before it reaches the workflow.
	Requesters RequesterLookup
}

var _ authorization.Authorizer = (*Authorizer)(nil)

// Methods only workers call: only services may call them.
var workerAPIs = map[string]bool{
	"PollWorkflowTaskQueue": true, "PollActivityTaskQueue": true, "PollNexusTaskQueue": true,
	"RespondWorkflowTaskCompleted": true, "RespondWorkflowTaskFailed": true, "RespondQueryTaskCompleted": true,
	"RespondActivityTaskCompleted": true, "RespondActivityTaskCompletedById": true,
	"RespondActivityTaskFailed": true, "RespondActivityTaskFailedById": true,
	"RespondActivityTaskCanceled": true, "RespondActivityTaskCanceledById": true,
	"RecordActivityTaskHeartbeat": true, "RecordActivityTaskHeartbeatById": true,
	"RespondNexusTaskCompleted": true, "RespondNexusTaskFailed": true,
	"ResetStickyTaskQueue": true, "ShutdownWorker": true, "RecordWorkerHeartbeat": true,
}

// Methods that change workers' versioning and task-queue settings: the orchestrator (whose
// workers run mlo's workflows) or admins. Another service could otherwise make a deployment
// version of its own current and take over the orchestrator's task queue.
var workerManagementAPIs = map[string]bool{
	"UpdateWorkerBuildIdCompatibility": true, "UpdateWorkerVersioningRules": true,
	"SetCurrentDeployment": true, "SetWorkerDeploymentCurrentVersion": true,
	"SetWorkerDeploymentRampingVersion": true, "SetWorkerDeploymentManager": true,
	"DeleteWorkerDeployment": true, "DeleteWorkerDeploymentVersion": true,
	"UpdateWorkerDeploymentVersionMetadata": true, "UpdateTaskQueueConfig": true, "UpdateWorkerConfig": true,
}

// Methods that end, rewind or reshape an execution: on promotion/rollback workflows only
// admins may call them.
var adminOnProtectedAPIs = map[string]bool{
	"TerminateWorkflowExecution": true, "ResetWorkflowExecution": true, "RequestCancelWorkflowExecution": true,
	"DeleteWorkflowExecution": true, "UpdateWorkflowExecutionOptions": true,
	"PauseActivity": true, "UnpauseActivity": true, "ResetActivity": true, "UpdateActivityOptions": true,
}

// Batch operations act on many workflows at once (a query can match promotions): admins.
var batchAPIs = map[string]bool{"StartBatchOperation": true, "StopBatchOperation": true}

// Authorize implements authorization.Authorizer.
func (a *Authorizer) Authorize(ctx context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	// Health checks and GetSystemInfo (which SDKs call before anything else) need no token.
	if authorization.IsHealthCheckAPI(target.APIName) {
		return allow, nil
	}
	// The server's own system worker, on the internal frontend.
	if isInternalCall(claims) {
		return allow, nil
	}
	id := IdentityFromClaims(claims)
	reason := a.check(ctx, id, target)
	if reason == "" {
		return allow, nil
	}
	// Returned as an error too: with the dynamic-config setting frontend.exposeAuthorizerErrors
	// (on in mlo's server) the caller sees this message instead of "Request unauthorized.".
	return authorization.Result{Decision: authorization.DecisionDeny, Reason: reason}, serviceerror.NewPermissionDenied(reason, reason)
}

var allow = authorization.Result{Decision: authorization.DecisionAllow}

func deny(rule, format string, args ...any) string {
	return "mlo: " + rule + ": " + fmt.Sprintf(format, args...)
}

// check returns "" to allow, else the refusal message.
func (a *Authorizer) check(ctx context.Context, id *Identity, target *authorization.CallTarget) string {
	if id == nil {
		return deny("authentication", "no bearer token; call with the header \"authorization: Bearer <access token>\" from %s", a.Settings.Issuer)
	}
	if !id.Authenticated() {
		return deny("authentication", "%s", id.AuthError)
	}
	method := api.MethodName(target.APIName)
	meta := api.GetMethodMetadata(target.APIName)
	switch {
	case strings.HasPrefix(target.APIName, api.WorkflowServicePrefix):
	case strings.HasPrefix(target.APIName, api.OperatorServicePrefix), strings.HasPrefix(target.APIName, api.AdminServicePrefix),
		strings.HasPrefix(target.APIName, api.NexusServicePrefix):
		if meta.Access == api.AccessReadOnly {
			return a.needReader(id)
		}
		if meta.Access == api.AccessAdmin || strings.HasPrefix(target.APIName, api.AdminServicePrefix) {
			return a.needAdmin(id, method, "")
		}
		return a.needWriter(id)
	default:
		return deny("unknown API", "%s is not a Temporal API this server authorizes", target.APIName)
	}

	switch {
	case workerAPIs[method]:
		if !id.Service {
			return deny("workers", "only service identities (group %s) may poll and complete tasks (%s); %s is not one", a.Settings.ServiceGroup, method, id.Name())
		}
		return ""
	case workerManagementAPIs[method]:
		if !a.isOrchestrator(id) && !id.Admin {
			return deny("workers", "only %s or admins (group %s) may change worker versioning and settings (%s); %s is neither", a.Settings.OrchestratorSubject, a.Settings.AdminGroup, method, id.Name())
		}
		return ""
	case batchAPIs[method]:
		// A batch signal reaches workflows through the internal frontend, without the
		// decision checks and without a verified identity: it could forge a reviewer's
		// decision, so no one sends one.
		if r, ok := target.Request.(*workflowservice.StartBatchOperationRequest); ok && r.GetSignalOperation() != nil {
			return deny("batch", "a batch operation may not send signals (it would bypass the reviewers' checks); %s must signal workflows one by one", id.Name())
		}
		return a.needAdmin(id, method, "")
	case meta.Access == api.AccessAdmin:
		return a.needAdmin(id, method, "")
	case meta.Access == api.AccessReadOnly:
		return a.needReader(id)
	}

	switch r := target.Request.(type) {
	case *workflowservice.StartWorkflowExecutionRequest:
		return a.checkStart(id, method, r.GetWorkflowType().GetName(), r.GetWorkflowId(), r.GetInput())
	case *workflowservice.SignalWithStartWorkflowExecutionRequest:
		return a.checkStart(id, method, r.GetWorkflowType().GetName(), r.GetWorkflowId(), r.GetInput())
	case *workflowservice.ExecuteMultiOperationRequest:
		for _, op := range r.GetOperations() {
			if s := op.GetStartWorkflow(); s != nil {
				if reason := a.checkStart(id, method, s.GetWorkflowType().GetName(), s.GetWorkflowId(), s.GetInput()); reason != "" {
					return reason
				}
			}
			if u := op.GetUpdateWorkflow(); u != nil {
				in := u.GetRequest().GetInput()
				if reason := a.checkDecision(ctx, id, target.Namespace, "update", u.GetWorkflowExecution().GetWorkflowId(), in.GetName(), in.GetArgs()); reason != "" {
					return reason
				}
			}
		}
		return ""
	case *workflowservice.UpdateWorkflowExecutionRequest:
		in := r.GetRequest().GetInput()
		return a.checkDecision(ctx, id, target.Namespace, "update", r.GetWorkflowExecution().GetWorkflowId(), in.GetName(), in.GetArgs())
	case *workflowservice.SignalWorkflowExecutionRequest:
		return a.checkDecision(ctx, id, target.Namespace, "signal", r.GetWorkflowExecution().GetWorkflowId(), r.GetSignalName(), r.GetInput())
	case *workflowservice.CreateScheduleRequest:
		return a.checkSchedule(id, r.GetSchedule())
	case *workflowservice.UpdateScheduleRequest:
		return a.checkSchedule(id, r.GetSchedule())
	}

	wid := targetWorkflowID(target.Request)
	if isProtected(wid) {
		if adminOnProtectedAPIs[method] {
			return a.needAdmin(id, method, wid)
		}
		if a.isOrchestrator(id) {
			return ""
		}
		return deny("protected workflows", "%s on %s is not allowed to %s; promotion and rollback workflows accept only reviewers' decisions, champion moves none, and all of them admins' terminate/reset/cancel/delete", method, wid, id.Name())
	}
	return a.needWriter(id)
}

func (a *Authorizer) needAdmin(id *Identity, method, wid string) string {
	if id.Admin {
		return ""
	}
	on := ""
	if wid != "" {
		on = " on " + wid
	}
	return deny("admins only", "%s%s needs group %s; %s is not in it", method, on, a.Settings.AdminGroup, id.Name())
}

// needWriter: writes need one of the writer groups (when configured).
func (a *Authorizer) needWriter(id *Identity) string {
	if len(a.Settings.WriterGroups) == 0 || id.Service || id.Admin {
		return ""
	}
	for _, g := range a.Settings.WriterGroups {
		if id.InGroup(g) {
			return ""
		}
	}
	return deny("membership", "%s is in none of the groups %s, so may only read", id.Name(), strings.Join(a.Settings.WriterGroups, ", "))
}

// needReader: reads need one of the reader or writer groups, when reader groups are configured.
func (a *Authorizer) needReader(id *Identity) string {
	if len(a.Settings.ReaderGroups) == 0 || id.Service || id.Admin {
		return ""
	}
	groups := append(append([]string{}, a.Settings.ReaderGroups...), a.Settings.WriterGroups...)
	for _, g := range groups {
		if id.InGroup(g) {
			return ""
		}
	}
	return deny("readers", "%s is in none of the groups %s, so may not read", id.Name(), strings.Join(groups, ", "))
}

func (a *Authorizer) isOrchestrator(id *Identity) bool {
	return id.Service && id.Subject == a.Settings.OrchestratorSubject
}

func isProtected(wid string) bool {
	return strings.HasPrefix(wid, PrefixPromotion) || strings.HasPrefix(wid, PrefixRollback) ||
		strings.HasPrefix(wid, PrefixChampion)
}

// isProtectedType: the workflow types only the orchestrator starts (and no schedule does).
func isProtectedType(wfType string) bool {
	return wfType == TypePromotion || wfType == TypeRollback || wfType == TypeChampionMove
}

// modelOf returns the model a promotion/rollback workflow id is for: the segment after
// the prefix.
func modelOf(wid string) string {
	for _, p := range []string{PrefixPromotion, PrefixRollback} {
		if rest, ok := strings.CutPrefix(wid, p); ok {
			m, _, _ := strings.Cut(rest, "/")
			return m
		}
	}
	return ""
}

// targetWorkflowID finds the workflow id a request acts on, for the requests not handled
// one by one.
func targetWorkflowID(req any) string {
	switch r := req.(type) {
	case interface {
		GetWorkflowExecution() *commonpb.WorkflowExecution
	}:
		return r.GetWorkflowExecution().GetWorkflowId()
	case interface {
		GetExecution() *commonpb.WorkflowExecution
	}:
		return r.GetExecution().GetWorkflowId()
	case interface{ GetWorkflowId() string }:
		return r.GetWorkflowId()
	}
	return ""
}

// checkStart applies the start rules: who may start promotion and rollback workflows, and
// that a run is requested by whoever starts it.
func (a *Authorizer) checkStart(id *Identity, method, wfType, wid string, input *commonpb.Payloads) string {
	protected := isProtected(wid) || isProtectedType(wfType)
	if protected {
		if a.isOrchestrator(id) {
			return ""
		}
		if method == "StartWorkflowExecution" && wfType == TypeRollback && strings.HasPrefix(wid, PrefixRollback) {
			return a.checkRollbackStart(id, wid, input)
		}
		return deny("who starts what", "only %s starts %s workflows (type %q, id %q); %s may not", a.Settings.OrchestratorSubject, kindOf(wfType, wid), wfType, wid, id.Name())
	}
	if reason := a.needWriter(id); reason != "" {
		return reason
	}
	obj, err := firstArg(input)
	if wfType == TypeTrainAndPromote {
		if err != nil {
			return deny("requested by caller", "cannot read requestedBy of the %s input: %v", wfType, err)
		}
		if reason := a.requestedByCaller(id, obj, true); reason != "" {
			return reason
		}
		// The run carries its spec; its reviewers must be the deployed spec's.
		if spec, ok := obj["spec"].(map[string]any); ok {
			if promo, ok := spec["promotion"].(map[string]any); ok {
				if reason := a.reviewersKnown(str(obj, "model"), promo); reason != "" {
					return reason
				}
			}
		}
		return ""
	}
	// Any other run whose input says who requested it must say the caller.
	if err == nil {
		return a.requestedByCaller(id, obj, false)
	}
	return ""
}

func kindOf(wfType, wid string) string {
	if wfType == TypeChampionMove || strings.HasPrefix(wid, PrefixChampion) {
		return "champion-move"
	}
	if wfType == TypeRollback || strings.HasPrefix(wid, PrefixRollback) {
		return "rollback"
	}
	return "promotion"
}

func (a *Authorizer) requestedByCaller(id *Identity, obj map[string]any, required bool) string {
	v, present := obj["requestedBy"]
	if !present && !required {
		return ""
	}
	got, _ := v.(string)
	if got == "" || got != id.Name() {
		return deny("requested by caller", "the input's requestedBy is %q but the caller is %s; a run is requested by whoever starts it", got, id.Name())
	}
	return ""
}

// reviewersKnown: reviewers named in an input (a run's spec, a rollback) must all be
// reviewers of the model's deployed spec, when the model has one.
func (a *Authorizer) reviewersKnown(model string, obj map[string]any) string {
	named, ok := strList(obj, "reviewers")
	if !ok || model == "" {
		return ""
	}
	deployed, known := a.Models.Reviewers(model)
	if !known {
		return ""
	}
	for _, r := range named {
		if !slices.Contains(deployed, r) {
			return deny("reviewers", "the input names %s as a reviewer of %s, but the deployed spec's reviewers are %s", r, model, strings.Join(deployed, ", "))
		}
	}
	return ""
}

// checkRollbackStart: a person may start rollback/<model> when a reviewer of the model or
// an admin, requesting it for themselves; an emergency rollback (no approval) needs an admin.
func (a *Authorizer) checkRollbackStart(id *Identity, wid string, input *commonpb.Payloads) string {
	model := modelOf(wid)
	if id.Service {
		return deny("who starts what", "only %s among services starts rollback workflows; %s may not", a.Settings.OrchestratorSubject, id.Name())
	}
	if !id.Admin && !a.Models.IsReviewer(model, id.Email) {
		return deny("rollback", "%s is neither a reviewer of %s nor an admin (group %s), so may not request its rollback", id.Name(), model, a.Settings.AdminGroup)
	}
	obj, err := firstArg(input)
	if err != nil {
		return deny("rollback", "cannot read the rollback input: %v", err)
	}
	if m := str(obj, "model"); m != model {
		return deny("rollback", "the input's model %q does not match the workflow id %s", m, wid)
	}
	if reason := a.requestedByCaller(id, obj, true); reason != "" {
		return reason
	}
	if e, _ := obj["emergency"].(bool); e && !id.Admin {
		return deny("rollback", "an emergency rollback (no approval) needs group %s; %s is not in it", a.Settings.AdminGroup, id.Name())
	}
	return a.reviewersKnown(model, obj)
}

// checkDecision applies the decision rules to an Update or Signal.
func (a *Authorizer) checkDecision(ctx context.Context, id *Identity, namespace, kind, wid, name string, args *commonpb.Payloads) string {
	if !isProtected(wid) {
		return a.needWriter(id)
	}
	if !decisionNames[kind][name] || strings.HasPrefix(wid, PrefixChampion) {
		if a.isOrchestrator(id) {
			return ""
		}
		if strings.HasPrefix(wid, PrefixChampion) {
			return deny("decisions", "%s moves the champion alias and accepts no decisions; %s %q from %s is refused (decide on promotion/… or rollback/…)", wid, kind, name, id.Name())
		}
		return deny("decisions", "%s accepts only the approve/reject updates and signals (or the signals approveSignal/rejectSignal) of reviewers; %s %q from %s is refused", wid, kind, name, id.Name())
	}
	model := modelOf(wid)
	reviewers, known := a.Models.Reviewers(model)
	if !known {
		return deny("reviewers", "model %s has no deployed spec, so it has no reviewers", model)
	}
	if id.Email == "" || !slices.Contains(reviewers, id.Email) {
		return deny("reviewers", "%s is not a reviewer of %s (reviewers: %s)", id.Name(), model, strings.Join(reviewers, ", "))
	}
	obj, err := firstArg(args)
	if err != nil {
		return deny("reviewer is caller", "cannot read the reviewer of the decision: %v", err)
	}
	if r := str(obj, "reviewer"); r != id.Email {
		return deny("reviewer is caller", "the decision names reviewer %q but the caller is %s", r, id.Email)
	}
	if slices.Contains(approveNames, name) && a.Requesters != nil {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// A failed lookup does not refuse: the workflow checks four eyes itself.
		if by, err := a.Requesters.RequestedBy(lctx, namespace, wid); err == nil && by != "" && by == id.Email {
			return deny("four eyes", "%s requested this run and cannot approve it", id.Email)
		}
	}
	return ""
}

// checkSchedule: a schedule that starts trainAndPromote requests its runs as the caller;
// no schedule may start promotion or rollback workflows.
func (a *Authorizer) checkSchedule(id *Identity, s *schedulepb.Schedule) string {
	if reason := a.needWriter(id); reason != "" {
		return reason
	}
	sw := s.GetAction().GetStartWorkflow()
	if sw == nil {
		return ""
	}
	wfType, wid := sw.GetWorkflowType().GetName(), sw.GetWorkflowId()
	if isProtected(wid) || isProtectedType(wfType) {
		return deny("schedules", "a schedule may not start %s workflows (type %q, id %q)", kindOf(wfType, wid), wfType, wid)
	}
	obj, err := firstArg(sw.GetInput())
	if wfType == TypeTrainAndPromote {
		if err != nil {
			return deny("requested by caller", "cannot read requestedBy of the scheduled %s input: %v", wfType, err)
		}
		return a.requestedByCaller(id, obj, true)
	}
	if err == nil {
		return a.requestedByCaller(id, obj, false)
	}
	return ""
}
