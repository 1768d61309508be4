package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/server/common/authorization"

	"mlo.dev/server/internal/testissuer"
)

func newIssuer(t *testing.T) (*testissuer.Issuer, *httptest.Server) {
	t.Helper()
	iss := testissuer.New()
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss, srv
}

func newMapper(iss *testissuer.Issuer) *ClaimMapper {
	s := DefaultSettings()
	s.Issuer = iss.URL
	return NewClaimMapper(s, NewKeySource(iss.URL), []string{"default"})
}

func claimsOf(t *testing.T, m *ClaimMapper, header, extra string) *Identity {
	t.Helper()
	c, err := m.GetClaims(&authorization.AuthInfo{AuthToken: header, ExtraData: extra})
	if err != nil {
		t.Fatalf("GetClaims returned an error: %v", err)
	}
	id := IdentityFromClaims(c)
	if id == nil {
		t.Fatal("claims carry no identity")
	}
	if c.System != authorization.RoleUndefined {
		t.Fatalf("claims must never carry a system role, got %v", c.System)
	}
	return id
}

func TestClaimMapperValidPerson(t *testing.T) {
	iss, _ := newIssuer(t)
	m := newMapper(iss)
	c, _ := m.GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + iss.Sign(testissuer.Person("alice@example.com", "mlo-reviewers"), time.Hour)})
	id := IdentityFromClaims(c)
	if !id.Authenticated() || id.Email != "alice@example.com" || id.Subject != "alice@example.com" || id.Service || id.Admin {
		t.Fatalf("unexpected identity %+v", id)
	}
	if len(id.Groups) != 1 || id.Groups[0] != "mlo-reviewers" {
		t.Fatalf("groups: %v", id.Groups)
	}
	if c.Subject != "alice@example.com" || c.Namespaces["default"] != authorization.RoleReader|authorization.RoleWriter {
		t.Fatalf("claims: %+v", c)
	}
}

func TestClaimMapperES256AndAdminAndService(t *testing.T) {
	iss, _ := newIssuer(t)
	m := newMapper(iss)
	admin := claimsOf(t, m, "Bearer "+iss.SignES256(testissuer.Person("olivia@example.com", "mlo-admins"), time.Hour), "")
	if !admin.Authenticated() || !admin.Admin {
		t.Fatalf("admin: %+v", admin)
	}
	svc := claimsOf(t, m, "bearer "+iss.Sign(testissuer.Service("mlo-orchestrator"), time.Hour), "")
	if !svc.Authenticated() || !svc.Service || svc.Name() != "mlo-orchestrator" {
		t.Fatalf("service: %+v", svc)
	}
	// A client-credentials token without sub: client_id is the subject.
	cc := testissuer.Service("mlo-scheduler")
	cc["sub"] = nil
	sch := claimsOf(t, m, "Bearer "+iss.Sign(cc, time.Hour), "")
	if !sch.Authenticated() || sch.Subject != "mlo-scheduler" {
		t.Fatalf("client_id fallback: %+v", sch)
	}
}

func TestClaimMapperRefusals(t *testing.T) {
	iss, _ := newIssuer(t)
	m := newMapper(iss)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	erin := testissuer.Person("erin@example.com", "mlo-engineers")
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range erin {
			c[a] = b
		}
		c[k] = v
		return c
	}
	cases := []struct {
		name, header, want string
	}{
		{"forged signature, known kid", "Bearer " + iss.SignWith(other, iss.RSAKid, erin, time.Hour), "signature does not verify"},
		{"unknown kid", "Bearer " + iss.SignWith(other, "nope", erin, time.Hour), "key the identity provider does not publish"},
		{"expired", "Bearer " + iss.Sign(erin, -time.Hour), "token expired"},
		{"not yet valid", "Bearer " + iss.Sign(with("nbf", time.Now().Add(time.Hour).Unix()), time.Hour*2), "not valid yet"},
		{"wrong issuer", "Bearer " + iss.Sign(with("iss", "http://evil.example"), time.Hour), "issuer"},
		{"wrong audience", "Bearer " + iss.Sign(with("aud", "other"), time.Hour), "audience"},
		{"no exp", "Bearer " + iss.Sign(with("exp", nil), time.Hour), "no expiry"},
		{"no subject", "Bearer " + iss.Sign(with("sub", nil), time.Hour), "no subject"},
		{"person without e-mail", "Bearer " + iss.Sign(with("email", nil), time.Hour), "no \"email\" claim"},
		{"not a JWT", "Bearer not-a-token", "not a JWT"},
		{"not bearer", "Basic abc", "not \"Bearer <token>\""},
		{"alg none", "Bearer " + noneToken(), "not a JWT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := claimsOf(t, m, c.header, "")
			if id.Authenticated() {
				t.Fatalf("accepted: %+v", id)
			}
			if !strings.Contains(id.AuthError, c.want) {
				t.Fatalf("AuthError %q does not contain %q", id.AuthError, c.want)
			}
		})
	}
}

