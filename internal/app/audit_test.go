package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// auditWant is the one event an action must produce.
type auditWant struct {
	kind, actorID string
	// target is the event's Target; anyTarget accepts any non-empty one (an ID the test
	// cannot know, such as a refresh-token family's request ID).
	target    string
	anyTarget bool
	// server is the event's ServerPath when set.
	server string
	result string // "" means audit.OK
}

// auditRig is what the rows of TestAuditEventPerAction share: one running Conexor and
// what earlier rows created.
type auditRig struct {
	e  *testenv.Env
	op context.Context // the CLI's context: the operator acts
	// client is created by the "client created" row and changed by the next ones.
	client *storage.Client
	// apiClientID, apiSecret: a client of acme/sales-api that may PATCH the server API.
	apiClientID, apiSecret string
	adminID                string
	// browser is the admin's, logged in, after the "consent granted" row.
	browser *auditBrowser
	// members is the admin's browser of the members rows, memberID the member they add.
	members  *auditBrowser
	memberID string
}

// auditCase is one action of issue 10's audit list.
type auditCase struct {
	name, action string
	do           func(t *testing.T, r *auditRig) auditWant
	// none are actions the same step must not record (a registration is not also a
	// client created).
	none []string
}

// TestAuditEventPerAction: every audited action produces exactly one event, with the
// actor and target it concerns, driven through the entry points real callers use (HTTP
// endpoints, the provider's service calls as the CLI makes them).
func TestAuditEventPerAction(t *testing.T) { testAuditEventPerAction(t, testenv.Options{}) }

// TestAuditEventPerActionPostgres is the same on Postgres.
func TestAuditEventPerActionPostgres(t *testing.T) {
	testAuditEventPerAction(t, testenv.Options{Postgres: true})
}

