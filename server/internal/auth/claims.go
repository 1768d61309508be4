package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.temporal.io/server/common/authorization"
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

var signatureAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// ClaimMapper verifies the bearer token of each call and turns it into Temporal claims
// carrying an *Identity. It never fails a call itself: an invalid token yields claims whose
// identity has AuthError set, so the authorizer can refuse with the reason while still
// letting the few unauthenticated calls through (GetSystemInfo, health checks).
type ClaimMapper struct {
	settings   Settings
	keys       *KeySource
	namespaces []string
	now        func() time.Time
}

var _ authorization.ClaimMapper = (*ClaimMapper)(nil)

// NewClaimMapper returns a claim mapper for the settings; namespaces are those the server
// hosts, in which the claims grant roles (informational: mlo's authorizer decides).
func NewClaimMapper(s Settings, keys *KeySource, namespaces []string) *ClaimMapper {
	return &ClaimMapper{settings: s, keys: keys, namespaces: namespaces, now: time.Now}
}

// GetClaims implements authorization.ClaimMapper. Temporal calls it only when the call
// carries an authorization header.
func (m *ClaimMapper) GetClaims(info *authorization.AuthInfo) (*authorization.Claims, error) {
	id := m.Identify(context.Background(), info.AuthToken, info.ExtraData)
	claims := &authorization.Claims{Subject: id.Subject, Extensions: id}
	if id.Authenticated() {
		role := authorization.RoleReader | authorization.RoleWriter
		switch {
		case id.Admin:
			role = authorization.RoleAdmin
		case id.Service:
			role |= authorization.RoleWorker
		}
		claims.Namespaces = make(map[string]authorization.Role, len(m.namespaces))
		for _, ns := range m.namespaces {
			claims.Namespaces[ns] = role
		}
	}
	return claims, nil
}

// Identify verifies an "authorization" header value (and, for e-mail and groups missing
// from the access token, the ID token the Web UI forwards in "authorization-extras").
func (m *ClaimMapper) Identify(ctx context.Context, header, extra string) *Identity {
	raw, ok := bearer(header)
	if !ok {
		return &Identity{AuthError: "the authorization header is not \"Bearer <token>\""}
	}
	all, err := m.verify(ctx, raw, m.settings.Audiences)
	if err != nil {
		return &Identity{AuthError: err.Error()}
	}
	id := &Identity{
		Subject:  stringClaim(all, "sub"),
		ClientID: stringClaim(all, "client_id"),
		Email:    stringClaim(all, m.settings.EmailClaim),
		Groups:   listClaim(all, m.settings.GroupsClaim),
	}
	if id.Subject == "" && id.Email == "" {
		// Client-credentials tokens of some providers carry only client_id (and no e-mail;
		// a person's token without "sub" is refused below).
		id.Subject = id.ClientID
	}
	if id.Subject == "" {
		return &Identity{AuthError: "token has no subject (sub or client_id)"}
	}
	// The UI forwards the ID token next to the access token; take e-mail and groups from it
	// when the access token lacks them, if it verifies and names the same subject.
	if (id.Email == "" || id.Groups == nil) && extra != "" && m.settings.UIClientID != "" {
		if idt, err := m.verify(ctx, strings.TrimSpace(extra), []string{m.settings.UIClientID}); err == nil &&
			stringClaim(idt, "sub") == id.Subject {
			if id.Email == "" {
				id.Email = stringClaim(idt, m.settings.EmailClaim)
			}
			if id.Groups == nil {
				id.Groups = listClaim(idt, m.settings.GroupsClaim)
			}
		}
	}
	id.Service = id.InGroup(m.settings.ServiceGroup) || slices.Contains(m.settings.ServiceSubjects, id.Subject)
	id.Admin = id.InGroup(m.settings.AdminGroup)
	if !id.Service && id.Email == "" {
		return &Identity{Subject: id.Subject, AuthError: fmt.Sprintf("token of %s has no %q claim (persons need an e-mail)", id.Subject, m.settings.EmailClaim)}
	}
	return id
}

func (m *ClaimMapper) verify(ctx context.Context, raw string, audiences []string) (map[string]any, error) {
	tok, err := jwt.ParseSigned(raw, signatureAlgorithms)
	if err != nil {
		return nil, errors.New("token is not a JWT signed with RS256 or ES256")
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("token must have exactly one signature")
	}
	h := tok.Headers[0]
	key, err := m.keys.Key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(key, &std, &all); err != nil {
		return nil, errors.New("token signature does not verify")
	}
	if std.Expiry == nil {
		return nil, errors.New("token has no expiry (exp)")
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      m.settings.Issuer,
		AnyAudience: jwt.Audience(audiences),
		Time:        m.now(),
	}, Leeway)
	switch {
	case err == nil:
		return all, nil
	case errors.Is(err, jwt.ErrExpired):
		return nil, fmt.Errorf("token expired at %s", std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, errors.New("token is not valid yet (nbf/iat in the future)")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, fmt.Errorf("token issuer %q is not %q", std.Issuer, m.settings.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, fmt.Errorf("token audience %v holds none of %v", []string(std.Audience), audiences)
	default:
		return nil, fmt.Errorf("token rejected: %v", err)
	}
}

func bearer(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		t := strings.TrimSpace(h[7:])
		return t, t != ""
	}
	return "", false
}

func stringClaim(all map[string]any, name string) string {
	s, _ := all[name].(string)
	return s
}

// listClaim reads a string-array claim; a single string counts as a one-element list.
func listClaim(all map[string]any, name string) []string {
	switch v := all[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
