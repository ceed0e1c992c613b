package mcp_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/mcp"
	"github.com/conexor/conexor/provider"
)

// challenge renders the WWW-Authenticate header the gate must send.
func challenge(e *testenv.Env, code, desc string) string {
	md := metadataURL(e, "acme", "sales-api")
	if code == "" {
		return `Bearer resource_metadata="` + md + `"`
	}
	return `Bearer error="` + code + `", error_description="` + desc + `", resource_metadata="` + md + `"`
}

const (
	descMalformed = "The access token is malformed or its signature is invalid."
	descHeader    = "The Authorization header must be exactly: Bearer <token>."
)

// TestRefusals sends tools/list with every kind of bad credentials and checks the status,
// the exact challenge and the JSON-RPC error body.
func TestRefusals(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	resource := e.ResourceURL("acme", "sales-api")

	// A real token for another server of the same org.
	e.CreateServer("acme/other")
	otherID, otherSecret := e.CreateServerClient("acme/other", provider.ScopeToolsRead)
	otherToken := ccToken(t, e, otherID, otherSecret)

	// The real signing key, another issuer.
	foreignIss := claims(e, "mcp:tools:read")
	foreignIss["iss"] = "http://evil.example"
	wrongIssuer, _, err := e.Provider.Keys().Sign(foreignIss)
	if err != nil {
		t.Fatal(err)
	}
	// The real key and claims, but never issued (not in storage).
	neverIssued, _, err := e.Provider.Keys().Sign(claims(e, "mcp:tools:read"))
	if err != nil {
		t.Fatal(err)
	}

	kid := e.Provider.Keys().CurrentKID()
	header := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid} }
	algNone := compact(t, header("none", kid), claims(e, "mcp:tools:read"), func([]byte) []byte { return nil })

	// Alg confusion: HS256 keyed with the published ES256 public key, as a JWK and as PEM.
	set := e.JWKS()
	if len(set.Keys) == 0 {
		t.Fatal("JWKS is empty")
	}
	jwkBytes, err := json.Marshal(set.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(set.Keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs256 := func(secret []byte) string {
		return compact(t, header("HS256", kid), claims(e, "mcp:tools:read"), func(in []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(in)
			return m.Sum(nil)
		})
	}

	// A well-formed ES256 token from a key this server never had.
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: stranger},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "not-a-kid-of-ours"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims(e, "mcp:tools:read"))
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	unknownKID, _ := jws.CompactSerialize()

	valid := e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)

	for _, tc := range []struct {
		name       string
		auth       []string // Authorization header values
		query      string
		wantStatus int
		wantAuth   string
		wantCode   int
	}{
		{"no token", nil, "", 401, challenge(e, "", ""), -32001},
		{"basic scheme", []string{"Basic YTpi"}, "", 401, challenge(e, "", ""), -32001},
		{"empty bearer", []string{"Bearer"}, "", 401, challenge(e, "invalid_request", descHeader), -32001},
		{"bearer with junk after", []string{"Bearer " + valid + " x"}, "", 401, challenge(e, "invalid_request", descHeader), -32001},
		{"two headers", []string{"Bearer " + valid, "Bearer " + valid}, "", 401,
			challenge(e, "invalid_request", "Send exactly one Authorization header."), -32001},
		{"garbage", []string{"Bearer garbage"}, "", 401, challenge(e, "invalid_token", descMalformed), -32001},
		{"three garbage segments", []string{"Bearer a.b.c"}, "", 401, challenge(e, "invalid_token", descMalformed), -32001},
		{"wrong audience", []string{"Bearer " + otherToken}, "", 401, challenge(e, "invalid_token",
			"The access token is for another resource; request a token for "+resource+" (RFC 8707 resource parameter)."), -32001},
		{"wrong issuer", []string{"Bearer " + wrongIssuer}, "", 401,
			challenge(e, "invalid_token", "The access token was not issued by this authorization server."), -32001},
		{"never issued", []string{"Bearer " + neverIssued}, "", 401,
			challenge(e, "invalid_token", "The access token is not known to this server."), -32001},
		{"alg none", []string{"Bearer " + algNone}, "", 401, challenge(e, "invalid_token", descMalformed), -32001},
		{"HS256 keyed with the public JWK", []string{"Bearer " + hs256(jwkBytes)}, "", 401, challenge(e, "invalid_token", descMalformed), -32001},
		{"HS256 keyed with the public PEM", []string{"Bearer " + hs256(pemBytes)}, "", 401, challenge(e, "invalid_token", descMalformed), -32001},
		{"unknown kid", []string{"Bearer " + unknownKID}, "", 401,
			challenge(e, "invalid_token", "The access token is signed with an unknown key."), -32001},
		{"token in the query", nil, "?access_token=" + valid, 401, challenge(e, "invalid_request",
			"Access tokens are accepted only in the Authorization header, never in the URL query."), -32001},
		{"token in the query and the header", []string{"Bearer " + valid}, "?access_token=" + valid, 401, challenge(e, "invalid_request",
			"Access tokens are accepted only in the Authorization header, never in the URL query."), -32001},
		{"token in the query, odd case", nil, "?Access_Token=" + valid, 401, challenge(e, "invalid_request",
			"Access tokens are accepted only in the Authorization header, never in the URL query."), -32001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.NewRequest(http.MethodPost, salesPath+tc.query, stringsReader(toolsList))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for _, v := range tc.auth {
				req.Header.Add("Authorization", v)
			}
			r := e.Do(req)
			if r.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tc.wantStatus, r.Body)
			}
			if got := r.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.wantAuth {
				t.Errorf("WWW-Authenticate = %q\nwant %q", got, tc.wantAuth)
			}
			if got := decodeRPCError(t, r); got.Error.Code != tc.wantCode {
				t.Errorf("JSON-RPC code %d, want %d", got.Error.Code, tc.wantCode)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}

	// The valid token itself works, so the refusals above are about what they change.
	if r := rpc(t, e, salesPath, valid, toolsList); r.StatusCode != http.StatusOK {
		t.Fatalf("valid token: status %d: %s", r.StatusCode, r.Body)
	}
}