func testAuditEventPerAction(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	ctx := context.Background()
	admin, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	srv := e.ServerByPath("acme/sales-api")
	apiClient, apiSecret := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "audit api script",
		Scopes:     []string{provider.ScopeServerRead, provider.ScopeServerManage},
		GrantTypes: []string{"client_credentials"}})
	r := &auditRig{e: e, op: audit.WithActor(ctx, audit.Operator()), apiClientID: apiClient.ID, apiSecret: apiSecret, adminID: admin.ID}

	cases := []auditCase{
		// --- Recorded by the consent flow (login, logout, consent); enable after merging. ---
		{name: "login success", action: audit.LoginSucceeded,
			do: func(t *testing.T, r *auditRig) auditWant {
				b := newAuditBrowser(t, r.e)
				b.login(app.DemoAdminEmail, testenv.AdminPassword)
				return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.adminID}
			}},
		// A failed login's actor is the account tried when the email exists (an unknown
		// email is anonymous, named by the email typed).
		{name: "login failure", action: audit.LoginFailed,
			do: func(t *testing.T, r *auditRig) auditWant {
				b := newAuditBrowser(t, r.e)
				b.postLogin(app.DemoAdminEmail, "wrong password")
				return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.adminID, result: audit.Refused}
			}},
		{name: "logout", action: audit.Logout,
			do: func(t *testing.T, r *auditRig) auditWant {
				b := newAuditBrowser(t, r.e)
				b.login(app.DemoAdminEmail, testenv.AdminPassword)
				b.logout()
				return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.adminID}
			}},
		{name: "consent granted", action: audit.ConsentGranted, do: func(t *testing.T, r *auditRig) auditWant {
			b := newAuditBrowser(t, r.e)
			b.login(app.DemoAdminEmail, testenv.AdminPassword)
			status, body := b.send(http.MethodGet, "/oauth/consent?"+authorizeQuery(r.e).Encode(), nil)
			m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindStringSubmatch(body)
			if status != http.StatusOK || m == nil {
				t.Fatalf("consent page: %d", status)
			}
			status, _ = b.send(http.MethodPost, "/oauth/consent", url.Values{"csrf_token": {b.csrf},
				"request": {html.UnescapeString(m[1])}, "scope": {"mcp:tools:read"}, "decision": {"approve"}})
			if status != http.StatusSeeOther {
				t.Fatalf("approve: %d, want 303 to the client", status)
			}
			r.browser = b
			return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.e.PublicClientID, server: "acme/sales-api"}
		}},
		{name: "consent revoked", action: audit.ConsentRevoked, do: func(t *testing.T, r *auditRig) auditWant {
			b := r.browser // logged in, holding the grant of the row before
			status, _ := b.send(http.MethodPost, "/account/apps/revoke", url.Values{"csrf_token": {b.csrf},
				"client": {r.e.PublicClientID}, "server": {srv.ID}})
			if status != http.StatusOK {
				t.Fatalf("revoke access: %d", status)
			}
			return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.e.PublicClientID, server: "acme/sales-api"}
		}},
		// --- Recorded by the members pages; enable after merging. ---
		{name: "member added", action: audit.MemberAdded, do: func(t *testing.T, r *auditRig) auditWant {
			b := newAuditBrowser(t, r.e)
			b.login(app.DemoAdminEmail, testenv.AdminPassword)
			b.send(http.MethodGet, "/dashboard/acme/members", nil) // the CSRF token
			status, _ := b.send(http.MethodPost, "/dashboard/acme/members", url.Values{"csrf_token": {b.csrf},
				"email": {"audit-member@acme.test"}, "role": {"member"}})
			if status != http.StatusOK {
				t.Fatalf("add member: %d", status)
			}
			u, err := r.e.Store.UserByEmail(context.Background(), "audit-member@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			r.members, r.memberID = b, u.ID
			return auditWant{kind: audit.KindUser, actorID: r.adminID, target: u.ID}
		}},
		{name: "member role changed", action: audit.MemberRoleChanged, do: func(t *testing.T, r *auditRig) auditWant {
			status, _ := r.members.send(http.MethodPost, "/dashboard/acme/members/"+r.memberID+"/role", url.Values{"csrf_token": {r.members.csrf}, "role": {"admin"}})
			if status != http.StatusOK {
				t.Fatalf("change role: %d", status)
			}
			return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.memberID}
		}},
		{name: "member removed", action: audit.MemberRemoved, do: func(t *testing.T, r *auditRig) auditWant {
			status, _ := r.members.send(http.MethodPost, "/dashboard/acme/members/"+r.memberID+"/remove", url.Values{"csrf_token": {r.members.csrf}})
			if status != http.StatusOK {
				t.Fatalf("remove member: %d", status)
			}
			return auditWant{kind: audit.KindUser, actorID: r.adminID, target: r.memberID}
		}},

		// --- Recorded by the provider, the gateway's server API and the token endpoint. ---
		{name: "client created", action: audit.ClientCreated, do: func(t *testing.T, r *auditRig) auditWant {
			c, _, err := r.e.Provider.CreateClient(r.op, provider.ClientSpec{ServerID: srv.ID, Name: "Audit client",
				Scopes: []string{provider.ScopeToolsRead}, GrantTypes: []string{"client_credentials"}})
			if err != nil {
				t.Fatal(err)
			}
			r.client = c
			return auditWant{kind: audit.KindOperator, target: c.ID, server: "acme/sales-api"}
		}},
		{name: "client edited", action: audit.ClientUpdated, do: func(t *testing.T, r *auditRig) auditWant {
			name := "Audit client renamed"
			if _, err := r.e.Provider.UpdateClient(r.op, r.client.ID, provider.ClientUpdate{Name: &name}); err != nil {
				t.Fatal(err)
			}
			return auditWant{kind: audit.KindOperator, target: r.client.ID, server: "acme/sales-api"}
		}},
		{name: "client secret rotated", action: audit.ClientSecretRotated, do: func(t *testing.T, r *auditRig) auditWant {
			if _, err := r.e.Provider.RotateSecret(r.op, r.client.ID); err != nil {
				t.Fatal(err)
			}
			return auditWant{kind: audit.KindOperator, target: r.client.ID, server: "acme/sales-api"}
		}},
		{name: "client revoked", action: audit.ClientRevoked, do: func(t *testing.T, r *auditRig) auditWant {
			if err := r.e.Provider.RevokeClient(r.op, r.client.ID); err != nil {
				t.Fatal(err)
			}
			return auditWant{kind: audit.KindOperator, target: r.client.ID, server: "acme/sales-api"}
		}},
		{name: "server created", action: audit.ServerCreated, do: func(t *testing.T, r *auditRig) auditWant {
			s, err := r.e.Provider.CreateServer(r.op, provider.ServerSpec{Org: "acme", Slug: "audited", Name: "Audited"})
			if err != nil {
				t.Fatal(err)
			}
			return auditWant{kind: audit.KindOperator, target: s.ID, server: "acme/audited"}
		}},
		{name: "server changed (server API)", action: audit.ServerUpdated, do: func(t *testing.T, r *auditRig) auditWant {
			tok := r.e.Token(r.apiClientID, r.apiSecret, provider.ScopeServerManage)
			req := r.e.NewRequest(http.MethodPatch, "/api/servers/acme/sales-api", strings.NewReader(`{"name":"Sales API (audited)"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			if res := r.e.Do(req); res.StatusCode != http.StatusOK {
				t.Fatalf("PATCH: %d %s", res.StatusCode, res.Body)
			}
			return auditWant{kind: audit.KindClient, actorID: r.apiClientID, target: srv.ID, server: "acme/sales-api"}
		}},
		{name: "server change refused (server API, invalid name)", action: audit.ServerUpdated, do: func(t *testing.T, r *auditRig) auditWant {
			tok := r.e.Token(r.apiClientID, r.apiSecret, provider.ScopeServerManage)
			req := r.e.NewRequest(http.MethodPatch, "/api/servers/acme/sales-api", strings.NewReader(`{"name":"  "}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			if res := r.e.Do(req); res.StatusCode != http.StatusBadRequest {
				t.Fatalf("PATCH: %d %s, want 400", res.StatusCode, res.Body)
			}
			return auditWant{kind: audit.KindClient, actorID: r.apiClientID, target: srv.ID, server: "acme/sales-api", result: audit.Refused}
		}},
		{name: "server change refused (invalid name)", action: audit.ServerUpdated, do: func(t *testing.T, r *auditRig) auditWant {
			bad := "   "
			if _, err := r.e.Provider.UpdateServer(r.op, "acme", "audited", provider.ServerChange{Name: &bad}); err == nil {
				t.Fatal("a blank name was accepted")
			}
			return auditWant{kind: audit.KindOperator, target: r.e.ServerByPath("acme/audited").ID, server: "acme/audited", result: audit.Refused}
		}},
		{name: "refresh-token reuse (family revoked)", action: audit.RefreshTokenReuse, do: func(t *testing.T, r *auditRig) auditWant {
			first := exchangeAuditCode(t, r.e, issueAuditCode(t, r.e))
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {r.e.PublicClientID}}
			if res := r.e.PostForm("/api/oauth/token", refresh, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %s", res.StatusCode, res.Body)
			}
			if res := r.e.PostForm("/api/oauth/token", refresh, nil); res.StatusCode != http.StatusBadRequest {
				t.Fatalf("reused refresh token: %d %s, want 400", res.StatusCode, res.Body)
			}
			return auditWant{kind: audit.KindClient, actorID: r.e.PublicClientID, anyTarget: true, server: "acme/sales-api", result: audit.Refused}
		}},
		{name: "code replay", action: audit.CodeReplay, do: func(t *testing.T, r *auditRig) auditWant {
			code := issueAuditCode(t, r.e)
			exchangeAuditCode(t, r.e, code)
			if res := r.e.PostForm("/api/oauth/token", codeForm(r.e, code), nil); res.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed code: %d %s, want 400", res.StatusCode, res.Body)
			}
			return auditWant{kind: audit.KindClient, actorID: r.e.PublicClientID, anyTarget: true, server: "acme/sales-api", result: audit.Refused}
		}},
		{name: "signing key rotated", action: audit.KeyRotated, do: func(t *testing.T, r *auditRig) auditWant {
			kid, err := r.e.Provider.RotateSigningKey(r.op)
			if err != nil {
				t.Fatal(err)
			}
			return auditWant{kind: audit.KindOperator, target: kid}
		}},
		{name: "registration accepted", action: audit.ClientRegistered, none: []string{audit.ClientCreated}, do: func(t *testing.T, r *auditRig) auditWant {
			res := registerJSON(t, r.e, `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","client_name":"Audit app"}`)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("register: %d %s", res.StatusCode, res.Body)
			}
			id, _ := res.JSON(t)["client_id"].(string)
			return auditWant{kind: audit.KindAnonymous, target: id}
		}},
		{name: "registration refused", action: audit.RegistrationRefused, do: func(t *testing.T, r *auditRig) auditWant {
			res := registerJSON(t, r.e, `{"redirect_uris":["javascript:alert(1)"]}`)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("register: %d %s, want 400", res.StatusCode, res.Body)
			}
			return auditWant{kind: audit.KindAnonymous, result: audit.Refused}
		}},
	}

	last := lastAuditID(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.do(t, r)
			if err := e.App.Audit.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			events, err := e.Store.AuditEvents(ctx, storage.AuditFilter{AfterID: last, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var got []storage.AuditEvent
			for _, ev := range events {
				if ev.Action == tc.action {
					got = append(got, ev)
				}
				for _, n := range tc.none {
					if ev.Action == n {
						t.Errorf("also recorded %s: %+v", n, ev)
					}
				}
				last = max(last, ev.ID)
			}
			if len(got) != 1 {
				t.Fatalf("%d events of %s, want exactly 1: %+v", len(got), tc.action, got)
			}
			ev := got[0]
			if ev.ActorKind != want.kind || ev.ActorID != want.actorID {
				t.Errorf("actor = %s %q, want %s %q", ev.ActorKind, ev.ActorID, want.kind, want.actorID)
			}
			switch {
			case want.anyTarget && ev.Target == "":
				t.Errorf("target is empty")
			case !want.anyTarget && ev.Target != want.target:
				t.Errorf("target = %q, want %q", ev.Target, want.target)
			}
			if want.server != "" && ev.ServerPath != want.server {
				t.Errorf("server = %q, want %q", ev.ServerPath, want.server)
			}
			if want.result == "" {
				want.result = audit.OK
			}
			if ev.Result != want.result {
				t.Errorf("result = %q, want %q", ev.Result, want.result)
			}
			if want.kind == audit.KindClient || want.kind == audit.KindAnonymous {
				if ev.IP != "127.0.0.1" {
					t.Errorf("ip = %q, want the request's 127.0.0.1", ev.IP)
				}
			}
		})
	}
}

