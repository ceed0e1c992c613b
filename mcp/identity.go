package mcp

import (
	"errors"
	"sync"
	"time"

	"github.com/conexor/conexor/provider"
)

// Asserter signs identity assertions, the JWTs that tell an upstream who is calling
// without giving it the caller's token. *provider.Provider is one (AssertIdentity).
type Asserter interface {
	AssertIdentity(upstream, org, server string, caller *provider.Claims) (provider.SignedAssertion, error)
}

// maxCachedAssertions bounds the assertion cache: one entry per token and server that
// called a server with identity assertions on within the last minute.
const maxCachedAssertions = DefaultMaxCachedTokens

// errNoIdentity is why a request to a server that sends identity assertions was not sent:
// the upstream was promised an assertion, and calling it without one would let an
// upstream that treats a missing header as "anonymous" answer as if nobody had signed in.
type errNoIdentity struct{ err error }

func (e *errNoIdentity) Error() string { return "sign the identity assertion: " + e.err.Error() }
func (e *errNoIdentity) Unwrap() error { return e.err }

// identityKey is what an assertion depends on beyond the token: the server (its org) and
// the upstream it is addressed to, which an admin may change while the token lives.
type identityKey struct {
	sigHash, serverID, upstream string
}

type identityEntry struct {
	token   string
	refresh time.Time // half its lifetime: sign a new one from then on
}

// identities signs identity assertions and caches each while more than half its lifetime
// remains, so a busy caller costs one signature per half minute rather than one per
// request, and the upstream still gets an assertion with at least half its lifetime left.
type identities struct {
	asserter Asserter
	now      func() time.Time
	max      int

	mu      sync.Mutex
	entries map[identityKey]identityEntry
}

func newIdentities(a Asserter, now func() time.Time) *identities {
	return &identities{asserter: a, now: now, max: maxCachedAssertions, entries: map[identityKey]identityEntry{}}
}

// assertion is the identity assertion for call, from the cache or freshly signed.
func (ids *identities) assertion(call *upstreamCall) (string, error) {
	if ids == nil || ids.asserter == nil {
		return "", &errNoIdentity{errors.New("no identity asserter configured")}
	}
	srv := call.info.srv
	key := identityKey{sigHash: call.principal.sigHash, serverID: srv.ID, upstream: srv.Upstream}
	now := ids.now()
	ids.mu.Lock()
	e, ok := ids.entries[key]
	ids.mu.Unlock()
	if ok && now.Before(e.refresh) {
		return e.token, nil
	}
	// Signed outside the lock: two requests that miss together both sign, which costs
	// less than making every other caller wait for one signature.
	a, err := ids.asserter.AssertIdentity(srv.Upstream, srv.OrgSlug, srv.Slug, call.principal.Claims)
	if err != nil {
		return "", &errNoIdentity{err}
	}
	e = identityEntry{token: a.Token, refresh: a.IssuedAt.Add(a.Expires.Sub(a.IssuedAt) / 2)}
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if len(ids.entries) >= ids.max {
		ids.sweep(now)
	}
	ids.entries[key] = e
	return a.Token, nil
}

// sweep drops the entries due for renewal, and everything when that frees nothing (more
// callers within half a lifetime than the bound): the cache only saves signatures, so
// losing it costs time, never correctness. Called with mu held.
func (ids *identities) sweep(now time.Time) {
	for k, e := range ids.entries {
		if !now.Before(e.refresh) {
			delete(ids.entries, k)
		}
	}
	if len(ids.entries) >= ids.max {
		clear(ids.entries)
	}
}

// len is the number of cached assertions (tests).
func (ids *identities) len() int {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	return len(ids.entries)
}

// identityFailure is the JSON-RPC message of a request not sent for want of an assertion.
const identityFailure = "The gateway could not sign the identity assertion this server's upstream requires."