func noneToken() string {
	// {"alg":"none","typ":"JWT"} . {"sub":"erin","iss":"x"} .
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJlcmluIiwiaXNzIjoieCJ9."
}

func TestClaimMapperConfigurableClaimNames(t *testing.T) {
	iss, _ := newIssuer(t)
	s := DefaultSettings()
	s.Issuer, s.EmailClaim, s.GroupsClaim = iss.URL, "upn", "roles"
	m := NewClaimMapper(s, NewKeySource(iss.URL), nil)
	id := claimsOf(t, m, "Bearer "+iss.Sign(map[string]any{"sub": "b1", "upn": "bob@example.com", "roles": "mlo-reviewers", "aud": "mlo"}, time.Hour), "")
	if !id.Authenticated() || id.Email != "bob@example.com" || len(id.Groups) != 1 || id.Groups[0] != "mlo-reviewers" {
		t.Fatalf("%+v", id)
	}
}

func TestClaimMapperUIIDToken(t *testing.T) {
	iss, _ := newIssuer(t)
	m := newMapper(iss)
	// An access token with only sub; the UI's ID token (aud temporal-ui) has e-mail and groups.
	access := iss.Sign(map[string]any{"sub": "u-bob", "aud": "mlo"}, time.Hour)
	idt := iss.Sign(map[string]any{"sub": "u-bob", "aud": "temporal-ui", "email": "bob@example.com", "groups": []string{"mlo-reviewers"}}, time.Hour)
	id := claimsOf(t, m, "Bearer "+access, idt)
	if !id.Authenticated() || id.Email != "bob@example.com" || !id.InGroup("mlo-reviewers") {
		t.Fatalf("%+v", id)
	}
	// An ID token of another subject is ignored.
	idt2 := iss.Sign(map[string]any{"sub": "u-alice", "aud": "temporal-ui", "email": "alice@example.com"}, time.Hour)
	if id := claimsOf(t, m, "Bearer "+access, idt2); id.Authenticated() {
		t.Fatalf("accepted another subject's ID token: %+v", id)
	}
}

func TestKeySourceLazyRetryAndRotation(t *testing.T) {
	iss := testissuer.New()
	var up atomic.Bool
	var hits atomic.Int32
	h := iss.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	iss.URL = srv.URL
	s := DefaultSettings()
	s.Issuer = iss.URL
	ks := NewKeySource(iss.URL)
	ks.MinRefresh = 50 * time.Millisecond
	m := NewClaimMapper(s, ks, nil)
	tok := "Bearer " + iss.Sign(testissuer.Person("erin@example.com", "mlo-engineers"), time.Hour)

	// Provider down: refused with the reason, no panic.
	if id := claimsOf(t, m, tok, ""); id.Authenticated() || !strings.Contains(id.AuthError, "unreachable") {
		t.Fatalf("provider down: %+v", id)
	}
	// Provider up later: accepted after the retry interval.
	up.Store(true)
	time.Sleep(60 * time.Millisecond)
	if id := claimsOf(t, m, tok, ""); !id.Authenticated() {
		t.Fatalf("provider up: %+v", id)
	}
	// Key rotation: a new key id makes the source refetch.
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss.RSA, iss.RSAKid = newKey, "rsa-2"
	time.Sleep(60 * time.Millisecond)
	rotated := "Bearer " + iss.Sign(testissuer.Person("erin@example.com", "mlo-engineers"), time.Hour)
	if id := claimsOf(t, m, rotated, ""); !id.Authenticated() {
		t.Fatalf("rotated key: %+v", id)
	}
	// Unknown key ids do not hammer the provider: within MinRefresh, no new fetch.
	ks.MinRefresh = time.Hour
	before := hits.Load()
	for range 20 {
		claimsOf(t, m, "Bearer "+iss.SignWith(newKey, "made-up", testissuer.Person("erin@example.com"), time.Hour), "")
	}
	if after := hits.Load(); after-before > 2 {
		t.Fatalf("%d fetches for 20 unknown key ids", after-before)
	}
}