func lastAuditID(t *testing.T, e *testenv.Env) int64 {
	t.Helper()
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := e.Store.AuditEvents(ctx, storage.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

const auditVerifier = "audit-verifier-audit-verifier-audit-verifier-0123456789"

// issueAuditCode issues a code for the seeded public client as the consent page does once
// the demo admin approved it.
func issueAuditCode(t *testing.T, e *testenv.Env) string {
	t.Helper()
	ctx := context.Background()
	ar, aerr := e.Provider.ParseAuthorize(ctx, authorizeQuery(e))
	if aerr != nil {
		t.Fatalf("ParseAuthorize: %v", aerr)
	}
	u, err := e.Store.UserByEmail(ctx, app.DemoAdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.Provider.IssueCode(ctx, ar, u.ID, ar.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	return ru.Query().Get("code")
}

// authorizeQuery is an authorization request of the seeded public client for acme's server.
func authorizeQuery(e *testenv.Env) url.Values {
	sum := sha256.Sum256([]byte(auditVerifier))
	return url.Values{
		"client_id": {e.PublicClientID}, "response_type": {"code"}, "redirect_uri": {app.DemoRedirectURI},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"audit-state-0123"}, "scope": {"mcp:tools:read"},
		"resource": {e.ResourceURL(app.DemoOrg, app.DemoServer)},
	}
}

func codeForm(e *testenv.Env, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.DemoRedirectURI},
		"code_verifier": {auditVerifier}, "client_id": {e.PublicClientID}, "resource": {e.ResourceURL(app.DemoOrg, app.DemoServer)}}
}

type auditTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func exchangeAuditCode(t *testing.T, e *testenv.Env, code string) auditTokens {
	t.Helper()
	res := e.PostForm("/api/oauth/token", codeForm(e, code), nil)
	var tr auditTokens
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(res.Body), &tr) != nil || tr.RefreshToken == "" {
		t.Fatalf("code exchange: %d %s", res.StatusCode, res.Body)
	}
	return tr
}

