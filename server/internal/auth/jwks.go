package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// KeySource finds the OIDC provider's signing keys: it reads
// <issuer>/.well-known/openid-configuration for jwks_uri, then the key set, and caches
// the keys. It fetches lazily (the provider may start after the server), refetches when a
// token names a key id it does not know (key rotation), and never more often than
// MinRefresh, so a flood of tokens with made-up key ids cannot hammer the provider.
type KeySource struct {
	Issuer     string
	HTTPClient *http.Client
	// MinRefresh is the least time between two fetches (default 2s).
	MinRefresh time.Duration
	// MaxAge: keys older than this are refetched on the next use (default 1h).
	MaxAge time.Duration

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
	lastErr   error
	now       func() time.Time
}

// NewKeySource returns a key source for the issuer.
func NewKeySource(issuer string) *KeySource {
	return &KeySource{
		Issuer:     strings.TrimRight(issuer, "/"),
		HTTPClient: &http.Client{Timeout: 3 * time.Second},
		MinRefresh: 2 * time.Second,
		MaxAge:     time.Hour,
		now:        time.Now,
	}
}

// ErrUnknownKey is returned when no key of the provider matches a token's key id.
var ErrUnknownKey = errors.New("token signed with a key the identity provider does not publish")

// Key returns the public key for a token's key id and algorithm.
func (k *KeySource) Key(ctx context.Context, kid, alg string) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	stale := k.fetchedAt.IsZero() || now.Sub(k.fetchedAt) > k.MaxAge
	if !stale {
		if key := k.find(kid, alg); key != nil {
			return key, nil
		}
	}
	// Unknown key id, no keys yet, or old keys: fetch, unless we just tried.
	if now.Sub(k.triedAt) >= k.MinRefresh {
		k.triedAt = now
		keys, err := k.fetch(ctx)
		if err != nil {
			k.lastErr = err
		} else {
			k.keys, k.fetchedAt, k.lastErr = keys, now, nil
		}
	}
	if key := k.find(kid, alg); key != nil {
		return key, nil
	}
	if k.fetchedAt.IsZero() && k.lastErr != nil {
		return nil, fmt.Errorf("identity provider %s unreachable: %w", k.Issuer, k.lastErr)
	}
	return nil, ErrUnknownKey
}

// Warm fetches the keys until it succeeds or ctx ends, backing off up to 30s; the server
// runs it in the background at start so the first call does not wait for the provider.
func (k *KeySource) Warm(ctx context.Context) {
	delay := 500 * time.Millisecond
	for {
		k.mu.Lock()
		ready := !k.fetchedAt.IsZero()
		k.mu.Unlock()
		if ready {
			return
		}
		keys, err := k.fetch(ctx)
		if err == nil {
			k.mu.Lock()
			k.keys, k.fetchedAt, k.triedAt, k.lastErr = keys, k.now(), k.now(), nil
			k.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// Ready reports whether keys have been fetched at least once.
func (k *KeySource) Ready() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.fetchedAt.IsZero()
}

func (k *KeySource) find(kid, alg string) any {
	var candidates []jose.JSONWebKey
	for _, key := range k.keys {
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if key.Algorithm != "" && alg != "" && key.Algorithm != alg {
			continue
		}
		if !keyFitsAlg(key.Key, alg) {
			continue
		}
		if kid != "" {
			if key.KeyID == kid {
				return key.Key
			}
			continue
		}
		candidates = append(candidates, key)
	}
	// A token without a key id is accepted only when one key could have signed it.
	if kid == "" && len(candidates) == 1 {
		return candidates[0].Key
	}
	return nil
}

// keyFitsAlg: RS256 needs an RSA key, ES256 a P-256 key (the algorithms tokens may use).
func keyFitsAlg(key any, alg string) bool {
	switch alg {
	case string(jose.RS256):
		_, ok := key.(*rsa.PublicKey)
		return ok
	case string(jose.ES256):
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	}
	return false
}

type discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

func (k *KeySource) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	var d discovery
	if err := k.getJSON(ctx, k.Issuer+"/.well-known/openid-configuration", &d); err != nil {
		return nil, err
	}
	if strings.TrimRight(d.Issuer, "/") != k.Issuer {
		return nil, fmt.Errorf("discovery document names issuer %q, expected %q", d.Issuer, k.Issuer)
	}
	if d.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	var set jose.JSONWebKeySet
	if err := k.getJSON(ctx, d.JWKSURI, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set has no public keys")
	}
	return keys, nil
}

func (k *KeySource) getJSON(ctx context.Context, url string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