// TestInsufficientScope: a read-only token may list tools but not call one; the 403 names
// the scope to step up to, which is what makes clients ask for it.
func TestInsufficientScope(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	readOnly := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeToolsRead)

	if r := rpc(t, e, salesPath, readOnly, toolsList); r.StatusCode != http.StatusOK {
		t.Fatalf("tools/list with mcp:tools:read: status %d: %s", r.StatusCode, r.Body)
	}
	for _, tc := range []struct{ body, scope string }{
		{`{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"list_tables","arguments":{}}}`, provider.ScopeToolsExecute},
		{`{"jsonrpc":"2.0","id":"call-1","method":"resources/read","params":{"uri":"skill://sales-api/top-customers"}}`, provider.ScopeResourcesRead},
		{`{"jsonrpc":"2.0","id":"call-1","method":"resources/list"}`, provider.ScopeResourcesRead},
	} {
		r := rpc(t, e, salesPath, readOnly, tc.body)
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403: %s", r.StatusCode, r.Body)
		}
		want := `Bearer error="insufficient_scope", scope="` + tc.scope + `", resource_metadata="` + metadataURL(e, "acme", "sales-api") + `"`
		if got := r.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("WWW-Authenticate = %q\nwant %q", got, want)
		}
		got := decodeRPCError(t, r)
		if string(got.ID) != `"call-1"` || got.Error.Code != -32003 {
			t.Errorf("body %s: want id \"call-1\" and code -32003", r.Body)
		}
	}

	// Handshake, ping and notifications need only a valid token for the server.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"ping"}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	} {
		if r := rpc(t, e, salesPath, readOnly, body); r.StatusCode >= 300 {
			t.Errorf("%s: status %d: %s", body, r.StatusCode, r.Body)
		}
	}

	// A method no scope grants is refused whatever the token holds, without a step-up
	// challenge that could not help: a JSON-RPC "method not found" in a 200, which clients
	// handle (an HTTP error without a challenge is a transport error to them).
	full := ccToken(t, e, e.ClientID, e.ClientSecret)
	for _, method := range []string{"sampling/createMessage", "vendor/unknown"} {
		r := rpc(t, e, salesPath, full, `{"jsonrpc":"2.0","id":7,"method":"`+method+`"}`)
		if r.StatusCode != http.StatusOK || r.Header.Get("WWW-Authenticate") != "" {
			t.Fatalf("%s: status %d, WWW-Authenticate %q; want 200 without a challenge: %s",
				method, r.StatusCode, r.Header.Get("WWW-Authenticate"), r.Body)
		}
		if got := decodeRPCError(t, r); string(got.ID) != "7" || got.Error.Code != -32601 ||
			got.Error.Message != "Method not found: no scope on this server grants "+method {
			t.Errorf("%s body %s", method, r.Body)
		}
	}
	// A notification nobody maps is still allowed for any valid token.
	if r := rpc(t, e, salesPath, readOnly, `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`); r.StatusCode != http.StatusAccepted {
		t.Errorf("unmapped notification: status %d: %s", r.StatusCode, r.Body)
	}
}

