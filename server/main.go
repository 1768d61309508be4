// Command mlo-temporal-server is mlo's Temporal server: the Temporal server and Web UI of
// `temporal server start-dev` in one binary, plus, with --auth, OIDC authentication and
// mlo's authorization rules. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/uuid"
	uiversion "github.com/temporalio/ui-server/v2/server/version"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/headers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"mlo.dev/server/internal/auth"
	"mlo.dev/server/internal/devserver"
)

// Version is this binary's version.
const Version = "0.1.0"

func versionString() string {
	return fmt.Sprintf("mlo-temporal-server %s (server %s, ui %s)", Version, headers.ServerVersion, uiversion.UIVersion)
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mlo-temporal-server:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type flags struct {
	ip, uiIP, dbFile, logLevel, logFormat string
	port, uiPort, httpPort, metricsPort   int
	headless, version                     bool
	namespaces, searchAttrs, dynConfig    listFlag
	pragmas                               listFlag

	authOn                                              bool
	issuer, audiences, emailClaim, groupsClaim          string
	adminGroup, serviceGroup, serviceSubjects           string
	orchestrator, writerGroups, readerGroups, modelsDir string
	internalPort, internalHTTPPort                      int
	fourEyesLookup                                      bool
	uiClientID, uiScopes, uiCallback                    string
	uiAuthParams                                        listFlag
	uiIDTokenAsBearer                                   bool
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv(name); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// cliArgs turns the Temporal CLI's command line into this binary's: a leading `server start-dev`
// is dropped (the Temporal SDKs' test environments run `<path> server start-dev …` on an
// existing binary), and `--log-format pretty` (their default) becomes `text`.
func cliArgs(args []string) []string {
	if len(args) >= 2 && args[0] == "server" && args[1] == "start-dev" {
		args = args[2:]
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "--log-format" || a == "-log-format") && i+1 < len(args) && args[i+1] == "pretty":
			out = append(out, a, "text")
			i++
		case a == "--log-format=pretty" || a == "-log-format=pretty":
			out = append(out, "--log-format=text")
		default:
			out = append(out, a)
		}
	}
	return out
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	args = cliArgs(args)
	d := auth.DefaultSettings()
	f := &flags{}
	fs := flag.NewFlagSet("mlo-temporal-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nUsage: mlo-temporal-server [flags]\n\n"+
			"Flags mirror `temporal server start-dev`; auth flags also read MLO_* variables.\n"+
			"The Web UI's OIDC client secret is read only from MLO_UI_OIDC_CLIENT_SECRET.\n\n", versionString())
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.StringVar(&f.ip, "ip", "127.0.0.1", "IP address the frontend, HTTP API and metrics bind to")
	fs.IntVar(&f.port, "port", 7233, "frontend gRPC port")
	fs.StringVar(&f.uiIP, "ui-ip", "", "IP address the Web UI binds to (default: --ip)")
	fs.IntVar(&f.uiPort, "ui-port", 0, "Web UI port (default: --port + 1000)")
	fs.BoolVar(&f.headless, "headless", false, "no Web UI")
	fs.IntVar(&f.httpPort, "http-port", 0, "frontend HTTP API port (default: a free port)")
	fs.IntVar(&f.metricsPort, "metrics-port", 0, "Prometheus metrics port (default: a free port)")
	fs.StringVar(&f.dbFile, "db-filename", "", "SQLite database file, created when missing (default: in memory)")
	fs.Var(&f.namespaces, "namespace", "namespace to create besides \"default\" (repeatable)")
	fs.Var(&f.searchAttrs, "search-attribute", "search attribute to register, Name=Type (repeatable)")
	fs.Var(&f.dynConfig, "dynamic-config-value", "dynamic config value, KEY=JSON (repeatable)")
	fs.Var(&f.pragmas, "sqlite-pragma", "SQLite pragma, KEY=VALUE (repeatable)")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn, error or never")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")

	fs.BoolVar(&f.authOn, "auth", envBool("MLO_AUTH", false), "authenticate callers with OIDC tokens and enforce mlo's rules (env MLO_AUTH)")
	fs.StringVar(&f.issuer, "oidc-issuer", env("MLO_OIDC_ISSUER", d.Issuer), "OIDC issuer URL (env MLO_OIDC_ISSUER)")
	fs.StringVar(&f.audiences, "oidc-audience", env("MLO_OIDC_AUDIENCE", strings.Join(d.Audiences, ",")), "accepted token audiences, comma-separated (env MLO_OIDC_AUDIENCE)")
	fs.StringVar(&f.emailClaim, "oidc-email-claim", env("MLO_OIDC_EMAIL_CLAIM", d.EmailClaim), "claim holding the e-mail (env MLO_OIDC_EMAIL_CLAIM)")
	fs.StringVar(&f.groupsClaim, "oidc-groups-claim", env("MLO_OIDC_GROUPS_CLAIM", d.GroupsClaim), "claim holding the groups (env MLO_OIDC_GROUPS_CLAIM)")
	fs.StringVar(&f.adminGroup, "admin-group", env("MLO_ADMIN_GROUP", d.AdminGroup), "group of admins (env MLO_ADMIN_GROUP)")
	fs.StringVar(&f.serviceGroup, "service-group", env("MLO_SERVICE_GROUP", d.ServiceGroup), "group of service identities (env MLO_SERVICE_GROUP)")
	fs.StringVar(&f.serviceSubjects, "service-subjects", env("MLO_SERVICE_SUBJECTS", ""), "further subjects treated as services, comma-separated (env MLO_SERVICE_SUBJECTS)")
	fs.StringVar(&f.orchestrator, "orchestrator-subject", env("MLO_ORCHESTRATOR_SUBJECT", d.OrchestratorSubject), "service subject that starts promotion/rollback workflows (env MLO_ORCHESTRATOR_SUBJECT)")
	fs.StringVar(&f.writerGroups, "writer-groups", env("MLO_WRITER_GROUPS", strings.Join(d.WriterGroups, ",")), "groups that may write; empty: every valid token (env MLO_WRITER_GROUPS)")
	fs.StringVar(&f.readerGroups, "reader-groups", env("MLO_READER_GROUPS", ""), "groups that may read besides the writer groups (e.g. auditors); empty: every valid token (env MLO_READER_GROUPS)")
	fs.StringVar(&f.modelsDir, "models-dir", env("MLO_MODELS_DIR", "models"), "directory of model specs, for reviewers; several separated by ':' (env MLO_MODELS_DIR)")
	fs.IntVar(&f.internalPort, "internal-port", envInt("MLO_TEMPORAL_INTERNAL_PORT", 0), "internal frontend gRPC port on 127.0.0.1, with --auth (default: a free port)")
	fs.IntVar(&f.internalHTTPPort, "internal-http-port", envInt("MLO_TEMPORAL_INTERNAL_HTTP_PORT", 0), "internal frontend HTTP port on 127.0.0.1, with --auth (default: a free port)")
	fs.BoolVar(&f.fourEyesLookup, "four-eyes-lookup", true, "refuse an approval by the run's requester (MloRequestedBy) before it reaches the workflow")
	fs.StringVar(&f.uiClientID, "ui-oidc-client-id", env("MLO_UI_OIDC_CLIENT_ID", "temporal-ui"), "Web UI's OIDC client id (env MLO_UI_OIDC_CLIENT_ID)")
	fs.StringVar(&f.uiScopes, "ui-oidc-scopes", env("MLO_UI_OIDC_SCOPES", "openid,profile,email,groups,offline_access"), "Web UI's OIDC scopes, comma-separated")
	fs.StringVar(&f.uiCallback, "ui-oidc-callback-url", env("MLO_UI_OIDC_CALLBACK_URL", ""), "Web UI's OIDC callback (default http://<ui-ip>:<ui-port>/auth/sso/callback)")
	fs.Var(&f.uiAuthParams, "ui-oidc-auth-param", "extra parameter for the provider's authorization URL, KEY=VALUE (repeatable)")
	fs.BoolVar(&f.uiIDTokenAsBearer, "ui-id-token-as-bearer", envBool("MLO_UI_ID_TOKEN_AS_BEARER", false), "Web UI sends the ID token as bearer (for opaque access tokens; add the UI client to --oidc-audience)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return f, nil
}

