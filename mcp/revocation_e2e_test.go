package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/provider"
)

// TestRevokedAtOnce: a token revoked through this server's revocation endpoint is refused
// by the very next request, even though the gate had it cached.
func TestRevokedAtOnce(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	token := e.Token(e.ClientID, e.ClientSecret)
	// Twice: the first request checks storage (first sight); the second is served from the
	// verified-token cache and loads the revocation set, which is then fresh. Only the
	// revocation endpoint's hook can make the next request see the revocation in time.
	for range 2 {
		if r := rpc(t, e, salesPath, token, toolsList); r.StatusCode != http.StatusOK {
			t.Fatalf("before revocation: status %d: %s", r.StatusCode, r.Body)
		}
	}
	if r := e.Revoke(e.ClientID, e.ClientSecret, token); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d: %s", r.StatusCode, r.Body)
	}
	r := rpc(t, e, salesPath, token, toolsList)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after revocation: status %d, want 401: %s", r.StatusCode, r.Body)
	}
	if got, want := r.Header.Get("WWW-Authenticate"), challenge(e, "invalid_token", "The access token has been revoked."); got != want {
		t.Errorf("WWW-Authenticate = %q\nwant %q", got, want)
	}
	// A token revoked before the gate ever saw it is refused by the first-sight check.
	unseen := e.Token(e.ClientID, e.ClientSecret)
	if r := e.Revoke(e.ClientID, e.ClientSecret, unseen); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d: %s", r.StatusCode, r.Body)
	}
	if r := rpc(t, e, salesPath, unseen, toolsList); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked before first use: status %d, want 401: %s", r.StatusCode, r.Body)
	}
}

// replicaURL is the replicas' issuer; nothing listens there, requests are served in memory.
const replicaURL = "http://127.0.0.1:8080"

// replica is one Conexor process in a synctest bubble, answering requests in memory.
type replica struct {
	t *testing.T
	a *app.App
}

// newReplicas starts two Conexor processes sharing one SQLite database and secret, as two
// replicas would; the first seeds the demo data. Built inside a bubble, their clocks are
// the bubble's.
func newReplicas(t *testing.T) (a, b *replica, seeded *app.SeedResult) {
	t.Helper()
	cfg := config.Defaults()
	cfg.KeyPublishDelay = 0
	cfg.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "conexor.db")
	cfg.Secret = testenv.NewSecret()
	cfg.Issuer = replicaURL
	cfg.AdminPassword = testenv.AdminPassword
	start := func(noSeed bool) *replica {
		x, err := app.New(context.Background(), cfg, nil, app.Options{NoSeed: noSeed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := x.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return &replica{t: t, a: x}
	}
	a = start(false)
	return a, start(true), a.a.Seeded
}

func (r *replica) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.a.Handler().ServeHTTP(rec, req)
	// Write what the request recorded (audit events, usage counters) now, in the test's
	// goroutine: the recorder's background round at the next tick of the bubble's clock then
	// has nothing to write, and cannot hold the shared SQLite database while the test's next
	// request needs it (which would move the clock on by the busy wait).
	if err := r.a.Audit.Flush(context.Background()); err != nil {
		r.t.Errorf("write audit records: %v", err)
	}
	return rec
}

func (r *replica) post(path string, form url.Values, id, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, replicaURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.do(req)
}

func (r *replica) token(id, secret string) string {
	r.t.Helper()
	rec := r.post("/api/oauth/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); rec.Code != http.StatusOK || err != nil || tok.AccessToken == "" {
		r.t.Fatalf("token: status %d: %s", rec.Code, rec.Body)
	}
	return tok.AccessToken
}

// toolsList answers tools/list at the demo server with token and returns the status.
func (r *replica) toolsList(token string) int {
	req := httptest.NewRequest(http.MethodPost, replicaURL+salesPath, strings.NewReader(toolsList))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	return r.do(req).Code
}

