package mcp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

const identityHeader = "X-Conexor-Identity"

// verifyAsREADME is the README's Go check of an identity assertion ("Who is calling"),
// line for line: TestREADMEGoSnippet fails when the two differ.
func verifyAsREADME(r *http.Request, jwks jose.JSONWebKeySet, issuer, upstream, resource string) (jwt.Claims, map[string]any, bool) {
	tok, err := jwt.ParseSigned(r.Header.Get("X-Conexor-Identity"), []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	std, caller := jwt.Claims{}, map[string]any{} // caller["client_id"], ["org"], ["scope"], ["act"]
	ok := err == nil && tok.Headers[0].ExtraHeaders["typ"] == "conexor-identity+jwt" && tok.Claims(jwks, &std, &caller) == nil &&
		std.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{upstream}}) == nil &&
		caller["resource"] == resource // sent through the server you trust; std.Subject is who calls
	return std, caller, ok
}

// TestREADMEGoSnippet: every line of the README's Go verification snippet is in
// verifyAsREADME, in order, so the README shows what the tests run.
func TestREADMEGoSnippet(t *testing.T) {
	snippet := readmeBlock(t, "go")
	src, err := os.ReadFile("identity_test.go")
	if err != nil {
		t.Fatal(err)
	}
	rest := string(src)
	for _, line := range strings.Split(snippet, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		i := strings.Index(rest, line)
		if i < 0 {
			t.Fatalf("the README's Go snippet line\n\t%s\nis not in verifyAsREADME (in this order): change both together", line)
		}
		rest = rest[i+len(line):]
	}
}

// readmeBlock is the first fenced block of lang in the README's section on identity
// assertions.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Who is calling: identity assertions for upstreams\n")
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok2 := strings.Cut(section, "\n```"+lang+"\n")
	block, _, ok3 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("no ```%s block in the README's section on identity assertions", lang)
	}
	return block
}

// identityUpstream is a go-sdk MCP server that records, for every request, the identity
// header, the Authorization header, and what the README's check made of the assertion.
type identityUpstream struct {
	*httptest.Server
	jwks   func() jose.JSONWebKeySet
	issuer string
	// trusted is the Conexor server the upstream at path expects its calls through (the
	// README check's resource).
	trusted func(path string) string

	mu   sync.Mutex
	got  []identitySeen
	auth []string
}

type identitySeen struct {
	path      string
	assertion string
	std       jwt.Claims
	caller    map[string]any
	ok        bool
}

func newIdentityUpstream(t *testing.T) *identityUpstream {
	t.Helper()
	srv := sdk.NewServer(&sdk.Implementation{Name: "identity-upstream", Version: "1"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "whoami", Description: "Answers."},
		func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "hello"}}}, nil, nil
		})
	u := &identityUpstream{}
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := identitySeen{path: r.URL.Path, assertion: r.Header.Get(identityHeader)}
		if s.assertion != "" {
			s.std, s.caller, s.ok = verifyAsREADME(r, u.jwks(), u.issuer, u.URL+r.URL.Path, u.trusted(r.URL.Path))
		}
		u.mu.Lock()
		u.got = append(u.got, s)
		u.auth = append(u.auth, r.Header.Get("Authorization")+r.Header.Get("Cookie"))
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// seen returns what the upstream recorded since the last call, and forgets it.
func (u *identityUpstream) seen() []identitySeen {
	u.mu.Lock()
	defer u.mu.Unlock()
	got := u.got
	u.got = nil
	return got
}

// TestIdentityAssertion: a server with an identity header sends the upstream, with every
// proxied request, an assertion that the README's check accepts against the JWKS, with the
// claims of the caller: the client for client credentials (no act), the user with act for
// an authorization-code token. It is reused while more than half its lifetime remains and
// renewed after. A server without one sends none, the caller's Authorization never goes
// upstream, and the assertion is refused as a bearer token by the gate. Another org's server
// pointed at the same upstream URL with assertions on gets assertions the README's check
// refuses: their resource names that server, not the acme/crm the upstream trusts.
func TestIdentityAssertion(t *testing.T) { testIdentityAssertion(t, testenv.Options{}) }