func keyValues(list []string, what string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q is not KEY=VALUE", what, kv)
		}
		out[k] = v
	}
	return out, nil
}

func searchAttributes(list []string) (map[string]enums.IndexedValueType, error) {
	kv, err := keyValues(list, "search attribute")
	if err != nil {
		return nil, err
	}
	out := map[string]enums.IndexedValueType{}
	for name, typ := range kv {
		var t enums.IndexedValueType
		for short, v := range enums.IndexedValueType_shorthandValue {
			if strings.EqualFold(short, typ) {
				t = enums.IndexedValueType(v)
			}
		}
		if t == enums.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return nil, fmt.Errorf("search attribute %s: unknown type %q", name, typ)
		}
		out[name] = t
	}
	return out, nil
}

func dynamicConfig(list []string) (map[string]any, error) {
	kv, err := keyValues(list, "dynamic config value")
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, raw := range kv {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("dynamic config value %s: %w", k, err)
		}
		// Dynamic config wants int (not int64 or float) for integers.
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = int(i)
			} else if fl, err := n.Float64(); err == nil {
				v = fl
			}
		}
		out[k] = v
	}
	return out, nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, slog.Level, error) {
	var lvl slog.Level
	if level == "never" {
		lvl = slog.Level(100)
	} else if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, 0, fmt.Errorf("--log-level %q: %w", level, err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), lvl, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), lvl, nil
	}
	return nil, 0, fmt.Errorf("--log-format %q: text or json", format)
}

