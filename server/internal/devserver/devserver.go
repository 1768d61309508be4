// Package devserver assembles mlo's single-binary Temporal server: every Temporal service
// in one process on SQLite, the Web UI, and, when authentication is on, an internal
// frontend on loopback for the server's own system worker plus mlo's claim mapper,
// authorizer and interceptors on the public frontend. With authentication off it is
// configured like `temporal server start-dev` (Temporal CLI v1.5.1).
package devserver

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/components/callbacks"
	"go.temporal.io/server/components/nexusoperations"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
)

// Options configure the server. Zero ports (other than Port) are chosen free at start.
type Options struct {
	IP          string
	Port        int
	HTTPPort    int
	MetricsPort int
	// UIIP empty: no Web UI (headless).
	UIIP   string
	UIPort int
	// DBFile empty: in-memory SQLite.
	DBFile           string
	SQLitePragmas    map[string]string
	Namespaces       []string
	SearchAttributes map[string]enums.IndexedValueType
	// DynamicConfig overrides and adds to the dev-server defaults.
	DynamicConfig map[string]any
	ClusterID     string
	Logger        *slog.Logger
	LogLevel      slog.Level
	// Auth nil: no authentication, exactly like the dev server.
	Auth *AuthOptions
}

// AuthOptions turn on authentication and authorization.
type AuthOptions struct {
	ClaimMapper  authorization.ClaimMapper
	Authorizer   authorization.Authorizer
	Interceptors []grpc.UnaryServerInterceptor
	// InternalPort is the internal frontend's gRPC port (loopback; 0: a free port), and
	// InternalHTTPPort its HTTP port (0: a free port).
	InternalPort     int
	InternalHTTPPort int
	UI               UIAuth
}

// DevServerDynamicConfig are the dynamic-config values `temporal server start-dev` (CLI
// v1.5.1) applies, other than the address-dependent Nexus callback settings.
func DevServerDynamicConfig() map[string]any {
	return map[string]any{
		// Search attributes visible as soon as they are created.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key().String(): true,
		// With that cache off, persistence QPS limits raised to match.
		dynamicconfig.FrontendPersistenceMaxQPS.Key().String(): 10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key().String():  45000,
		// Host-level mutable-state cache of 8k entries.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key().String(): 8096,
		// Visibility RPS per namespace raised for UIs and CLIs listing a lot.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key().String(): 100,
	}
}

// Server is a running server.
type Server struct {
	temporal temporal.Server
	ui       *uiRunner
	// Addresses chosen at start.
	InternalAddress string
	MetricsPort     int
	HTTPPort        int
}

// Start builds and starts the server; the Web UI starts in the background.
func Start(o Options) (*Server, error) {
	if o.IP == "" || o.Port == 0 || len(o.Namespaces) == 0 || o.Logger == nil {
		return nil, fmt.Errorf("ip, port, namespaces and logger are required")
	}
	if o.ClusterID == "" {
		return nil, fmt.Errorf("cluster id is required")
	}
	var err error
	if o.HTTPPort == 0 {
		if o.HTTPPort, err = FreePort(o.IP); err != nil {
			return nil, err
		}
	}
	if o.MetricsPort == 0 {
		if o.MetricsPort, err = FreePort(o.IP); err != nil {
			return nil, err
		}
	}
	if o.Auth != nil {
		if o.Auth.InternalPort == 0 {
			if o.Auth.InternalPort, err = FreePort(loopback); err != nil {
				return nil, err
			}
		}
		if o.Auth.InternalHTTPPort == 0 {
			if o.Auth.InternalHTTPPort, err = FreePort(loopback); err != nil {
				return nil, err
			}
		}
	}
	opts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	ts, err := temporal.NewServer(opts...)
	if err != nil {
		return nil, err
	}
	s := &Server{temporal: ts, MetricsPort: o.MetricsPort, HTTPPort: o.HTTPPort}
	if o.Auth != nil {
		s.InternalAddress = hostPort(loopback, o.Auth.InternalPort)
	}
	if o.UIIP != "" {
		if s.ui, err = o.startUI(); err != nil {
			return nil, err
		}
	}
	if err := ts.Start(); err != nil {
		if s.ui != nil {
			s.ui.stop()
		}
		return nil, err
	}
	return s, nil
}

// Stop stops the UI and the server.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.stop()
	}
	_ = s.temporal.Stop()
}

const loopback = "127.0.0.1"

