package provider

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
	"github.com/conexor/conexor/storage"
)

const cimdIssuer = "http://127.0.0.1:8080"

// cimdClock is a settable clock.
type cimdClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *cimdClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *cimdClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newCIMDProvider builds a provider on a fresh SQLite file with the server acme/sales-api.
func newCIMDProvider(t testing.TB, allowPrivate bool, clock *cimdClock) *Provider {
	return newCIMDProviderOn(t, "sqlite://"+filepath.Join(t.TempDir(), "cimd.db"), allowPrivate, clock)
}

// databases are the backends the CIMD tests run on: SQLite always, Postgres (a fresh
// schema of CONEXOR_TEST_POSTGRES_DSN) when that is set.
func databases(t *testing.T, run func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) { run(t, "sqlite://"+filepath.Join(t.TempDir(), "cimd.db")) })
	t.Run("postgres", func(t *testing.T) { run(t, pgtest.Schema(t)) })
}

// newCIMDProviderOn builds a provider on databaseURL with the server acme/sales-api.
func newCIMDProviderOn(t testing.TB, databaseURL string, allowPrivate bool, clock *cimdClock) *Provider {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, databaseURL, storage.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := store.CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateServer(ctx, &storage.Server{OrgID: org.ID, OrgSlug: "acme", Slug: "sales-api", Name: "Sales", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	testKey := []byte(strings.Repeat("k", 32))
	p, err := New(ctx, Config{
		Issuer: cimdIssuer, Keys: Keys{FositeHMAC: testKey, ClientSecrets: testKey, SigningKeys: testKey, UpstreamHeaders: testKey},
		AccessTokenLifespan: time.Hour, RefreshTokenLifespan: 24 * time.Hour, AuthorizeCodeLifespan: 10 * time.Minute,
		SigningAlg: AlgES256, Now: clock.Now, CIMDAllowPrivate: allowPrivate,
	}, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// docServer serves client metadata documents over TLS with a test CA the provider trusts.
type docServer struct {
	*httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	handler http.HandlerFunc
}

func newDocServer(t *testing.T, p *Provider, timeout time.Duration) *docServer {
	t.Helper()
	ds := &docServer{}
	ds.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.hits.Add(1)
		ds.mu.Lock()
		h := ds.handler
		ds.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(ds.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ds.Certificate())
	p.cimd.useTestTransport(roots, timeout)
	return ds
}

func (ds *docServer) serve(h http.HandlerFunc) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.handler = h
}

// serveDoc answers every request with doc as JSON and the given extra headers.
func (ds *docServer) serveDoc(doc any, headers ...string) {
	ds.serve(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
}

const cimdRedirect = "http://127.0.0.1:7777/callback"

func validDoc(id string) map[string]any {
	return map[string]any{
		"client_id":                  id,
		"client_name":                "Doc App",
		"client_uri":                 "https://app.example",
		"redirect_uris":              []string{cimdRedirect},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"some_future_field":          map[string]any{"ignored": true},
	}
}

const cimdVerifier = "verifier-verifier-verifier-verifier-verifier-0123"

func cimdChallenge() string {
	sum := sha256.Sum256([]byte(cimdVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeQuery(clientID string) url.Values {
	return url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:50123/callback"},
		"code_challenge": {cimdChallenge()}, "code_challenge_method": {"S256"},
		"scope": {"mcp:tools:read"}, "resource": {cimdIssuer + "/mcp/acme/sales-api"}, "state": {"st-12345678"},
	}
}

func newClock() *cimdClock { return &cimdClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

// A valid document makes a public client that completes the code flow at the token
// endpoint, is cached (one fetch for two authorizations) and is stored for fosite.
func TestCIMDValidDocumentIsAPublicClient(t *testing.T) {
	databases(t, func(t *testing.T, databaseURL string) {
		clock := newClock()
		p := newCIMDProviderOn(t, databaseURL, true, clock)
		ds := newDocServer(t, p, 2*time.Second)
		id := ds.URL + "/oauth/client.json"
		ds.serveDoc(validDoc(id), "Cache-Control", "max-age=600")
		ctx := context.Background()

		ar, aerr := p.ParseAuthorize(ctx, authorizeQuery(id))
		if aerr != nil {
			t.Fatalf("ParseAuthorize: %v", aerr)
		}
		if ar.Client.ID != id || ar.Client.Source != storage.ClientSourceMetadata || !ar.Client.Public || ar.Client.Name != "Doc App" {
			t.Fatalf("client = %+v", ar.Client)
		}
		if ar.Resource != cimdIssuer+"/mcp/acme/sales-api" {
			t.Errorf("resource = %q", ar.Resource)
		}
		if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(id)); aerr != nil {
			t.Fatalf("second ParseAuthorize: %v", aerr)
		}
		if n := ds.hits.Load(); n != 1 {
			t.Errorf("document fetched %d times, want 1 (cached)", n)
		}
		doc, err := p.store.ClientDocumentByURL(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := clock.Now().Add(10 * time.Minute); !doc.ExpiresAt.Equal(want) {
			t.Errorf("cache expires at %v, want %v (max-age=600)", doc.ExpiresAt, want)
		}
		if _, err := p.store.GetClient(ctx, id); err != nil {
			t.Fatalf("fosite GetClient(%s): %v", id, err)
		}

		redirect, err := p.IssueCode(ctx, ar, "usr_test", []string{"mcp:tools:read"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(redirect)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "client_id": {id},
			"redirect_uri": {"http://127.0.0.1:50123/callback"}, "code_verifier": {cimdVerifier}, "resource": {ar.Resource}}
		rec := postToken(p, form)
		if rec.Code != http.StatusOK {
			t.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
		var tok map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &tok)
		if tok["refresh_token"] == nil || tok["scope"] != "mcp:tools:read" {
			t.Errorf("token response = %v", tok)
		}
	})
}

func postToken(p *Provider, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	p.TokenHandler(rec, req)
	return rec
}

// Each unusable document is refused as invalid_client on the error page (never redirected:
// the client is not trusted), with a reason a developer can act on.
func TestCIMDRefusals(t *testing.T) {
	big := strings.Repeat("x", cimdMaxBytes)
	tests := []struct {
		name    string
		handler func(id string) http.HandlerFunc
		want    string
	}{
		{"mismatched client_id", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["client_id"] = id + "?other" })
		}, "is not the URL it was fetched from"},
		{"no client_id", func(string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { delete(d, "client_id") })
		}, "has no client_id"},
		{"oversized", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["padding"] = big })
		}, "larger than 64 KiB"},
		{"oversized without Content-Length", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				for i := 0; i < 80; i++ {
					_, _ = w.Write([]byte(strings.Repeat(" ", 1024)))
					w.(http.Flusher).Flush()
				}
			}
		}, "larger than 64 KiB"},
		{"slow", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}
		}, "did not arrive within"},
		{"redirect", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://127.0.0.1:1/elsewhere.json", http.StatusFound)
			}
		}, "redirects are not followed"},
		{"not found", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
		}, "HTTP 404"},
		{"not JSON", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }
		}, "not a valid JSON object"},
		{"private_key_jwt", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["token_endpoint_auth_method"] = "private_key_jwt" })
		}, "private_key_jwt is not supported"},
		{"client_secret_post", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["token_endpoint_auth_method"] = "client_secret_post" })
		}, "use none"},
		{"client_secret in the document", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["client_secret"] = "shh" })
		}, "must not contain a client_secret"},
		{"javascript redirect URI", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["redirect_uris"] = []string{"javascript:alert(1)"} })
		}, "javascript: is not allowed"},
		{"http redirect URI off loopback", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["redirect_uris"] = []string{"http://app.example/cb"} })
		}, "only on loopback"},
		{"client_credentials", func(id string) http.HandlerFunc {
			return jsonDoc(func(d map[string]any) { d["grant_types"] = []string{"client_credentials"} })
		}, "client_credentials cannot be registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newCIMDProvider(t, true, newClock())
			ds := newDocServer(t, p, 400*time.Millisecond)
			id := ds.URL + "/client.json"
			ds.serve(tt.handler(id))
			_, aerr := p.ParseAuthorize(context.Background(), authorizeQuery(id))
			if aerr == nil {
				t.Fatal("ParseAuthorize accepted the document")
			}
			if aerr.Code != "invalid_client" || aerr.Redirect {
				t.Errorf("error = %+v, want invalid_client shown on the page", aerr)
			}
			if !strings.Contains(aerr.Description, tt.want) {
				t.Errorf("description %q does not contain %q", aerr.Description, tt.want)
			}
			if _, err := p.store.ClientByID(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a client row exists for a refused document (err %v)", err)
			}
		})
	}
}