// TestIdentityAssertionPostgres is TestIdentityAssertion on Postgres.
func TestIdentityAssertionPostgres(t *testing.T) {
	testIdentityAssertion(t, testenv.Options{Postgres: true})
}

func testIdentityAssertion(t *testing.T, opts testenv.Options) {
	clock := testenv.NewClock(time.Now())
	opts.Now = clock.Now
	e := testenv.New(t, opts)
	up := newIdentityUpstream(t)
	up.jwks, up.issuer = e.JWKS, e.URL
	up.trusted = func(path string) string { return e.ResourceURL("acme", strings.TrimPrefix(path, "/")) }
	ctx := context.Background()
	// evil/crm is pointed at acme/crm's upstream URL (up.URL+"/crm"), as its org's admin may.
	for path, identity := range map[string]string{"acme/crm": "x-conexor-identity", "acme/plain": "", "evil/crm": "X-Conexor-Identity"} {
		srv := e.CreateServer(path)
		upstream := up.URL + "/" + srv.Slug
		if _, err := e.Provider.UpdateServer(ctx, srv.OrgSlug, srv.Slug, provider.ServerChange{Upstream: &upstream, IdentityHeader: &identity}); err != nil {
			t.Fatal(err)
		}
	}
	crmUpstream := up.URL + "/crm"
	scopes := []string{provider.ScopeToolsRead, provider.ScopeToolsExecute}

	// Client credentials: sub is the client, no act.
	id, secret := e.CreateServerClient("acme/crm", scopes...)
	token := e.Token(id, secret)
	cs := connect(t, e, e.URL+"/mcp/acme/crm", token, legacyProtocol)
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatalf("tools/call through the gate: %v", err)
	}
	got := up.seen()
	if len(got) < 2 {
		t.Fatalf("the upstream saw %d requests, want initialize, initialized and tools/call", len(got))
	}
	first := got[0]
	for _, s := range got {
		if !s.ok {
			t.Fatalf("the README's check refused the assertion %q sent to %s", s.assertion, s.path)
		}
		if s.assertion != first.assertion {
			t.Errorf("a second assertion was signed within half the first one's lifetime")
		}
	}
	checkIdentity(t, e, first, crmUpstream, id, id, "mcp:tools:read mcp:tools:execute", false)
	iat, exp := first.std.IssuedAt.Time(), first.std.Expiry.Time()
	if exp.Sub(iat) != provider.IdentityAssertionLifetime {
		t.Errorf("assertion lifetime %v, want %v", exp.Sub(iat), provider.IdentityAssertionLifetime)
	}

	// More than half its lifetime gone: the next request carries a new one.
	clock.Advance(provider.IdentityAssertionLifetime/2 + time.Second)
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatal(err)
	}
	if got := up.seen(); len(got) != 1 || !got[0].ok || got[0].assertion == first.assertion || got[0].std.ID == first.std.ID {
		t.Errorf("after half its lifetime: %d requests, want one with a fresh assertion that verifies", len(got))
	}

	// The assertion is no bearer token: refused by the gate of its server and of any other.
	for _, path := range []string{"/mcp/acme/crm", salesPath} {
		r := rpc(t, e, path, first.assertion, toolsList)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("the assertion as a bearer token at %s: %d %q, want 401 invalid_token", path, r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	}

	// Authorization code: sub is the user, act the client acting for them.
	user, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	appToken, appID := userToken(t, e, "acme/crm", user.ID, scopes)
	cs2 := connect(t, e, e.URL+"/mcp/acme/crm", appToken, legacyProtocol)
	if _, err := cs2.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatal(err)
	}
	got = up.seen()
	if len(got) == 0 || !got[len(got)-1].ok {
		t.Fatalf("the user's call reached the upstream with no assertion the README's check accepts: %+v", got)
	}
	checkIdentity(t, e, got[len(got)-1], crmUpstream, user.ID, appID, "mcp:tools:read mcp:tools:execute", true)

	// A server without an identity header sends none.
	plainID, plainSecret := e.CreateServerClient("acme/plain", scopes...)
	cs3 := connect(t, e, e.URL+"/mcp/acme/plain", e.Token(plainID, plainSecret), legacyProtocol)
	if _, err := cs3.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range up.seen() {
		if s.assertion != "" {
			t.Errorf("a server without an identity header sent one to %s", s.path)
		}
	}
	// Another org's server with the same upstream URL: a genuine assertion, addressed to the
	// same upstream by the same issuer, and refused by the README's check for its resource.
	evilID, evilSecret := e.CreateServerClient("evil/crm", scopes...)
	cs4 := connect(t, e, e.URL+"/mcp/evil/crm", e.Token(evilID, evilSecret), legacyProtocol)
	if _, err := cs4.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatal(err)
	}
	got = up.seen()
	if len(got) == 0 {
		t.Fatal("evil/crm's call never reached the upstream")
	}
	for _, s := range got {
		if s.path != "/crm" || s.assertion == "" {
			t.Fatalf("evil/crm's request reached %s with assertion %q, want /crm with one", s.path, s.assertion)
		}
		if s.ok {
			t.Errorf("the README's check accepted an assertion from evil/crm at acme/crm's upstream: %v", s.caller)
		}
		if !s.std.Audience.Contains(crmUpstream) || s.std.Issuer != e.URL || s.caller["org"] != "evil" ||
			s.caller["resource"] != e.ResourceURL("evil", "crm") {
			t.Errorf("evil/crm's assertion: iss %q aud %v org %v resource %v, want this issuer, %s, evil and evil/crm's URL",
				s.std.Issuer, s.std.Audience, s.caller["org"], s.caller["resource"], crmUpstream)
		}
	}

	up.mu.Lock()
	defer up.mu.Unlock()
	for _, a := range up.auth {
		if a != "" {
			t.Fatalf("the upstream received the caller's Authorization or cookies: %q", a)
		}
	}
}