// TestRevokedOnAnotherReplica: two Conexor processes share one database; a token revoked
// through replica B, with no hook at replica A, is refused by A as the revocation set's
// bounds say, exactly, on synthetic time (a synctest bubble; requests are served in memory):
// A answers from its set until revocationRefreshAfter after the set was loaded, the first
// request past that starts a background refresh, and the next is refused. With no request
// in between, the first past revocationMaxAge waits for the refresh and is refused.
func TestRevokedOnAnotherReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, seeded := newReplicas(t)
		id, secret := seeded.ScriptClientID, seeded.ScriptClientSecret
		revokeAtB := func(token string) {
			t.Helper()
			if rec := b.post("/api/oauth/revoke", url.Values{"token": {token}}, id, secret); rec.Code != http.StatusOK {
				t.Fatalf("revoke at replica B: status %d: %s", rec.Code, rec.Body)
			}
		}
		// Twice: the first use checks storage and caches the token, the second loads the
		// revocation set (now), so what follows measures the set's staleness.
		token := a.token(id, secret)
		for range 2 {
			if code := a.toolsList(token); code != http.StatusOK {
				t.Fatalf("before revocation: status %d", code)
			}
		}
		revokeAtB(token)
		time.Sleep(mcp.RevocationRefreshAfter)
		if code := a.toolsList(token); code != http.StatusOK {
			t.Fatalf("refused at revocationRefreshAfter (%d): the set is fresh until then and A has no hook", code)
		}
		time.Sleep(time.Nanosecond)
		if code := a.toolsList(token); code != http.StatusOK {
			t.Fatalf("status %d: the request that starts the refresh is answered from the set it has", code)
		}
		synctest.Wait() // the background refresh
		if code := a.toolsList(token); code != http.StatusUnauthorized {
			t.Fatalf("after the background refresh: status %d, want 401", code)
		}

		// No request while the set ages past revocationMaxAge: the next waits for a query.
		token = a.token(id, secret)
		for range 2 {
			if code := a.toolsList(token); code != http.StatusOK {
				t.Fatalf("second token before revocation: status %d", code)
			}
		}
		time.Sleep(mcp.RevocationMaxAge) // the set was loaded this long before the revocation...
		revokeAtB(token)
		time.Sleep(time.Nanosecond) // ...and is one nanosecond too old now
		if code := a.toolsList(token); code != http.StatusUnauthorized {
			t.Fatalf("a request past revocationMaxAge was answered from the old set: status %d, want 401", code)
		}
	})
}

// streamingUpstream is an upstream whose GET is an endless event stream; done closes when
// the gateway cancels the stream's request.
func streamingUpstream(t *testing.T) (url string, done chan struct{}) {
	done = make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "only the stream here", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				close(done)
				return
			case <-tick.C:
				fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/ping\"}\n\n")
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(upstream.Close)
	return upstream.URL + "/mcp", done
}

// openStream opens the standalone event stream with token and returns a channel closed
// when the gateway ends it.
func openStream(t *testing.T, e *testenv.Env, path, token string) <-chan struct{} {
	t.Helper()
	req := e.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: status %d", resp.StatusCode)
	}
	ended := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		close(ended)
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-ended:
		t.Fatal("the stream ended by itself")
	default:
	}
	return ended
}

func waitEnded(t *testing.T, ended, upstreamDone <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-ended:
	case <-time.After(within):
		t.Fatalf("the event stream of %s was still open %s later", what, within)
	}
	select {
	case <-upstreamDone:
	case <-time.After(time.Second):
		t.Error("the upstream's stream request was not cancelled")
	}
}

// TestRevokedStreamEnds: a token is checked when a request starts, and an event stream (the
// standalone GET of Streamable HTTP) can last for hours. Revoking the token ends streams it
// opened within the revocation set's bound, and the upstream sees its request cancelled.
func TestRevokedStreamEnds(t *testing.T) {
	upstream, upstreamDone := streamingUpstream(t)
	e, _ := proxiedEnv(t, upstream)
	id, secret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead)
	token := e.Token(id, secret)
	ended := openStream(t, e, "/mcp/acme/proxied", token)
	if r := e.Revoke(id, secret, token); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	waitEnded(t, ended, upstreamDone, 3*time.Second, "a revoked token")
}

// TestExpiredStreamEnds: a stream ends when its token expires.
func TestExpiredStreamEnds(t *testing.T) {
	upstream, upstreamDone := streamingUpstream(t)
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	srv := e.CreateServer("acme/proxied")
	srv.Upstream = upstream
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/proxied", provider.ScopeToolsRead)
	token := e.Token(id, secret)
	clock.Advance(e.Config.AccessTokenTTL - 2*time.Second) // two seconds left
	ended := openStream(t, e, "/mcp/acme/proxied", token)
	waitEnded(t, ended, upstreamDone, 4*time.Second, "an expired token")
}
