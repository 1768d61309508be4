// Package auth holds mlo's authentication and authorization plugins for its Temporal
// server: a claim mapper that verifies OIDC access tokens, an authorizer that enforces
// mlo's rules (reviewers decide, requesters request for themselves, only the orchestrator
// starts promotions, only admins terminate them, only services run workers), and a
// frontend interceptor that stamps the verified identity on decisions.
package auth

import (
	"context"
	"slices"
	"strings"

	"go.temporal.io/server/common/authorization"
)

// Identity is who made a call, as verified from the caller's token. It travels in
// authorization.Claims.Extensions.
type Identity struct {
	// Subject is the token's "sub" (for client-credentials tokens without one: "client_id").
	Subject string
	// Email is the configured e-mail claim; persons must have one.
	Email string
	// Groups is the configured groups claim.
	Groups []string
	// ClientID is the token's "client_id", when present.
	ClientID string
	// Service is true for machine identities: the service group is in Groups, or the
	// subject is one of the configured service subjects.
	Service bool
	// Admin is true when the admin group is in Groups.
	Admin bool
	// AuthError says why the presented token was not accepted; empty for a valid token.
	AuthError string
}

// Authenticated reports whether the identity comes from a valid token.
func (id *Identity) Authenticated() bool { return id != nil && id.AuthError == "" && id.Subject != "" }

// Name is the identity used for "requestedBy" and in messages: the e-mail of a person,
// the subject of a service.
func (id *Identity) Name() string {
	if id == nil {
		return "(anonymous)"
	}
	if id.Service || id.Email == "" {
		return id.Subject
	}
	return id.Email
}

// InGroup reports whether the identity's token lists the group.
func (id *Identity) InGroup(g string) bool { return id != nil && slices.Contains(id.Groups, g) }

// IdentityFromClaims returns the identity the claim mapper stored in claims, or nil.
func IdentityFromClaims(c *authorization.Claims) *Identity {
	if c == nil {
		return nil
	}
	id, _ := c.Extensions.(*Identity)
	return id
}

// IdentityFromContext returns the identity of the call being served, or nil (no token, or
// a call on the internal frontend).
func IdentityFromContext(ctx context.Context) *Identity {
	c, _ := ctx.Value(authorization.MappedClaims).(*authorization.Claims)
	return IdentityFromClaims(c)
}

// isInternalCall reports whether claims are those the server gives calls on its internal
// frontend (the system worker: schedules, batch operations, …). That listener uses
// Temporal's no-op claim mapper, which grants system admin without any token; mlo's claim
// mapper never grants a system role, so such claims cannot come from the public frontend.
func isInternalCall(c *authorization.Claims) bool {
	return c != nil && c.Extensions == nil && c.System&authorization.RoleAdmin != 0
}

// Settings are the identity and rule settings shared by the claim mapper and the authorizer.
type Settings struct {
	// Issuer is the OIDC issuer URL; tokens' "iss" must equal it.
	Issuer string
	// Audiences: a token's "aud" must contain one of them.
	Audiences []string
	// EmailClaim and GroupsClaim name the claims holding the e-mail and the groups.
	EmailClaim  string
	GroupsClaim string
	// AdminGroup grants admin rights (terminate/reset/cancel/delete promotions, batch jobs,
	// namespace and search-attribute administration).
	AdminGroup string
	// ServiceGroup marks machine identities (workers, schedulers).
	ServiceGroup string
	// ServiceSubjects are further subjects treated as services.
	ServiceSubjects []string
	// OrchestratorSubject is the service allowed to start promotion/rollback workflows.
	OrchestratorSubject string
	// WriterGroups: a caller must be in one of them to write (start runs, change
	// schedules, …). Empty: every valid token may write.
	WriterGroups []string
	// ReaderGroups: when set, reads need one of them or of WriterGroups (or a service or
	// admin identity), e.g. auditors who read but never write. Empty: every valid token
	// may read.
	ReaderGroups []string
	// UIClientID is the Web UI's OIDC client: an ID token forwarded by the UI (header
	// authorization-extras) is accepted for e-mail and groups when its "aud" holds it.
	UIClientID string
}

// DefaultSettings are mlo's defaults for the dev stack.
func DefaultSettings() Settings {
	return Settings{
		Issuer:              "http://127.0.0.1:7380",
		Audiences:           []string{"mlo"},
		EmailClaim:          "email",
		GroupsClaim:         "groups",
		AdminGroup:          "mlo-admins",
		ServiceGroup:        "mlo-services",
		OrchestratorSubject: "mlo-orchestrator",
		WriterGroups:        []string{"mlo-engineers", "mlo-reviewers", "mlo-admins", "mlo-services"},
		UIClientID:          "temporal-ui",
	}
}

// SplitList splits a comma-separated flag value, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