func registerJSON(t *testing.T, e *testenv.Env, body string) *testenv.Response {
	t.Helper()
	req := e.NewRequest(http.MethodPost, "/api/oauth/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "audit-test/1.0")
	return e.Do(req)
}

// TestUsageCountersConcurrentTokens: 64 clients at once, each getting tokens over real
// HTTP, lose no increment of the hourly counter, on SQLite and on Postgres.
func TestUsageCountersConcurrentTokens(t *testing.T) {
	t.Parallel()
	testUsageCounters(t, testenv.Options{})
}

func TestUsageCountersConcurrentTokensPostgres(t *testing.T) {
	t.Parallel()
	testUsageCounters(t, testenv.Options{Postgres: true})
}

func testUsageCounters(t *testing.T, opts testenv.Options) {
	const workers, perWorker = 64, 5
	e := testenv.New(t, opts)
	id, secret := e.CreateServerClient("acme/sales-api", provider.ScopeToolsRead)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
				res, err := e.Client.PostForm(e.TokenURL(), form)
				if err != nil {
					errs <- err
					continue
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- &statusError{res.StatusCode}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("token request: %v", err)
	}
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := e.Store.Usage(ctx, []string{"acme/sales-api"}, start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range counts {
		if c.ClientID == id && c.Kind == storage.UsageTokens {
			total += c.Count
		}
	}
	if total != workers*perWorker {
		t.Errorf("tokens counted = %d, want %d", total, workers*perWorker)
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// auditBrowser is a person's browser for the rows of the login flow: a cookie jar, no
// redirects followed.
type auditBrowser struct {
	t      *testing.T
	e      *testenv.Env
	client *http.Client
	csrf   string
}

func newAuditBrowser(t *testing.T, e *testenv.Env) *auditBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &auditBrowser{t: t, e: e, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var auditCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *auditBrowser) send(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.e.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := auditCSRF.FindSubmatch(body); m != nil {
		b.csrf = html.UnescapeString(string(m[1]))
	}
	return res.StatusCode, string(body)
}

// postLogin sends the login form and returns the status.
func (b *auditBrowser) postLogin(email, pw string) int {
	b.t.Helper()
	b.send(http.MethodGet, "/login", nil)
	status, _ := b.send(http.MethodPost, "/login", url.Values{"csrf_token": {b.csrf}, "email": {email}, "password": {pw}})
	return status
}

func (b *auditBrowser) login(email, pw string) {
	b.t.Helper()
	if status := b.postLogin(email, pw); status != http.StatusSeeOther {
		b.t.Fatalf("login as %s: status %d, want 303", email, status)
	}
	b.send(http.MethodGet, "/dashboard", nil) // the session's CSRF token
}

func (b *auditBrowser) logout() {
	b.t.Helper()
	if status, _ := b.send(http.MethodPost, "/logout", url.Values{"csrf_token": {b.csrf}}); status >= 400 {
		b.t.Fatalf("logout: status %d", status)
	}
}

// TestFirstKeyRecorded: the signing key made at first start is recorded once, as Conexor
// itself; a restart on the same database makes no key and records nothing.
func TestFirstKeyRecorded(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := e.Store.AuditEvents(ctx, storage.AuditFilter{Action: audit.KeyRotated})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ActorKind != audit.KindSystem || evs[0].Target == "" {
		t.Fatalf("key.rotated events at first start = %+v, want one by the system", evs)
	}
	again := testenv.New(t, testenv.Options{DatabaseURL: e.Config.DatabaseURL, Secret: e.Config.Secret})
	if err := again.App.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err = again.Store.AuditEvents(ctx, storage.AuditFilter{Action: audit.KeyRotated})
	if err != nil || len(evs) != 1 {
		t.Errorf("key.rotated events after a restart = %d (%v), want still 1", len(evs), err)
	}
}
