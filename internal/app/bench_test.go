package app_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/conexor/conexor/bench/floor"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/storage"
)

// The token benchmarks drive the real router over loopback HTTP from benchClients concurrent
// clients (what `conexor bench` uses); every request must succeed. Beside ns/op they report
// tokens/s and statements/op, the SQL statements the store ran per request (all of them,
// background work included, counted with Store.OnStatement while the timer runs).
// BenchmarkTokenFloor drives bench/floor, the least a token endpoint must do, with the same
// load and client in the same run, so Conexor is compared with the floor of that run:
//
//	go test -run '^$' -bench Token -benchtime 5s ./internal/app
//
// The authorization-code and refresh benchmarks run on SQLite and, when
// CONEXOR_TEST_POSTGRES_DSN is set, on Postgres.

const benchClients = 64

// BenchmarkTokenClientCredentials issues client-credentials JWTs on SQLite and, when
// CONEXOR_TEST_POSTGRES_DSN is set, on Postgres.
func BenchmarkTokenClientCredentials(b *testing.B) {
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools:read mcp:tools:execute"}}.Encode()
	forEachDatabase(b, func(b *testing.B, e *testenv.Env) {
		runTokenBench(b, envTarget(b, e), func(*tokenWorker) (string, bool) { return body, true }, nil)
	})
}

// BenchmarkTokenFloor is bench/floor's client-credentials endpoint (parse, HMAC secret
// check, ES256) with its one SQLite insert per token, and without storage.
func BenchmarkTokenFloor(b *testing.B) {
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools:read mcp:tools:execute"}}.Encode()
	for _, withInsert := range []bool{true, false} {
		name := "sqlite-insert"
		if !withInsert {
			name = "no-storage"
		}
		b.Run(name, func(b *testing.B) {
			var db *sql.DB
			if withInsert {
				var err error
				if db, err = storage.OpenSQLiteDB(filepath.Join(b.TempDir(), "floor.db")); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = db.Close() })
			}
			const id, secret = "floor-client", "floor-secret-0123456789abcdef"
			f, err := floor.New(id, secret, db)
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(f)
			b.Cleanup(srv.Close)
			runTokenBench(b, benchTarget{url: srv.URL, clientID: id, clientSecret: secret},
				func(*tokenWorker) (string, bool) { return body, true }, nil)
		})
	}
}

// BenchmarkTokenAuthorizationCode exchanges authorization codes (with PKCE) of the seeded
// public client; the codes are issued before the timer starts.
func BenchmarkTokenAuthorizationCode(b *testing.B) {
	forEachDatabase(b, func(b *testing.B, e *testenv.Env) {
		codes := make(chan string, b.N)
		for range b.N {
			codes <- benchCode(b, e)
		}
		close(codes)
		runTokenBench(b, envTarget(b, e), func(*tokenWorker) (string, bool) {
			code, ok := <-codes
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {e.PublicClientID},
				"redirect_uri": {app.DemoRedirectURI}, "code_verifier": {benchVerifier}}.Encode(), ok
		}, nil)
	})
}

// BenchmarkTokenRefresh refreshes tokens of the seeded public client: each worker starts
// from its own refresh token (obtained before the timer starts) and follows the rotation.
func BenchmarkTokenRefresh(b *testing.B) {
	forEachDatabase(b, func(b *testing.B, e *testenv.Env) {
		start := make(chan string, benchClients)
		for range benchClients {
			resp := postToken(b, e, url.Values{"grant_type": {"authorization_code"}, "code": {benchCode(b, e)},
				"client_id": {e.PublicClientID}, "redirect_uri": {app.DemoRedirectURI}, "code_verifier": {benchVerifier}})
			start <- resp.RefreshToken
		}
		runTokenBench(b, envTarget(b, e), func(w *tokenWorker) (string, bool) {
			if w.refresh == "" {
				w.refresh = <-start
			}
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.refresh}, "client_id": {e.PublicClientID}}.Encode(), true
		}, func(w *tokenWorker, r tokenResponse) { w.refresh = r.RefreshToken })
	})
}

func forEachDatabase(b *testing.B, run func(*testing.B, *testenv.Env)) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			run(b, testenv.New(b, testenv.Options{Postgres: db == "postgres"}))
		})
	}
}

// tokenWorker is one benchmark goroutine's state (the refresh token it holds).
type tokenWorker struct{ refresh string }

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// benchTarget is the token endpoint a benchmark drives, its client, and the statements the
// server runs (nil for the floor, which counts none).
type benchTarget struct {
	url, clientID, clientSecret string
	statements                  *atomic.Int64
	counting                    *atomic.Bool
}