func run(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.version {
		fmt.Fprintln(stdout, versionString())
		return nil
	}
	if f.ip == "localhost" {
		f.ip = "127.0.0.1"
	}
	logger, level, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	opts := devserver.Options{
		IP:          f.ip,
		Port:        f.port,
		HTTPPort:    f.httpPort,
		MetricsPort: f.metricsPort,
		DBFile:      f.dbFile,
		ClusterID:   uuid.NewString(),
		Logger:      logger,
		LogLevel:    level,
		Namespaces:  []string{"default"},
	}
	for _, ns := range f.namespaces {
		if !slices.Contains(opts.Namespaces, ns) {
			opts.Namespaces = append(opts.Namespaces, ns)
		}
	}
	if opts.SearchAttributes, err = searchAttributes(f.searchAttrs); err != nil {
		return err
	}
	if opts.DynamicConfig, err = dynamicConfig(f.dynConfig); err != nil {
		return err
	}
	if opts.SQLitePragmas, err = keyValues(f.pragmas, "sqlite pragma"); err != nil {
		return err
	}
	check := func(what string, ip string, port int) error {
		if port == 0 {
			return nil
		}
		if err := devserver.CheckPortFree(ip, port); err != nil {
			return fmt.Errorf("can't use %s port %d: %w", what, port, err)
		}
		return nil
	}
	if err := check("frontend", f.ip, f.port); err != nil {
		return err
	}
	if err := check("HTTP", f.ip, f.httpPort); err != nil {
		return err
	}
	if err := check("metrics", f.ip, f.metricsPort); err != nil {
		return err
	}
	if !f.headless {
		opts.UIIP, opts.UIPort = f.uiIP, f.uiPort
		if opts.UIIP == "" {
			opts.UIIP = f.ip
		}
		if opts.UIPort == 0 {
			opts.UIPort = min(f.port+1000, 65535)
		}
		if err := check("UI", opts.UIIP, opts.UIPort); err != nil {
			return err
		}
	}

	var internalConn *grpc.ClientConn
	var models *auth.Models
	if f.authOn {
		a, conn, m, err := authOptions(f, opts, logger)
		if err != nil {
			return err
		}
		opts.Auth, internalConn, models = a, conn, m
		if err := check("internal frontend", "127.0.0.1", f.internalPort); err != nil {
			return err
		}
		if err := check("internal frontend HTTP", "127.0.0.1", f.internalHTTPPort); err != nil {
			return err
		}
	}
	if internalConn != nil {
		defer internalConn.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := devserver.Start(opts)
	if err != nil {
		return fmt.Errorf("failed starting server: %w", err)
	}
	defer srv.Stop()

	host := f.ip
	if host == "127.0.0.1" || host == "::1" {
		host = "localhost"
	}
	fmt.Fprintf(stdout, "%s\n\n", versionString())
	fmt.Fprintf(stdout, "%-9s %s:%d\n", "Server:", host, f.port)
	if f.httpPort > 0 {
		fmt.Fprintf(stdout, "%-9s %s:%d\n", "HTTP:", host, f.httpPort)
	}
	if opts.UIIP != "" {
		fmt.Fprintf(stdout, "%-9s http://%s:%d\n", "UI:", host, opts.UIPort)
	}
	fmt.Fprintf(stdout, "%-9s http://%s:%d/metrics\n", "Metrics:", host, srv.MetricsPort)
	if f.authOn {
		fmt.Fprintf(stdout, "%-9s on: issuer %s, audience %s, models %s (%d), internal frontend %s\n",
			"Auth:", f.issuer, f.audiences, f.modelsDir, models.Count(), srv.InternalAddress)
	} else {
		fmt.Fprintf(stdout, "%-9s off\n", "Auth:")
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping server...")
	return nil
}

// authOptions builds the claim mapper, authorizer and interceptor from the flags.
func authOptions(f *flags, opts devserver.Options, logger *slog.Logger) (*devserver.AuthOptions, *grpc.ClientConn, *auth.Models, error) {
	issuer := strings.TrimRight(f.issuer, "/")
	if issuer == "" {
		return nil, nil, nil, errors.New("--auth needs --oidc-issuer")
	}
	s := auth.Settings{
		Issuer:              issuer,
		Audiences:           auth.SplitList(f.audiences),
		EmailClaim:          f.emailClaim,
		GroupsClaim:         f.groupsClaim,
		AdminGroup:          f.adminGroup,
		ServiceGroup:        f.serviceGroup,
		ServiceSubjects:     auth.SplitList(f.serviceSubjects),
		OrchestratorSubject: f.orchestrator,
		WriterGroups:        auth.SplitList(f.writerGroups),
		ReaderGroups:        auth.SplitList(f.readerGroups),
		UIClientID:          f.uiClientID,
	}
	if len(s.Audiences) == 0 {
		return nil, nil, nil, errors.New("--oidc-audience is empty")
	}
	keys := auth.NewKeySource(issuer)
	go keys.Warm(context.Background())

	models := auth.NewModels(f.modelsDir)
	models.OnProblem = func(file string, err error) {
		logger.Warn("model spec not usable for reviewers", "file", file, "error", err)
	}
	authorizer := &auth.Authorizer{
		Settings: s,
		Models:   models,
	}

	internalPort := f.internalPort
	if internalPort == 0 {
		p, err := devserver.FreePort("127.0.0.1")
		if err != nil {
			return nil, nil, nil, err
		}
		internalPort = p
	}
	var conn *grpc.ClientConn
	if f.fourEyesLookup {
		// The internal frontend needs no token; the connection is made lazily.
		c, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", internalPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, nil, nil, err
		}
		conn = c
		authorizer.Requesters = &auth.WorkflowRequesters{Client: workflowservice.NewWorkflowServiceClient(c)}
	}

	secret := os.Getenv("MLO_UI_OIDC_CLIENT_SECRET")
	uiIP := opts.UIIP
	if uiIP == "" {
		uiIP = f.ip
	}
	callback := f.uiCallback
	if callback == "" {
		callback = fmt.Sprintf("http://%s:%d/auth/sso/callback", uiIP, opts.UIPort)
	}
	params, err := keyValues(f.uiAuthParams, "--ui-oidc-auth-param")
	if err != nil {
		return nil, nil, nil, err
	}
	return &devserver.AuthOptions{
		ClaimMapper:      auth.NewClaimMapper(s, keys, opts.Namespaces),
		Authorizer:       authorizer,
		Interceptors:     []grpc.UnaryServerInterceptor{auth.IdentityHeaderInterceptor},
		InternalPort:     internalPort,
		InternalHTTPPort: f.internalHTTPPort,
		UI: devserver.UIAuth{
			Issuer:             issuer,
			ClientID:           f.uiClientID,
			ClientSecret:       secret,
			Scopes:             auth.SplitList(f.uiScopes),
			CallbackURL:        callback,
			AuthParams:         params,
			UseIDTokenAsBearer: f.uiIDTokenAsBearer,
		},
	}, conn, models, nil
}
