// Package e2e starts the built mlo-temporal-server with authentication on, against an
// in-process test OIDC issuer, and checks the rules through the Go SDK, raw gRPC and the
// Web UI. Skipped with -short. MLO_SERVER_BIN names a prebuilt binary; otherwise the test
// builds one (incremental with a warm build cache).
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"mlo.dev/server/internal/testissuer"
)

var quiet = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

const (
	identityHeader = "mlo-verified-identity"
	taskQueue      = "mlo-e2e"
)

// freeOr returns port when it is free on loopback, else a free one.
func freeOr(t *testing.T, port int) int {
	t.Helper()
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		_ = l.Close()
		return port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// serverBinary returns MLO_SERVER_BIN, or a binary built once for this test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MLO_SERVER_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "mlo-e2e-bin-"); buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "mlo-temporal-server")
		cmd := exec.Command("go", "build", "-o", builtBin, "..")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		start := time.Now()
		buildErr = cmd.Run()
		t.Logf("built the server in %s", time.Since(start).Round(time.Second))
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

type stack struct {
	iss     *testissuer.Issuer
	port    int
	uiPort  int
	address string
	logs    *bytes.Buffer
	// startIssuer starts a late issuer (no-op otherwise).
	startIssuer func()
}

func (s *stack) token(claims map[string]any) string { return s.iss.Sign(claims, time.Hour) }

func (s *stack) client(t *testing.T, claims map[string]any) client.Client {
	t.Helper()
	opts := client.Options{HostPort: s.address, Namespace: "default", Logger: quiet}
	if claims != nil {
		opts.Credentials = client.NewAPIKeyStaticCredentials(s.token(claims))
	}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// startStack starts the issuer and the server. With lateIssuer the issuer's port is
// reserved but nothing serves it until the returned stack's startIssuer is called.
func startStack(t *testing.T, lateIssuer bool) *stack {
	t.Helper()
	bin := serverBinary(t)
	iss := testissuer.New()
	issSrv := httptest.NewUnstartedServer(iss.Handler())
	t.Cleanup(issSrv.Close)
	iss.URL = "http://" + issSrv.Listener.Addr().String()
	startIssuer := func() { issSrv.Start() }
	if !lateIssuer {
		startIssuer()
		startIssuer = func() {}
	} else {
		// Refuse connections until started: close the reserved listener, reopen on start.
		addr := issSrv.Listener.Addr().String()
		_ = issSrv.Listener.Close()
		startIssuer = func() {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			issSrv.Listener = l
			issSrv.Start()
		}
	}

	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.Mkdir(models, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, revs := range map[string]string{"fraud-detector": "alice@example.com, bob@example.com", "fraud-baseline": "alice@example.com, carol@example.com"} {
		spec := fmt.Sprintf("name: %s\npromotion:\n  reviewers: [%s]\n  deadline: 72h\n", name, revs)
		if err := os.WriteFile(filepath.Join(models, name+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &stack{iss: iss, port: freeOr(t, 17233), uiPort: freeOr(t, 18233), logs: &bytes.Buffer{}, startIssuer: startIssuer}
	s.address = "127.0.0.1:" + strconv.Itoa(s.port)
	args := []string{
		"--ip", "127.0.0.1", "--port", strconv.Itoa(s.port), "--ui-port", strconv.Itoa(s.uiPort),
		"--http-port", strconv.Itoa(freeOr(t, 17243)), "--metrics-port", strconv.Itoa(freeOr(t, 17244)),
		"--internal-port", strconv.Itoa(freeOr(t, 17234)),
		"--db-filename", filepath.Join(dir, "temporal.db"), "--namespace", "default", "--log-level", "error",
		"--search-attribute", "MloModel=Keyword", "--search-attribute", "MloStage=Keyword",
		"--search-attribute", "MloCandidateVersion=Keyword", "--search-attribute", "MloRequestedBy=Keyword",
		"--auth", "--oidc-issuer", iss.URL, "--models-dir", models,
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "MLO_UI_OIDC_CLIENT_SECRET=e2e-secret")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", s.logs.String())
		}
	})
	// Ready when GetSystemInfo (no token needed) answers.
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := client.Dial(client.Options{HostPort: s.address, Namespace: "default", Logger: quiet})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, s.logs.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	return s
}

// denied fails unless err is a PermissionDenied whose message contains want.
func denied(t *testing.T, err error, want string) {
	t.Helper()
	var pd *serviceerror.PermissionDenied
	if !errors.As(err, &pd) {
		t.Fatalf("want PermissionDenied %q, got %v", want, err)
	}
	if !strings.Contains(pd.Message, want) {
		t.Fatalf("refusal %q does not contain %q", pd.Message, want)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// promotionWorkflow stands in for mlo's promotion workflow: it waits for an approve update
// or approveSignal.
func promotionWorkflow(ctx workflow.Context, _ map[string]any) (string, error) {
	decided := ""
	if err := workflow.SetUpdateHandler(ctx, "approve", func(ctx workflow.Context, d map[string]any) (string, error) {
		decided, _ = d["reviewer"].(string)
		return "approved by " + decided, nil
	}); err != nil {
		return "", err
	}
	ch := workflow.GetSignalChannel(ctx, "approveSignal")
	workflow.Go(ctx, func(ctx workflow.Context) {
		var d map[string]any
		ch.Receive(ctx, &d)
	})
	_ = workflow.Await(ctx, func() bool { return decided != "" })
	return decided, nil
}

func jsonArgs(t *testing.T, v ...any) *commonpb.Payloads {
	p, err := converter.GetDefaultDataConverter().ToPayloads(v...)
	ok(t, err)
	return p
}

func forgedHeader() *commonpb.Header {
	p, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"subject": "alice", "email": "alice@example.com"})
	return &commonpb.Header{Fields: map[string]*commonpb.Payload{identityHeader: p}}
}

// headerInHistory returns the mlo-verified-identity header of the first accepted update
// (kind "update") or signal (kind "signal") in the workflow's history.
func headerInHistory(t *testing.T, c client.Client, wid, kind string) map[string]string {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		ok(t, err)
		var h *commonpb.Header
		switch {
		case kind == "update" && ev.GetWorkflowExecutionUpdateAcceptedEventAttributes() != nil:
			h = ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetHeader()
		case kind == "signal" && ev.GetWorkflowExecutionSignaledEventAttributes() != nil:
			h = ev.GetWorkflowExecutionSignaledEventAttributes().GetHeader()
		default:
			continue
		}
		var v map[string]string
		ok(t, converter.GetDefaultDataConverter().FromPayload(h.GetFields()[identityHeader], &v))
		return v
	}
	t.Fatalf("no %s in the history of %s", kind, wid)
	return nil
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startStack(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	erin := testissuer.Person("erin@example.com", "mlo-engineers")
	alice := testissuer.Person("alice@example.com", "mlo-reviewers")
	bob := testissuer.Person("bob@example.com", "mlo-reviewers")
	carol := testissuer.Person("carol@example.com", "mlo-reviewers")
	olivia := testissuer.Person("olivia@example.com", "mlo-admins")
	mallory := testissuer.Person("mallory@example.com")
	orchestrator := testissuer.Service("mlo-orchestrator")

	anon := s.client(t, nil)
	cErin, cAlice, cBob, cCarol := s.client(t, erin), s.client(t, alice), s.client(t, bob), s.client(t, carol)
	cOlivia, cMallory, cOrch := s.client(t, olivia), s.client(t, mallory), s.client(t, orchestrator)

	t.Run("no token is refused, GetSystemInfo is not", func(t *testing.T) {
		_, err := anon.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
		ok(t, err)
		_, err = anon.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		denied(t, err, "mlo: authentication: no bearer token")
	})
	t.Run("an expired or forged token is refused", func(t *testing.T) {
		expired := s.iss.Sign(erin, -time.Hour)
		c, err := client.Dial(client.Options{HostPort: s.address, Logger: quiet, Credentials: client.NewAPIKeyStaticCredentials(expired)})
		ok(t, err)
		defer c.Close()
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		denied(t, err, "mlo: authentication: token expired")
	})
	t.Run("an outsider reads but does not write", func(t *testing.T) {
		_, err := cMallory.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		ok(t, err)
		_, err = cMallory.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "backfill/x/1", TaskQueue: taskQueue}, "featureBackfill", map[string]any{"model": "x"})
		denied(t, err, "mlo: membership:")
	})
	t.Run("an engineer starting a promotion is refused", func(t *testing.T) {
		_, err := cErin.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "promotion/fraud-detector", TaskQueue: taskQueue}, "promotion",
			map[string]any{"model": "fraud-detector", "requestedBy": "erin@example.com"})
		denied(t, err, "mlo: who starts what: only mlo-orchestrator starts promotion workflows")
	})
	t.Run("a run is requested by whoever starts it", func(t *testing.T) {
		in := map[string]any{"model": "fraud-detector", "requestedBy": "frank@example.com"}
		_, err := cErin.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train-and-promote/fraud-detector/e2e", TaskQueue: taskQueue}, "trainAndPromote", in)
		denied(t, err, "mlo: requested by caller: the input's requestedBy is \"frank@example.com\" but the caller is erin@example.com")
		in["requestedBy"] = "erin@example.com"
		_, err = cErin.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train-and-promote/fraud-detector/e2e", TaskQueue: taskQueue}, "trainAndPromote", in)
		ok(t, err)
	})
	t.Run("only services poll", func(t *testing.T) {
		poll := &workflowservice.PollWorkflowTaskQueueRequest{Namespace: "default", TaskQueue: &taskqueuepb.TaskQueue{Name: "mlo-nothing"}, Identity: "e2e"}
		_, err := cErin.WorkflowService().PollWorkflowTaskQueue(ctx, poll)
		denied(t, err, "mlo: workers: only service identities (group mlo-services) may poll")
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		// Allowed: the long poll returns empty, or runs into the deadline.
		resp, err := cOrch.WorkflowService().PollWorkflowTaskQueue(pctx, poll)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("orchestrator poll: %v", err)
		}
		t.Logf("orchestrator poll: task token %d bytes, error %v", len(resp.GetTaskToken()), err)
	})

	// The orchestrator's worker runs the stand-in promotion workflow.
	w := worker.New(cOrch, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(promotionWorkflow, workflow.RegisterOptions{Name: "promotion"})
	ok(t, w.Start())
	defer w.Stop()

	const wid = "promotion/fraud-detector"
	t.Run("the orchestrator starts a promotion", func(t *testing.T) {
		_, err := cOrch.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: wid, TaskQueue: taskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("MloRequestedBy").ValueSet("alice@example.com")),
		}, "promotion", map[string]any{"model": "fraud-detector", "requestedBy": "alice@example.com"})
		ok(t, err)
	})

	approve := func(c client.Client, reviewer string) error {
		_, err := c.WorkflowService().UpdateWorkflowExecution(ctx, &workflowservice.UpdateWorkflowExecutionRequest{
			Namespace:         "default",
			WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
			WaitPolicy:        &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED},
			Request: &updatepb.Request{
				Meta:  &updatepb.Meta{UpdateId: "approve-" + reviewer + strconv.FormatInt(time.Now().UnixNano(), 36)},
				Input: &updatepb.Input{Name: "approve", Header: forgedHeader(), Args: jsonArgs(t, map[string]any{"reviewer": reviewer, "comment": "e2e"})},
			},
		})
		return err
	}
	t.Run("decisions", func(t *testing.T) {
		denied(t, approve(cCarol, "carol@example.com"), "mlo: reviewers: carol@example.com is not a reviewer of fraud-detector")
		denied(t, approve(cBob, "alice@example.com"), "mlo: reviewer is caller: the decision names reviewer \"alice@example.com\" but the caller is bob@example.com")
		denied(t, approve(cAlice, "alice@example.com"), "mlo: four eyes: alice@example.com requested this run and cannot approve it")
		_, err := cBob.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
			Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
			SignalName: "approveSignal", Header: forgedHeader(), Input: jsonArgs(t, map[string]any{"reviewer": "bob@example.com"}),
		})
		ok(t, err)
		if v := headerInHistory(t, cBob, wid, "signal"); v["email"] != "bob@example.com" {
			t.Fatalf("signal header: %v", v)
		}
		// The signals under the documented names follow the rules of the updates; other names are refused.
		signal := func(c client.Client, name, reviewer string) error {
			_, err := c.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
				Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
				SignalName: name, Input: jsonArgs(t, map[string]any{"reviewer": reviewer, "reason": "e2e"}),
			})
			return err
		}
		denied(t, signal(cAlice, "approve", "alice@example.com"), "mlo: four eyes: alice@example.com requested this run and cannot approve it")
		denied(t, signal(cCarol, "reject", "carol@example.com"), "mlo: reviewers: carol@example.com is not a reviewer of fraud-detector")
		denied(t, signal(cBob, "Approve", "bob@example.com"), "mlo: decisions:")
		ok(t, signal(cAlice, "reject", "alice@example.com"))
		ok(t, approve(cBob, "bob@example.com"))
		if v := headerInHistory(t, cBob, wid, "update"); v["email"] != "bob@example.com" || v["subject"] != "bob@example.com" {
			t.Fatalf("update header: %v", v)
		}
		var result string
		ok(t, cBob.GetWorkflow(ctx, wid, "").Get(ctx, &result))
		if result != "bob@example.com" {
			t.Fatalf("decided by %q", result)
		}
	})
	t.Run("terminate is for admins", func(t *testing.T) {
		_, err := cOrch.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rollback/fraud-detector", TaskQueue: taskQueue}, "promotion", map[string]any{"model": "fraud-detector"})
		ok(t, err)
		denied(t, cErin.TerminateWorkflow(ctx, "rollback/fraud-detector", "", "e2e"), "mlo: admins only: TerminateWorkflowExecution on rollback/fraud-detector needs group mlo-admins; erin@example.com is not in it")
		ok(t, cOlivia.TerminateWorkflow(ctx, "rollback/fraud-detector", "", "e2e"))
	})
	t.Run("schedules run through the internal frontend", func(t *testing.T) {
		mk := func(c client.Client, id, by string) (client.ScheduleHandle, error) {
			return c.ScheduleClient().Create(ctx, client.ScheduleOptions{
				ID:     id,
				Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
				Paused: true,
				Action: &client.ScheduleWorkflowAction{ID: "train-and-promote/fraud-baseline/scheduled", Workflow: "trainAndPromote", TaskQueue: taskQueue,
					Args: []any{map[string]any{"model": "fraud-baseline", "requestedBy": by}}},
			})
		}
		_, err := mk(cErin, "mlo-retrain/fraud-baseline", "mlo-schedule")
		denied(t, err, "mlo: requested by caller: the input's requestedBy is \"mlo-schedule\"")
		h, err := mk(cErin, "mlo-retrain/fraud-baseline", "erin@example.com")
		ok(t, err)
		ok(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
		// The system worker starts the run with no token, through the internal frontend.
		waitFor(t, 60*time.Second, func() bool {
			r, err := cErin.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'trainAndPromote' AND WorkflowId STARTS_WITH 'train-and-promote/fraud-baseline/scheduled'"})
			return err == nil && r.GetCount() >= 1
		})
	})
	t.Run("batch operations are for admins", func(t *testing.T) {
		req := &workflowservice.StartBatchOperationRequest{
			Namespace: "default", JobId: "e2e-batch", Reason: "e2e", VisibilityQuery: "WorkflowType = 'trainAndPromote' AND ExecutionStatus = 'Running'",
			Operation: &workflowservice.StartBatchOperationRequest_TerminationOperation{TerminationOperation: &batchpb.BatchOperationTermination{}},
		}
		_, err := cErin.WorkflowService().StartBatchOperation(ctx, req)
		denied(t, err, "mlo: admins only: StartBatchOperation needs group mlo-admins")
		_, err = cOlivia.WorkflowService().StartBatchOperation(ctx, req)
		ok(t, err)
		// The batch runs in the system worker, through the internal frontend.
		waitFor(t, 60*time.Second, func() bool {
			r, err := cErin.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'trainAndPromote' AND ExecutionStatus = 'Running'"})
			return err == nil && r.GetCount() == 0
		})
	})
	t.Run("web UI logs in through OIDC and forwards the token", func(t *testing.T) {
		ui := fmt.Sprintf("http://127.0.0.1:%d", s.uiPort)
		waitFor(t, 30*time.Second, func() bool {
			r, err := http.Get(ui + "/")
			if err != nil {
				return false
			}
			r.Body.Close()
			return r.StatusCode == http.StatusOK
		})
		r, err := http.Get(ui + "/api/v1/namespaces/default/workflows")
		ok(t, err)
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("UI API without a token: %s", r.Status)
		}
		s.iss.LoginAs = map[string]any{"sub": "bob@example.com", "email": "bob@example.com", "groups": []string{"mlo-reviewers"}}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		r, err = browser.Get(ui + "/auth/sso")
		ok(t, err)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("login flow ended with %s at %s", r.Status, r.Request.URL)
		}
		u, _ := http.NewRequest(http.MethodGet, ui, nil)
		var user struct{ AccessToken, IDToken, Email string }
		for _, ck := range jar.Cookies(u.URL) {
			if ck.Name == "user0" {
				b, err := base64.StdEncoding.DecodeString(ck.Value)
				ok(t, err)
				ok(t, json.Unmarshal(b, &user))
			}
		}
		if user.AccessToken == "" || user.Email != "bob@example.com" {
			t.Fatalf("no user after login: %+v", user)
		}
		// What the UI's browser code sends: the access token and the ID token.
		api := func(method, path, body string) (int, string) {
			req, _ := http.NewRequest(method, ui+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+user.AccessToken)
			req.Header.Set("authorization-extras", user.IDToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := browser.Do(req)
			ok(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := api(http.MethodGet, "/api/v1/namespaces/default/workflows?query=WorkflowType%3D%27promotion%27", ""); code != http.StatusOK || !strings.Contains(body, wid) {
			t.Fatalf("UI list as bob: %d %s", code, body)
		}
		// Bob terminating through the UI is refused with the rule.
		code, body := api(http.MethodPost, "/api/v1/namespaces/default/workflows/"+strings.ReplaceAll(wid, "/", "%2F")+"/terminate", `{"reason":"ui"}`)
		if code != http.StatusForbidden || !strings.Contains(body, "mlo: admins only") {
			t.Fatalf("UI terminate as bob: %d %s", code, body)
		}
	})
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestAuthOff: without --auth the server behaves like `temporal server start-dev`: no token
// needed, no mlo rules.
func TestAuthOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	bin := serverBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	ok(t, err)
	if got := strings.TrimSpace(string(out)); got != "mlo-temporal-server 0.1.0 (server 1.29.1, ui 2.42.1)" {
		t.Fatalf("--version: %q", got)
	}
	port, uiPort := freeOr(t, 17233), freeOr(t, 18233)
	logs := &bytes.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort),
		"--namespace", "mlo-e2e", "--search-attribute", "MloModel=Keyword", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	ok(t, cmd.Start())
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	}()
	var c client.Client
	waitFor(t, 90*time.Second, func() bool {
		var err error
		c, err = client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Namespace: "mlo-e2e", Logger: quiet})
		return err == nil
	})
	defer c.Close()
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "promotion/fraud-detector", TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("MloModel").ValueSet("fraud-detector"))},
		"promotion", map[string]any{"requestedBy": "anyone"})
	ok(t, err)
	ok(t, c.TerminateWorkflow(ctx, "promotion/fraud-detector", "", "e2e"))
	waitFor(t, 30*time.Second, func() bool {
		r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/namespaces/mlo-e2e", uiPort))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
}

// TestLateIssuer: the server starts before the identity provider; calls are refused as
// "unreachable" and the UI answers 503 until the provider is up, then both work.
func TestLateIssuer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startStack(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ui := fmt.Sprintf("http://127.0.0.1:%d/", s.uiPort)
	waitFor(t, 10*time.Second, func() bool {
		r, err := http.Get(ui)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusServiceUnavailable
	})
	c := s.client(t, testissuer.Person("erin@example.com", "mlo-engineers"))
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	denied(t, err, "unreachable")
	s.startIssuer()
	waitFor(t, 30*time.Second, func() bool {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		return err == nil
	})
	waitFor(t, 30*time.Second, func() bool {
		r, err := http.Get(ui)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})
}