// checkIdentity checks an assertion's claims and header.
func checkIdentity(t *testing.T, e *testenv.Env, s identitySeen, upstream, sub, clientID, scope string, act bool) {
	t.Helper()
	j := e.VerifyJWT(s.assertion)
	if j.Typ != provider.IdentityAssertionType || j.Header.KeyID == "" {
		t.Errorf("assertion header typ %q kid %q, want %s and a kid", j.Typ, j.Header.KeyID, provider.IdentityAssertionType)
	}
	c := j.Claims
	want := map[string]string{"iss": e.URL, "aud": upstream, "sub": sub, "client_id": clientID, "org": "acme",
		"resource": e.ResourceURL("acme", "crm"), "scope": scope}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %#v, want %q", k, c[k], v)
		}
	}
	if s.std.Subject != sub || s.caller["client_id"] != clientID {
		t.Errorf("the README's check read sub %q client_id %v", s.std.Subject, s.caller["client_id"])
	}
	if c["jti"] == "" || c["jti"] == nil {
		t.Error("no jti")
	}
	gotAct, hasAct := c["act"].(map[string]any)
	switch {
	case act && (!hasAct || gotAct["sub"] != clientID || len(gotAct) != 1):
		t.Errorf("act = %#v, want {\"sub\": %q}", c["act"], clientID)
	case !act && c["act"] != nil:
		t.Errorf("act = %#v for client credentials, want none", c["act"])
	}
}