// jsonDoc serves a valid document for the request's own URL, changed by edit.
func jsonDoc(edit func(map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := validDoc("https://" + r.Host + r.URL.RequestURI())
		edit(d)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	}
}

// Without CIMDAllowPrivate, a document on a loopback address is never requested: the dialer
// refuses the resolved address before connecting.
func TestCIMDPrivateAddressRefused(t *testing.T) {
	p := newCIMDProvider(t, false, newClock())
	ds := newDocServer(t, p, 2*time.Second)
	id := ds.URL + "/client.json"
	ds.serveDoc(validDoc(id))
	for _, host := range []string{ds.Listener.Addr().String(), "localhost:" + ds.URL[strings.LastIndex(ds.URL, ":")+1:]} {
		id := "https://" + host + "/client.json"
		_, aerr := p.ParseAuthorize(context.Background(), authorizeQuery(id))
		if aerr == nil || aerr.Code != "invalid_client" || !strings.Contains(aerr.Description, "private, loopback or link-local") {
			t.Errorf("%s: error = %+v, want invalid_client naming the private address", id, aerr)
		}
	}
	if n := ds.hits.Load(); n != 0 {
		t.Errorf("the document server was reached %d times", n)
	}
}

// When the publisher is down, the cached copy is used (however old) and retried later.
func TestCIMDCachedCopyWhenServerDown(t *testing.T) {
	databases(t, func(t *testing.T, databaseURL string) {
		clock := newClock()
		p := newCIMDProviderOn(t, databaseURL, true, clock)
		ds := newDocServer(t, p, 500*time.Millisecond)
		id := ds.URL + "/client.json"
		ds.serveDoc(validDoc(id), "Cache-Control", "max-age=60")
		ctx := context.Background()
		if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(id)); aerr != nil {
			t.Fatal(aerr)
		}
		doc, _ := p.store.ClientDocumentByURL(ctx, id)
		if want := clock.Now().Add(cimdMinTTL); !doc.ExpiresAt.Equal(want) {
			t.Errorf("max-age=60 cached until %v, want the 5 minute floor %v", doc.ExpiresAt, want)
		}

		ds.Close()
		clock.Advance(48 * time.Hour)
		ar, aerr := p.ParseAuthorize(ctx, authorizeQuery(id))
		if aerr != nil {
			t.Fatalf("with the publisher down and a cached copy: %v", aerr)
		}
		if ar.Client.Name != "Doc App" {
			t.Errorf("client = %+v", ar.Client)
		}
		doc, _ = p.store.ClientDocumentByURL(ctx, id)
		if want := clock.Now().Add(cimdRetryAfter); !doc.ExpiresAt.Equal(want) {
			t.Errorf("after a failed refetch the copy is retried at %v, want %v", doc.ExpiresAt, want)
		}

		// Without a cached copy the same failure refuses the client.
		other := strings.Replace(id, "/client.json", "/other.json", 1)
		if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(other)); aerr == nil || aerr.Code != "invalid_client" {
			t.Errorf("uncached document with the server down: %+v", aerr)
		}
	})
}

