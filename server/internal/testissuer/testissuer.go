// Package testissuer is a tiny OIDC provider for mlo's tests: discovery, a JWKS with an RSA
// and an EC key, token minting, and a no-questions-asked authorization-code flow for the
// Web UI's login (it logs in whichever user it was told to, with a nonce-bound ID token).
// Test use only: it authenticates nobody.
package testissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer signs tokens and serves the provider endpoints.
type Issuer struct {
	URL    string // set by the caller once the server listens
	RSA    *rsa.PrivateKey
	EC     *ecdsa.PrivateKey
	RSAKid string
	ECKid  string

	mu sync.Mutex
	// LoginAs is the claims the authorization endpoint logs in with.
	LoginAs map[string]any
	codes   map[string]map[string]any
}

// New makes an issuer with fresh keys.
func New() *Issuer {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Issuer{RSA: rk, EC: ek, RSAKid: "rsa-1", ECKid: "ec-1", codes: map[string]map[string]any{}}
}

// Handler serves discovery, JWKS, authorization and token endpoints.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/jwks",
			"authorization_endpoint":                i.URL + "/auth",
			"token_endpoint":                        i.URL + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &i.RSA.PublicKey, KeyID: i.RSAKid, Algorithm: string(jose.RS256), Use: "sig"},
			{Key: &i.EC.PublicKey, KeyID: i.ECKid, Algorithm: string(jose.ES256), Use: "sig"},
		}})
	})
	// Authorization endpoint: logs in LoginAs and redirects back with a code.
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		code := hex.EncodeToString(b)
		i.mu.Lock()
		claims := map[string]any{}
		for k, v := range i.LoginAs {
			claims[k] = v
		}
		claims["nonce"] = q.Get("nonce")
		claims["client_id"] = q.Get("client_id")
		i.codes[code] = claims
		i.mu.Unlock()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return
		}
		bq := back.Query()
		bq.Set("code", code)
		bq.Set("state", q.Get("state"))
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		i.mu.Lock()
		claims, ok := i.codes[r.PostForm.Get("code")]
		delete(i.codes, r.PostForm.Get("code"))
		i.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"error": "invalid_grant"})
			return
		}
		clientID := claims["client_id"].(string)
		access := map[string]any{}
		idt := map[string]any{}
		for k, v := range claims {
			if k != "nonce" {
				access[k] = v
			}
			idt[k] = v
		}
		access["aud"] = "mlo"
		idt["aud"] = clientID
		writeJSON(w, map[string]any{
			"access_token": i.Sign(access, time.Hour),
			"id_token":     i.Sign(idt, time.Hour),
			"token_type":   "Bearer",
			"expires_in":   3600,
		})
	})
	return mux
}

// Sign makes an RS256 token with the claims plus iss, iat and exp (claims may override
// any of them; a nil value removes the claim).
func (i *Issuer) Sign(claims map[string]any, ttl time.Duration) string {
	return i.sign(jose.RS256, i.RSA, i.RSAKid, claims, ttl)
}

// SignES256 makes an ES256 token.
func (i *Issuer) SignES256(claims map[string]any, ttl time.Duration) string {
	return i.sign(jose.ES256, i.EC, i.ECKid, claims, ttl)
}

// SignWith signs with any key and key id (forged tokens).
func (i *Issuer) SignWith(key *rsa.PrivateKey, kid string, claims map[string]any, ttl time.Duration) string {
	return i.sign(jose.RS256, key, kid, claims, ttl)
}

func (i *Issuer) sign(alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, ttl time.Duration) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	all := map[string]any{"iss": i.URL, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = v
		}
	}
	tok, err := jwt.Signed(signer).Claims(all).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}

// Person returns an access token's claims for a person.
func Person(email string, groups ...string) map[string]any {
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{"sub": email, "email": email, "groups": groups, "aud": "mlo", "client_id": "mlo-cli"}
}

// Service returns an access token's claims for a client-credentials service.
func Service(subject string) map[string]any {
	return map[string]any{"sub": subject, "groups": []string{"mlo-services"}, "aud": "mlo", "client_id": subject}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