// userToken runs the authorization code flow for userID with a public client of the server
// at path (the consent page's decision made through the provider, the exchange with
// golang.org/x/oauth2 and PKCE) and returns the access token and the client's ID.
func userToken(t *testing.T, e *testenv.Env, path, userID string, scopes []string) (token, clientID string) {
	t.Helper()
	srv := e.ServerByPath(path)
	const redirect = "http://127.0.0.1:9/callback"
	c, _ := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "identity app", Scopes: scopes, Public: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{redirect}})
	verifier := oauth2.GenerateVerifier()
	sum := sha256.Sum256([]byte(verifier))
	resource := e.ResourceURL(srv.OrgSlug, srv.Slug)
	ctx := e.Context()
	ar, aerr := e.Provider.ParseAuthorize(ctx, url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"identity-state-0123"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"scope": {strings.Join(scopes, " ")}, "resource": {resource},
	})
	if aerr != nil {
		t.Fatalf("ParseAuthorize: %v", aerr)
	}
	back, err := e.Provider.IssueCode(ctx, ar, userID, ar.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(back)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: c.ID, RedirectURL: redirect, Endpoint: oauth2.Endpoint{TokenURL: e.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := conf.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok.AccessToken, c.ID
}

// TestIdentityAssertionNeedsPublishedKey: with HS256 keys an identity header cannot be
// turned on, and a server that has one anyway (set before the algorithm changed) is
// answered 502 with a JSON-RPC error: the upstream is never called without the assertion
// it was promised.
func TestIdentityAssertionNeedsPublishedKey(t *testing.T) {
	e := testenv.New(t, testenv.Options{SigningAlg: provider.AlgHS256})
	up := newIdentityUpstream(t)
	srv := e.CreateServer("acme/crm")
	upstream, identity := up.URL+"/crm", identityHeader
	_, err := e.Provider.UpdateServer(context.Background(), "acme", "crm", provider.ServerChange{Upstream: &upstream, IdentityHeader: &identity})
	if !errors.Is(err, provider.ErrInvalidServer) || !strings.Contains(err.Error(), "signs with HS256") {
		t.Fatalf("turning identity assertions on under HS256: %v, want a ServerProblems naming HS256", err)
	}
	srv.Upstream, srv.IdentityHeader = upstream, identityHeader
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/crm", provider.ScopeToolsRead)
	r := rpc(t, e, "/mcp/acme/crm", e.Token(id, secret), toolsList)
	if r.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", r.StatusCode, r.Body)
	}
	if m := decodeRPCError(t, r).Error.Message; !strings.Contains(m, "identity assertion") {
		t.Errorf("JSON-RPC error %q does not say the assertion could not be signed", m)
	}
	if got := up.seen(); len(got) != 0 {
		t.Errorf("the upstream was called %d times without its assertion", len(got))
	}
}

// TestPatchIdentityHeader: the server API turns identity assertions on and off, shows the
// header to tokens that may change it, and refuses a reserved name or one of the server's
// stored upstream headers with a 400 in its own error format, never a 500.
func TestPatchIdentityHeader(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	key := map[string]string{"X-Api-Key": "k-123"}
	srv := e.CreateServer("acme/crm")
	upstream := "https://93.184.215.14/mcp"
	if _, err := e.Provider.UpdateServer(context.Background(), "acme", "crm", provider.ServerChange{Upstream: &upstream, Headers: key}); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/crm", provider.ScopeServerManage, provider.ScopeServerRead)
	manage := e.Token(id, secret)
	patch := func(body string) *testenv.Response {
		req := e.NewRequest(http.MethodPatch, "/api/servers/acme/crm", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+manage)
		return e.Do(req)
	}
	stored := func() string { return e.ServerByPath(srv.Path()).IdentityHeader }

	if r := patch(`{"identity_header":"x-caller"}`); r.StatusCode != http.StatusOK ||
		r.JSON(t)["identity_header"] != "X-Caller" || stored() != "X-Caller" {
		t.Fatalf("PATCH identity_header: %d %s, stored %q", r.StatusCode, r.Body, stored())
	}
	for _, tc := range []struct{ body, want string }{
		{`{"identity_header":"Authorization"}`, "the identity cannot be sent in Authorization"},
		{`{"identity_header":"X-Api-Key"}`, "the upstream header X-Api-Key is already set for this server"},
		{`{"identity_header":7}`, "only name, description, enabled, upstream and identity_header"},
	} {
		r := patch(tc.body)
		if r.StatusCode != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_request" || !strings.Contains(string(r.Body), tc.want) {
			t.Errorf("PATCH %s: %d %s, want 400 invalid_request saying %q", tc.body, r.StatusCode, r.Body, tc.want)
		}
		if stored() != "X-Caller" {
			t.Fatalf("PATCH %s changed the identity header to %q", tc.body, stored())
		}
	}
	if r := patch(`{"identity_header":""}`); r.StatusCode != http.StatusOK || stored() != "" {
		t.Errorf(`PATCH identity_header "": %d %s, stored %q`, r.StatusCode, r.Body, stored())
	}
}
