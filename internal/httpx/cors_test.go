package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/internal/httpx"
)

// The CORS wrapper answers preflights itself (a mux route restricted to GET would answer
// 405), adds the headers to every response on its paths, and leaves other paths alone.
func TestCORS(t *testing.T) {
	r := mux.NewRouter()
	r.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("{}"))
	}).Methods(http.MethodGet)
	r.HandleFunc("/mcp/{org}/{server}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}).Methods(http.MethodPost)
	r.HandleFunc("/login", func(w http.ResponseWriter, _ *http.Request) {}).Methods(http.MethodGet)
	h := httpx.CORS(httpx.MatchPaths("/.well-known/oauth-authorization-server", "/mcp/"), r)

	tests := []struct {
		method, path string
		wantStatus   int
		wantCORS     bool
		preflight    bool
	}{
		{http.MethodOptions, "/.well-known/oauth-authorization-server", http.StatusNoContent, true, true},
		{http.MethodGet, "/.well-known/oauth-authorization-server", http.StatusOK, true, false},
		{http.MethodOptions, "/mcp/acme/sales-api", http.StatusNoContent, true, true},
		{http.MethodPost, "/mcp/acme/sales-api", http.StatusUnauthorized, true, false},
		{http.MethodOptions, "/login", http.StatusMethodNotAllowed, false, false},
		{http.MethodGet, "/login", http.StatusOK, false, false},
		{http.MethodGet, "/.well-known/oauth-authorization-server-x", http.StatusNotFound, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("Origin", "https://app.example")
			if tt.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", http.MethodPost)
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-session-id")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			got := rec.Header()
			if has := got.Get("Access-Control-Allow-Origin") == "*"; has != tt.wantCORS {
				t.Errorf("Access-Control-Allow-Origin = %q", got.Get("Access-Control-Allow-Origin"))
			}
			if got.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials must never be allowed")
			}
			if tt.wantCORS && got.Get("Access-Control-Expose-Headers") != "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After" {
				t.Errorf("Access-Control-Expose-Headers = %q", got.Get("Access-Control-Expose-Headers"))
			}
			if tt.preflight {
				if got.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID" ||
					got.Get("Access-Control-Allow-Methods") != "GET, HEAD, POST, DELETE, OPTIONS" || got.Get("Access-Control-Max-Age") == "" {
					t.Errorf("preflight headers = %v", got)
				}
			}
		})
	}
}

func TestMatchPaths(t *testing.T) {
	m := httpx.MatchPaths("/api/oauth/token", "/mcp/")
	for path, want := range map[string]bool{
		"/api/oauth/token": true, "/api/oauth/token/": false, "/api/oauth/tokens": false,
		"/mcp/acme/sales-api": true, "/mcp/": true, "/mcp": false, "/login": false,
	} {
		if got := m(path); got != want {
			t.Errorf("match(%q) = %v, want %v", path, got, want)
		}
	}
}