// envTarget is e's token endpoint and seeded client, with the store's statements counted
// while counting is set.
func envTarget(b *testing.B, e *testenv.Env) benchTarget {
	t := benchTarget{url: e.TokenURL(), clientID: e.ClientID, clientSecret: e.ClientSecret,
		statements: new(atomic.Int64), counting: new(atomic.Bool)}
	e.Store.OnStatement(func(storage.Statement) {
		if t.counting.Load() {
			t.statements.Add(1)
		}
	})
	return t
}

// runTokenBench posts the bodies next returns (until it reports false) to the token endpoint
// from benchClients goroutines, hands each successful response to done, and fails the
// benchmark if any request failed.
func runTokenBench(b *testing.B, target benchTarget, next func(*tokenWorker) (string, bool), done func(*tokenWorker, tokenResponse)) {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var failed atomic.Int64
	var firstFailure atomic.Value
	fail := func(msg string) {
		failed.Add(1)
		firstFailure.CompareAndSwap(nil, msg)
	}
	var issued atomic.Int64
	var wg sync.WaitGroup

	b.ReportAllocs()
	b.ResetTimer()
	if target.counting != nil {
		target.counting.Store(true)
	}
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w tokenWorker
			for issued.Add(1) <= int64(b.N) {
				body, ok := next(&w)
				if !ok {
					fail("benchmark ran out of prepared grants")
					continue
				}
				req, err := http.NewRequest(http.MethodPost, target.url, strings.NewReader(body))
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if strings.Contains(body, "client_credentials") {
					req.SetBasicAuth(target.clientID, target.clientSecret)
				}
				resp, err := client.Do(req)
				if err != nil {
					fail(err.Error())
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var out tokenResponse
				if resp.StatusCode != http.StatusOK || json.Unmarshal(got, &out) != nil || !strings.HasPrefix(out.AccessToken, "ey") {
					fail(resp.Status + " " + string(got))
					continue
				}
				if done != nil {
					done(&w, out)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if target.counting != nil {
		target.counting.Store(false)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d token requests failed; first: %v", n, b.N, firstFailure.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	if target.statements != nil {
		b.ReportMetric(float64(target.statements.Load())/float64(b.N), "statements/op")
	}
}

const benchVerifier = "bench-verifier-bench-verifier-bench-verifier-0123456789"

// benchCode issues an authorization code for the seeded public client as the consent page
// does once the demo admin approved it.
func benchCode(b *testing.B, e *testenv.Env) string {
	b.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(benchVerifier))
	ar, aerr := e.Provider.ParseAuthorize(ctx, url.Values{
		"client_id": {e.PublicClientID}, "response_type": {"code"}, "redirect_uri": {app.DemoRedirectURI},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"bench-state-0123"}, "scope": {"mcp:tools:read mcp:tools:execute"},
		"resource": {e.ResourceURL(app.DemoOrg, app.DemoServer)},
	})
	if aerr != nil {
		b.Fatalf("ParseAuthorize: %v", aerr)
	}
	u, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		b.Fatal(err)
	}
	redirect, err := e.Provider.IssueCode(ctx, ar, u.ID, ar.Scopes)
	if err != nil {
		b.Fatal(err)
	}
	ru, err := url.Parse(redirect)
	if err != nil {
		b.Fatal(err)
	}
	return ru.Query().Get("code")
}

func postToken(b *testing.B, e *testenv.Env, form url.Values) tokenResponse {
	b.Helper()
	r := e.PostForm("/api/oauth/token", form, nil)
	var tr tokenResponse
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &tr) != nil || tr.RefreshToken == "" {
		b.Fatalf("token: %d %s", r.StatusCode, r.Body)
	}
	return tr
}

// BenchmarkMiddleware is what the app's handler costs around a route that does little,
// in process, without HTTP: recovery, CORS, page headers, the router's matching, the
// request metrics. The MCP endpoint is asked without a token (the gateway answers its 401
// at once), /healthz is the table's last route. For profiling the app's own overhead:
//
//	go test -run '^$' -bench Middleware -cpuprofile cpu.out ./internal/app
func BenchmarkMiddleware(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	h := e.App.Handler()
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"mcp-unauthorized", http.MethodPost, "/mcp/acme/sales-api", http.StatusUnauthorized},
		{"healthz", http.MethodGet, "/healthz", http.StatusOK},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(tc.method, e.URL+tc.path, nil)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != tc.status {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