// TestExpired checks expiry on first sight and after the token was cached.
func TestExpired(t *testing.T) {
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	cached := e.Token(e.ClientID, e.ClientSecret)
	fresh := e.Token(e.ClientID, e.ClientSecret)
	if r := rpc(t, e, salesPath, cached, toolsList); r.StatusCode != http.StatusOK {
		t.Fatalf("before expiry: status %d: %s", r.StatusCode, r.Body)
	}
	clock.Advance(time.Hour + time.Second)
	for name, tok := range map[string]string{"cached": cached, "first sight": fresh} {
		r := rpc(t, e, salesPath, tok, toolsList)
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401: %s", name, r.StatusCode, r.Body)
		}
		if got, want := r.Header.Get("WWW-Authenticate"), challenge(e, "invalid_token", "The access token has expired."); got != want {
			t.Errorf("%s: WWW-Authenticate = %q\nwant %q", name, got, want)
		}
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRefusalsAreLogged: every refusal is logged with its reason and the client when known,
// and no log line ever holds the token.
func TestRefusalsAreLogged(t *testing.T) {
	var logs syncBuffer
	e := testenv.New(t, testenv.Options{Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	readOnly := e.Token(e.ClientID, e.ClientSecret, provider.ScopeToolsRead)
	rpc(t, e, salesPath, readOnly, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tables"}}`)
	rpc(t, e, "/mcp/acme/nope", readOnly, toolsList)
	forged := readOnly[:len(readOnly)-4] + "AAAA"
	rpc(t, e, salesPath, forged, toolsList)

	var refusals []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, readOnly) || strings.Contains(line, forged) ||
			strings.Contains(line, strings.Split(readOnly, ".")[2]) {
			t.Errorf("a log line holds the token: %s", line)
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "mcp request refused" {
			refusals = append(refusals, m)
		}
	}
	if len(refusals) != 3 {
		t.Fatalf("%d refusals logged, want 3:\n%s", len(refusals), logs.String())
	}
	for i, want := range []map[string]any{
		{"outcome": "insufficient_scope", "server": "acme/sales-api", "method": "tools/call", "client_id": e.ClientID,
			"reason": `The access token lacks the scope mcp:tools:execute, which tools/call of "list_tables" needs.`},
		{"outcome": "not_found", "server": "unknown", "method": "http:POST", "reason": "No MCP server is registered at this path."},
		{"outcome": "invalid_token", "server": "acme/sales-api", "method": "http:POST", "reason": descMalformed},
	} {
		for k, v := range want {
			if refusals[i][k] != v {
				t.Errorf("refusal %d: %s = %v, want %v", i, k, refusals[i][k], v)
			}
		}
	}
}

// TestDatabaseUnavailable: a server the gateway has not cached cannot be looked up while
// the database is down: 503 with Retry-After and a JSON-RPC error that says to retry, never
// a 500 or driver text.
func TestDatabaseUnavailable(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	e.CreateServer("acme/later")
	id, secret := e.CreateServerClient("acme/later", provider.ScopeToolsRead)
	token := ccToken(t, e, id, secret)
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := rpc(t, e, "/mcp/acme/later", token, toolsList)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q; want 503 and 1: %s", r.StatusCode, r.Header.Get("Retry-After"), r.Body)
	}
	if got := decodeRPCError(t, r); got.Error.Code != mcp.CodeUnavailable || !strings.Contains(got.Error.Message, "retry shortly") ||
		strings.Contains(string(r.Body), "sql") {
		t.Errorf("body %s", r.Body)
	}
}