// A changed document updates the client row; a client an operator revoked stays revoked.
func TestCIMDRefreshAndRevocation(t *testing.T) {
	databases(t, func(t *testing.T, databaseURL string) {
		clock := newClock()
		p := newCIMDProviderOn(t, databaseURL, true, clock)
		ds := newDocServer(t, p, 2*time.Second)
		id := ds.URL + "/client.json"
		ds.serveDoc(validDoc(id))
		ctx := context.Background()
		if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(id)); aerr != nil {
			t.Fatal(aerr)
		}
		changed := validDoc(id)
		changed["client_name"] = "Renamed App"
		ds.serveDoc(changed)
		clock.Advance(2 * time.Hour)
		ar, aerr := p.ParseAuthorize(ctx, authorizeQuery(id))
		if aerr != nil {
			t.Fatal(aerr)
		}
		if c, _ := p.store.ClientByID(ctx, id); ar.Client.Name != "Renamed App" || c.Name != "Renamed App" {
			t.Errorf("name after the document changed: request %q, stored %q", ar.Client.Name, c.Name)
		}
		if err := p.store.RevokeClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(id)); aerr == nil || aerr.Code != "invalid_client" {
			t.Errorf("revoked metadata document client: %+v", aerr)
		}
	})
}

func TestCIMDClientIDURLRules(t *testing.T) {
	p := newCIMDProvider(t, true, newClock())
	for _, id := range []string{
		"http://app.example/client.json",
		"https://app.example",
		"https://app.example/",
		"https://app.example/client.json#x",
		"https://user:pw@app.example/client.json",
		"https://app.example/a/../client.json",
		"https://app.example/./client.json",
		"https://app.example/" + strings.Repeat("a", maxClientIDURL),
	} {
		_, aerr := p.ParseAuthorize(context.Background(), authorizeQuery(id))
		if aerr == nil || aerr.Code != "invalid_client" || aerr.Redirect {
			t.Errorf("%.60s: %+v, want invalid_client", id, aerr)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		headers []string
		want    time.Duration
	}{
		{nil, time.Hour},
		{[]string{"Cache-Control", "max-age=600"}, 10 * time.Minute},
		{[]string{"Cache-Control", "public, max-age=30"}, 5 * time.Minute},
		{[]string{"Cache-Control", "max-age=604800"}, 24 * time.Hour},
		{[]string{"Cache-Control", "max-age=7200, s-maxage=900"}, 15 * time.Minute},
		{[]string{"Cache-Control", "no-store"}, 5 * time.Minute},
		{[]string{"Cache-Control", "no-cache, max-age=7200"}, 5 * time.Minute},
		{[]string{"Expires", now.Add(3 * time.Hour).Format(http.TimeFormat)}, 3 * time.Hour},
		{[]string{"Expires", "0"}, 5 * time.Minute},
	} {
		h := http.Header{}
		for i := 0; i+1 < len(tt.headers); i += 2 {
			h.Set(tt.headers[i], tt.headers[i+1])
		}
		if got := cacheTTL(h, now); got != tt.want {
			t.Errorf("cacheTTL(%v) = %v, want %v", tt.headers, got, tt.want)
		}
	}
}

// TestCIMDNewDocumentsRateLimited: anyone can name a new https URL as client_id, and each
// makes Conexor fetch it and store a client; from one address that is limited like dynamic
// registration, which it replaces. Known documents are not limited, nor is another address.
func TestCIMDNewDocumentsRateLimited(t *testing.T) {
	p := newCIMDProvider(t, true, newClock())
	ds := newDocServer(t, p, 2*time.Second)
	ds.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(validDoc(ds.URL + r.URL.Path))
	})
	ctx := WithClientIP(context.Background(), "203.0.113.7")
	var refused int
	for i := range registrationBurst + 5 {
		_, aerr := p.ParseAuthorize(ctx, authorizeQuery(ds.URL+"/client-"+strconv.Itoa(i)+".json"))
		switch {
		case aerr == nil:
		case aerr.Code == "invalid_client" && strings.Contains(aerr.Description, "too many new applications"):
			refused++
		default:
			t.Fatalf("document %d: %+v", i, aerr)
		}
	}
	if refused != 5 || ds.hits.Load() != registrationBurst {
		t.Errorf("%d new documents from one address: %d refused, %d fetched; want 5 and %d", registrationBurst+5, refused, ds.hits.Load(), registrationBurst)
	}
	if _, aerr := p.ParseAuthorize(ctx, authorizeQuery(ds.URL+"/client-0.json")); aerr != nil {
		t.Errorf("a known document: %+v", aerr)
	}
	if _, aerr := p.ParseAuthorize(WithClientIP(context.Background(), "198.51.100.9"), authorizeQuery(ds.URL+"/other.json")); aerr != nil {
		t.Errorf("another address: %+v", aerr)
	}
}
