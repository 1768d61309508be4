package devserver

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/components/nexusoperations"
)

func options(t *testing.T, auth bool) Options {
	o := Options{
		IP: "127.0.0.1", Port: 17233, HTTPPort: 17243, MetricsPort: 17244,
		DBFile:           filepath.Join(t.TempDir(), "t.db"),
		Namespaces:       []string{"default", "mlo"},
		SearchAttributes: map[string]enums.IndexedValueType{"MloModel": enums.INDEXED_VALUE_TYPE_KEYWORD},
		ClusterID:        "c1",
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if auth {
		o.Auth = &AuthOptions{InternalPort: 17234, InternalHTTPPort: 17246}
	}
	return o
}

func TestServerConfigWithoutAuthIsTheDevServers(t *testing.T) {
	o := options(t, false)
	conf, err := o.serverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Validate(); err != nil {
		t.Fatal(err)
	}
	if conf.PublicClient.HostPort != "127.0.0.1:17233" {
		t.Fatalf("publicClient %q", conf.PublicClient.HostPort)
	}
	if _, ok := conf.Services[string(primitives.InternalFrontendService)]; ok {
		t.Fatal("internal frontend without auth")
	}
	dc := o.dynamicConfig()
	for k, v := range DevServerDynamicConfig() {
		if dc[dynamicconfig.Key(k)] != v {
			t.Errorf("%s = %v, want %v", k, dc[dynamicconfig.Key(k)], v)
		}
	}
	if _, ok := dc[dynamicconfig.ExposeAuthorizerErrors.Key()]; ok {
		t.Error("exposeAuthorizerErrors set without auth")
	}
	if !strings.Contains(dc[nexusoperations.CallbackURLTemplate.Key()].(string), "127.0.0.1:17243") {
		t.Error("Nexus callbacks not on the HTTP API")
	}
}

func TestServerConfigWithAuthHasInternalFrontend(t *testing.T) {
	o := options(t, true)
	o.DynamicConfig = map[string]any{"frontend.persistenceMaxQPS": 5}
	conf, err := o.serverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Validate(); err != nil {
		t.Fatal(err)
	}
	ife, ok := conf.Services[string(primitives.InternalFrontendService)]
	if !ok || ife.RPC.GRPCPort != 17234 || ife.RPC.BindOnIP != "127.0.0.1" {
		t.Fatalf("internal frontend: %+v", ife)
	}
	if conf.PublicClient.HostPort != "" {
		t.Fatal("publicClient must be empty with an internal frontend")
	}
	dc := o.dynamicConfig()
	if dc[dynamicconfig.ExposeAuthorizerErrors.Key()] != true {
		t.Error("exposeAuthorizerErrors not set")
	}
	if !strings.Contains(dc[nexusoperations.CallbackURLTemplate.Key()].(string), "127.0.0.1:17246") {
		t.Error("Nexus callbacks not on the internal frontend")
	}
	if dc[dynamicconfig.FrontendPersistenceMaxQPS.Key()] != 5 {
		t.Error("--dynamic-config-value does not override")
	}
}