func (o *Options) serverOptions() ([]temporal.ServerOption, error) {
	conf, err := o.serverConfig()
	if err != nil {
		return nil, err
	}
	services := slices.Clone(temporal.DefaultServices)
	if o.Auth != nil {
		services = append(services, string(primitives.InternalFrontendService))
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, name := range services {
		sn := primitives.ServiceName(name)
		ip := conf.Services[name].RPC.BindOnIP
		if addr := net.ParseIP(ip); addr == nil || addr.IsUnspecified() {
			ip = loopback
		}
		hosts[sn] = static.SingleLocalHost(hostPort(ip, conf.Services[name].RPC.GRPCPort))
	}
	logger := Logger{Log: o.Logger, Level: o.LogLevel}
	opts := []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(services),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(o.dynamicConfig()),
	}
	if o.Auth == nil {
		// No authentication: Temporal's no-op authorizer and claim mapper, as the dev server.
		opts = append(opts,
			temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
		)
		return opts, nil
	}
	opts = append(opts,
		temporal.WithAuthorizer(o.Auth.Authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return o.Auth.ClaimMapper }),
	)
	if len(o.Auth.Interceptors) > 0 {
		opts = append(opts, temporal.WithChainedFrontendGrpcInterceptors(o.Auth.Interceptors...))
	}
	return opts, nil
}

func (o *Options) dynamicConfig() dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{}
	for k, v := range DevServerDynamicConfig() {
		dc[dynamicconfig.Key(k)] = v
	}
	// Nexus completion callbacks go to a frontend's HTTP API. With authentication on they
	// go to the internal frontend, which needs no token.
	cbHost := hostPort(o.IP, o.HTTPPort)
	if o.Auth != nil {
		cbHost = hostPort(loopback, o.Auth.InternalHTTPPort)
	}
	dc[nexusoperations.CallbackURLTemplate.Key()] = "http://" + cbHost + "/namespaces/{{.NamespaceName}}/nexus/callback"
	dc[callbacks.AllowedAddresses.Key()] = []struct {
		Pattern       string
		AllowInsecure bool
	}{{Pattern: cbHost, AllowInsecure: true}}
	if o.Auth != nil {
		// Refusals reach the caller with mlo's message naming the rule.
		dc[dynamicconfig.ExposeAuthorizerErrors.Key()] = true
	}
	for k, v := range o.DynamicConfig {
		dc[dynamicconfig.Key(k)] = v
	}
	return dc
}

func (o *Options) serverConfig() (*config.Config, error) {
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
		ListenAddress: hostPort(o.IP, o.MetricsPort),
		HandlerPath:   "/metrics",
	}}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	sqlConf, err := o.sqlConfig()
	if err != nil {
		return nil, err
	}
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}
	const clusterName = "active"
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             hostPort(o.IP, o.Port),
				HTTPAddress:            hostPort(o.IP, o.HTTPPort),
				ClusterID:              o.ClusterID,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	frontend := config.Service{}
	frontend.RPC.GRPCPort, frontend.RPC.HTTPPort, frontend.RPC.BindOnIP = o.Port, o.HTTPPort, o.IP
	conf.Services[string(primitives.FrontendService)] = frontend
	for _, name := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		s := config.Service{}
		if s.RPC.GRPCPort, err = FreePort(o.IP); err != nil {
			return nil, err
		}
		s.RPC.BindOnIP = o.IP
		conf.Services[string(name)] = s
	}
	if o.Auth != nil {
		// The internal frontend: loopback only, Temporal's no-op claim mapper, used by the
		// system worker (schedules, batch operations, …) in place of the public frontend.
		// publicClient must then stay empty.
		s := config.Service{}
		s.RPC.GRPCPort, s.RPC.HTTPPort, s.RPC.BindOnIP = o.Auth.InternalPort, o.Auth.InternalHTTPPort, loopback
		conf.Services[string(primitives.InternalFrontendService)] = s
	} else {
		conf.PublicClient.HostPort = hostPort(o.IP, o.Port)
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	return conf, nil
}

func (o *Options) sqlConfig() (*config.SQL, error) {
	c := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DBFile == "" {
		c.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		c.DatabaseName = strconv.Itoa(rand.IntN(9999999))
	} else {
		c.ConnectAttributes = map[string]string{"mode": "rwc"}
		c.DatabaseName = o.DBFile
	}
	for k, v := range o.SQLitePragmas {
		c.ConnectAttributes[k] = v
	}
	if o.DBFile != "" {
		if _, err := os.Stat(o.DBFile); os.IsNotExist(err) {
			if _, err := os.Stat(filepath.Dir(o.DBFile)); err != nil {
				return nil, fmt.Errorf("database directory: %w", err)
			}
			if err := sqliteschema.SetupSchema(c); err != nil {
				return nil, fmt.Errorf("setting up the SQLite schema: %w", err)
			}
		}
	}
	var nss []*sqliteschema.NamespaceConfig
	for _, ns := range o.Namespaces {
		nc, err := sqliteschema.NewNamespaceConfig("active", ns, false, o.SearchAttributes)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
		nss = append(nss, nc)
	}
	if err := sqliteschema.CreateNamespaces(c, nss...); err != nil {
		return nil, fmt.Errorf("creating namespaces: %w", err)
	}
	return c, nil
}

// FreePort returns a TCP port free on ip right now.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", hostPort(ip, 0))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CheckPortFree fails when ip:port cannot be listened on.
func CheckPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", hostPort(ip, port))
	if err != nil {
		return err
	}
	return l.Close()
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
