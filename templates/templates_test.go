package templates

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestPagesRenderAndEscape renders every page with hostile strings and checks the markup
// stays inert and the page is complete.
func TestPagesRenderAndEscape(t *testing.T) {
	tpl, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const evil = `<script>alert("x")</script>`
	for name, render := range map[string]func(*bytes.Buffer) error{
		"login": func(b *bytes.Buffer) error {
			return tpl.Login(b, LoginPage{CSRF: "tok", ReturnTo: `/x"><script>`, Email: evil, Error: evil})
		},
		"consent": func(b *bytes.Buffer) error {
			return tpl.Consent(b, ConsentPage{CSRF: "tok", Request: `a=1&b="><script>`, ClientName: evil, ClientID: evil,
				Unverified: true, ServerName: evil, ServerPath: evil, OrgName: evil, RedirectHost: evil,
				Scopes: []ScopeChoice{{Name: evil, Description: evil, Checked: true}}, Ignored: []string{evil}, UserEmail: evil, Error: evil})
		},
		"error": func(b *bytes.Buffer) error {
			return tpl.Error(b, ErrorPage{Title: evil, Message: evil, Action: evil, Code: evil, LogoutCSRF: "tok", ReturnTo: evil})
		},
		"logged out": func(b *bytes.Buffer) error { return tpl.LoggedOut(b, LoggedOutPage{}) },
		"dashboard": func(b *bytes.Buffer) error {
			return tpl.Dashboard(b, DashboardPage{Chrome: chrome(evil), Orgs: []OrgView{{Name: evil, Slug: evil, Role: evil, NewServerURL: evil,
				Servers: []ServerRow{{Name: evil, Path: evil, URL: evil, MCPURL: evil}}}}})
		},
		"server": func(b *bytes.Buffer) error {
			form := ClientForm{Name: evil, Scopes: []ScopeOption{{Name: evil, Description: evil}}, RedirectURIs: evil, Errors: map[string][]string{"": {evil}, "name": {evil}}}
			return tpl.Server(b, ServerPage{Chrome: chrome(evil), Admin: true, OrgName: evil, Name: evil, Path: evil, Description: evil, MCPURL: evil, Upstream: evil,
				Connect:      []ConnectStep{{ID: "x", Title: evil, Intro: evil, Code: evil, Outro: evil}},
				Clients:      []ClientRow{{Name: evil, ID: evil, GrantTypes: []string{evil}, Scopes: []string{evil}, RedirectURIs: []string{evil}, EditURL: evil, RevokeURL: evil, RotateURL: evil}},
				CreateAction: evil, Create: form, SettingsAction: evil,
				Settings: ServerForm{Name: evil, Description: evil, Upstream: evil, HeaderNames: []string{evil}, Headers: evil, Errors: map[string][]string{"upstream": {evil}}}})
		},
		"client secret": func(b *bytes.Buffer) error {
			return tpl.ClientSecret(b, ClientSecretPage{Chrome: chrome(evil), ClientName: evil, ClientID: evil, ClientSecret: evil, Scopes: []string{evil}, Curl: evil, ConsentURL: evil, ServerURL: evil})
		},
		"client edit": func(b *bytes.Buffer) error {
			return tpl.ClientEdit(b, ClientEditPage{Chrome: chrome(evil), ClientName: evil, ClientID: evil, Action: evil, CancelURL: evil, CodeFlow: true,
				Form: ClientForm{Name: evil, RedirectURIs: evil, Errors: map[string][]string{"redirect_uri": {evil}}}})
		},
		"client revoke": func(b *bytes.Buffer) error {
			return tpl.ClientRevoke(b, ClientRevokePage{Chrome: chrome(evil), ClientName: evil, ClientID: evil, Action: evil, CancelURL: evil})
		},
		"new server": func(b *bytes.Buffer) error {
			return tpl.NewServer(b, NewServerPage{Chrome: chrome(evil), OrgName: evil, OrgSlug: evil, Action: evil, CancelURL: evil,
				Form: ServerForm{Slug: evil, Name: evil, Upstream: evil, Errors: map[string][]string{"slug": {evil}}}})
		},
		"notice": func(b *bytes.Buffer) error {
			return tpl.Notice(b, NoticePage{Chrome: chrome(evil), Title: evil, Message: evil, BackURL: evil, BackLabel: evil})
		},
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := b.String()
		// The console's own script is the one <script> allowed.
		if strings.Contains(strings.ReplaceAll(out, `<script src="/static/conexor.js" defer></script>`, ""), "<script") {
			t.Errorf("%s: unescaped markup:\n%s", name, out)
		}
		for _, want := range []string{`<html lang="en">`, "<title>", `<link rel="stylesheet" href="/static/conexor.css">`, "<h1>", "<main"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: lacks %s", name, want)
			}
		}
		if strings.Contains(out, "style=") {
			t.Errorf("%s: inline style (the CSP allows only the stylesheet)", name)
		}
	}
}

func chrome(s string) Chrome {
	return Chrome{UserEmail: s, CSRF: s, Crumbs: []Crumb{{Label: s, URL: s}, {Label: s}}}
}

// TestNoExternalAssets: pages load nothing from other origins.
func TestNoExternalAssets(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`)
	err := fs.WalkDir(pageFiles, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := pageFiles.ReadFile(path)
		if ext.Match(b) {
			t.Errorf("%s refers to another origin", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stylesheet, []byte("@import")) || bytes.Contains(stylesheet, []byte("url(")) {
		t.Error("the stylesheet loads other resources")
	}
}

func TestStatic(t *testing.T) {
	for _, tt := range []struct {
		path, ctype string
		body        []byte
	}{
		{StylesheetPath, "text/css; charset=utf-8", stylesheet},
		{ScriptPath, "text/javascript; charset=utf-8", script},
	} {
		rec := httptest.NewRecorder()
		Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != tt.ctype || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s response: %d %v", tt.path, rec.Code, rec.Header())
		}
		if !bytes.Equal(rec.Body.Bytes(), tt.body) {
			t.Errorf("%s body differs", tt.path)
		}
	}
}
