package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// statementCounter counts the SQL statements the store runs for requests it marks, and how
// many of them read the clients table.
type statementCounter struct {
	mu      sync.Mutex
	total   int
	clients int
	// tokens counts the statements on token tables. The re-read of the revocation set
	// (revocationRead) is in none of the counts: one per process every 250 ms at most,
	// whichever request happens to start it, not a cost of the request.
	tokens int
	sql    []string
}

// revocationRead: the revocation set's query (storage.RevokedAccessTokensSince).
func revocationRead(st storage.Statement) bool {
	return st.Table == "oauth_access_tokens" && strings.Contains(st.SQL, "revoked_at >=")
}

type countKey struct{}

func countStatements(t *testing.T, e *testenv.Env) *statementCounter {
	t.Helper()
	c := &statementCounter{}
	// The store must be idle while a callback is registered: write what the first start
	// recorded (its audit events) first, so the background writer has nothing to do.
	if err := e.App.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Store.OnStatement(func(st storage.Statement) {
		if st.Ctx == nil || st.Ctx.Value(countKey{}) != c {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if revocationRead(st) {
			c.sql = append(c.sql, "(not counted) "+st.SQL)
			return
		}
		c.total++
		if strings.HasPrefix(st.Table, "oauth_") && strings.HasSuffix(st.Table, "_tokens") {
			c.tokens++
		}
		if st.Table == "clients" && strings.HasPrefix(strings.TrimSpace(strings.ToUpper(st.SQL)), "SELECT") {
			c.clients++
		}
		c.sql = append(c.sql, st.SQL)
	})
	return c
}

// post runs one token request through the handler with a context the counter recognises
// and returns the counts of that request alone.
func (c *statementCounter) post(t *testing.T, e *testenv.Env, form url.Values, auth *testenv.Auth) (status, total, clients int, body string) {
	t.Helper()
	return c.serve(t, e.Provider.TokenHandler, form, auth)
}

// serve runs one request through handler as post does.
func (c *statementCounter) serve(t *testing.T, handler http.HandlerFunc, form url.Values, auth *testenv.Auth) (status, total, clients int, body string) {
	t.Helper()
	c.mu.Lock()
	c.total, c.clients, c.tokens, c.sql = 0, 0, 0, nil
	c.mu.Unlock()
	req := httptest.NewRequestWithContext(context.WithValue(context.Background(), countKey{}, c),
		http.MethodPost, "/api/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		req.SetBasicAuth(auth.ID, auth.Secret)
	}
	rec := httptest.NewRecorder()
	handler(rec, req)
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("statements:\n  %s", strings.Join(c.sql, "\n  "))
	return rec.Code, c.total, c.clients, rec.Body.String()
}

// Each grant, introspection and revocation load their client at most once, and not at all
// when the store has it cached, and the statements per request stay within what was
// measured when that was made so (before the process cache of clients, client credentials,
// code exchange and refresh took 2, 11 and 6 statements with 1, 4 and 2 client loads;
// introspection and revocation loaded the client twice; with a cached client, client
// credentials take 1 statement, the insert): a second client load, a load of a cached
// client, or a new query on the hot path, fails here. The store's clients are kept for the
// whole test, so a slow run cannot turn a cached client into a load.
func TestTokenStatementsPerRequest(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			e := testenv.New(t, testenv.Options{Postgres: db == "postgres"})
			storage.WithClientFreshness(time.Hour)(e.Store)
			c := countStatements(t, e)
			// On Postgres the client-authentication throttle (limits.go) reads its
			// buckets in one statement (a failure would add the charge) when it has not
			// read them full within the last second (limit.fullFor); SQLite counts in
			// process.
			limitStatements := 0
			if db == "postgres" {
				limitStatements = 1
			}
			const redirect = "http://127.0.0.1:9999/callback"
			id := registerPublic(t, e, redirect)

			// check: cold is whether the store's cache was emptied before the request (its
			// client is loaded once) or not (the client was used before: no load).
			check := func(name string, cold bool, status, total, clients int, body string, maxTotal int) {
				t.Helper()
				if status != http.StatusOK {
					t.Fatalf("%s: %d %s", name, status, body)
				}
				t.Logf("%s: %d statements, %d client queries", name, total, clients)
				wantClients := 0
				if cold {
					wantClients = 1
				}
				if clients != wantClients {
					t.Errorf("%s: %d client queries, want %d", name, clients, wantClients)
				}
				if total > maxTotal+limitStatements {
					t.Errorf("%s: %d statements, want at most %d", name, total, maxTotal+limitStatements)
				}
			}

			confidential := &testenv.Auth{ID: e.ClientID, Secret: e.ClientSecret}
			cc := url.Values{"grant_type": {"client_credentials"}}
			e.Store.ForgetClients()
			status, total, clients, body := c.post(t, e, cc, confidential)
			check("client_credentials, client not cached", true, status, total, clients, body, 2)
			status, total, clients, body = c.post(t, e, cc, confidential)
			check("client_credentials", false, status, total, clients, body, 1)
			access := jsonField(t, body, "access_token")

			// Introspection and revocation authenticate the client and load a token naming it.
			status, total, clients, body = c.serve(t, e.Provider.IntrospectHandler, url.Values{"token": {access}}, confidential)
			check("introspect", false, status, total, clients, body, 1)
			// Again: the token is live and already seen, so it is answered from the
			// verified-claims cache and the revocation set, without a token query.
			status, total, clients, body = c.serve(t, e.Provider.IntrospectHandler, url.Values{"token": {access}}, confidential)
			check("introspect again", false, status, total, clients, body, 0)
			if c.tokens != 0 || !strings.Contains(body, `"active":true`) {
				t.Errorf("introspect again: %d token statements, want 0 (%s)", c.tokens, body)
			}

			// The code exchange loads its client four times: from the request's cache.
			code := issueCode(t, e, authorizeQuery(e, id, redirect))
			e.Store.ForgetClients()
			status, total, clients, body = c.post(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirect}, "code_verifier": {testVerifier}, "client_id": {id}}, nil)
			check("authorization_code, client not cached", true, status, total, clients, body, 8)
			refresh := jsonField(t, body, "refresh_token")

			status, total, clients, body = c.post(t, e, url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {refresh}, "client_id": {id}}, nil)
			check("refresh_token", false, status, total, clients, body, 4)

			status, total, clients, body = c.serve(t, e.Provider.RevokeHandler, url.Values{"token": {jsonField(t, body, "refresh_token")},
				"token_type_hint": {"refresh_token"}, "client_id": {id}}, nil)
			revokeMax := 3
			if db == "postgres" {
				revokeMax++ // pg_notify, which tells the other replicas' gates at once
			}
			check("revoke", false, status, total, clients, body, revokeMax)
		})
	}
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	s, _ := m[field].(string)
	if s == "" {
		t.Fatalf("no %s in %s", field, body)
	}
	return s
}
