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
		"signed in": func(b *bytes.Buffer) error { return tpl.Login(b, LoginPage{CSRF: "tok", SignedInAs: evil}) },
		"consent": func(b *bytes.Buffer) error {
			return tpl.Consent(b, ConsentPage{CSRF: "tok", Request: `a=1&b="><script>`, ClientName: evil, ClientID: evil,
				Unverified: true, ServerName: evil, ServerPath: evil, OrgName: evil, RedirectHost: evil,
				Scopes: []ScopeChoice{{Name: evil, Description: evil, Checked: true}}, Ignored: []string{evil}, UserEmail: evil, Error: evil})
		},
		"error": func(b *bytes.Buffer) error {
			return tpl.Error(b, ErrorPage{Title: evil, Message: evil, Action: evil, Code: evil, LogoutCSRF: "tok", ReturnTo: evil})
		},
		"logged out": func(b *bytes.Buffer) error { return tpl.LoggedOut(b, LoggedOutPage{}) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := b.String()
		if strings.Contains(out, "<script") {
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
	rec := httptest.NewRecorder()
	Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, StylesheetPath, nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("stylesheet response: %d %v", rec.Code, rec.Header())
	}
	if !bytes.Equal(rec.Body.Bytes(), stylesheet) {
		t.Error("stylesheet body differs")
	}
}
