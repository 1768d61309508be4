package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// UIAuth configures the Web UI's login through the OIDC provider. The UI then sends the
// user's access token as "authorization: Bearer …" and the ID token as
// "authorization-extras" with every call it makes to the frontend.
type UIAuth struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	CallbackURL  string
	// AuthParams are added to the provider's authorization URL (e.g. a resource or audience).
	AuthParams map[string]string
	// UseIDTokenAsBearer sends the ID token as the bearer token instead of the access token
	// (for providers that issue opaque access tokens).
	UseIDTokenAsBearer bool
}

type uiRunner struct {
	mu      sync.Mutex
	servers []*uiserver.Server
	gate    *http.Server
	cancel  context.CancelFunc
}

func (o *Options) uiConfig(addr string, port int) *uiconfig.Config {
	return &uiconfig.Config{
		Host:                addr,
		Port:                port,
		TemporalGRPCAddress: hostPort(o.IP, o.Port),
		EnableUI:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}
}

// startUI starts the Web UI. Without authentication it serves on the UI port like the dev
// server. With authentication the UI needs the OIDC provider's discovery document when it
// starts (ui-server exits the process if it cannot read it), so the UI port first answers
// 503 "waiting for the identity provider"; once discovery answers, ui-server starts on a
// loopback port and the UI port proxies to it.
func (o *Options) startUI() (*uiRunner, error) {
	r := &uiRunner{}
	if o.Auth == nil {
		srv := uiserver.NewServer(uiserveroptions.WithConfigProvider(o.uiConfig(o.UIIP, o.UIPort)))
		r.servers = append(r.servers, srv)
		go func() {
			if err := srv.Start(); err != nil {
				o.Logger.Error("Web UI stopped", "error", err)
			}
		}()
		return r, nil
	}

	ln, err := net.Listen("tcp", hostPort(o.UIIP, o.UIPort))
	if err != nil {
		return nil, fmt.Errorf("UI port %d: %w", o.UIPort, err)
	}
	var target atomic.Pointer[httputil.ReverseProxy]
	r.gate = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if p := target.Load(); p != nil {
				p.ServeHTTP(w, req)
				return
			}
			w.Header().Set("Retry-After", "2")
			http.Error(w, "mlo Temporal UI: waiting for the identity provider "+o.Auth.UI.Issuer, http.StatusServiceUnavailable)
		}),
	}
	go func() { _ = r.gate.Serve(ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		if err := waitForDiscovery(ctx, o.Auth.UI.Issuer, o.Logger); err != nil {
			return
		}
		port, err := FreePort(loopback)
		if err != nil {
			o.Logger.Error("Web UI: no free port", "error", err)
			return
		}
		cfg := o.uiConfig(loopback, port)
		a := o.Auth.UI
		opts := map[string]any{}
		for k, v := range a.AuthParams {
			opts[k] = v
		}
		cfg.Auth = uiconfig.Auth{Enabled: true, Providers: []uiconfig.AuthProvider{{
			Label:              "mlo",
			Type:               "oidc",
			ProviderURL:        a.Issuer,
			ClientID:           a.ClientID,
			ClientSecret:       a.ClientSecret,
			Scopes:             a.Scopes,
			CallbackURL:        a.CallbackURL,
			Options:            opts,
			UseIDTokenAsBearer: a.UseIDTokenAsBearer,
		}}}
		srv := uiserver.NewServer(uiserveroptions.WithConfigProvider(cfg))
		r.mu.Lock()
		if ctx.Err() != nil {
			r.mu.Unlock()
			return
		}
		r.servers = append(r.servers, srv)
		r.mu.Unlock()
		go func() {
			if err := srv.Start(); err != nil {
				o.Logger.Error("Web UI stopped", "error", err)
			}
		}()
		u := &url.URL{Scheme: "http", Host: hostPort(loopback, port)}
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.FlushInterval = -1
		target.Store(proxy)
		o.Logger.Info("Web UI ready with OIDC login", "issuer", a.Issuer, "client", a.ClientID)
	}()
	return r, nil
}

func (r *uiRunner) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.gate != nil {
		_ = r.gate.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.servers {
		s.Stop()
	}
}

// waitForDiscovery polls the issuer's discovery document until it answers with the
// expected issuer, backing off up to 10s.
func waitForDiscovery(ctx context.Context, issuer string, log *slog.Logger) error {
	client := &http.Client{Timeout: 3 * time.Second}
	delay := 250 * time.Millisecond
	warned := false
	for {
		err := checkDiscovery(ctx, client, issuer)
		if err == nil {
			return nil
		}
		if !warned {
			log.Warn("Web UI waits for the identity provider", "issuer", issuer, "error", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func checkDiscovery(ctx context.Context, client *http.Client, issuer string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: %s", resp.Status)
	}
	var d struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return err
	}
	// ui-server requires the document's issuer to be exactly the provider URL.
	if d.Issuer != issuer {
		return errors.New("discovery names issuer " + d.Issuer + ", expected " + issuer)
	}
	return nil
}
