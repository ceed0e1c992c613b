// Package templates holds Conexor's server-rendered pages and their stylesheet, embedded in
// the binary so a deployment is one file and pages never load anything from a CDN (the
// pages' Content-Security-Policy allows styles from the server itself only).
//
// Every page is parsed once, at New, from the embedded files, and rendered through one typed
// method per page with html/template: every string that reaches a page (client names chosen
// by whoever registered a client, scope descriptions from the config, error descriptions
// that quote request parameters) is escaped for its context.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
)

//go:embed html/*.html
var pageFiles embed.FS

//go:embed static/conexor.css
var stylesheet []byte

// StylesheetPath is where Static must be mounted; every page links it.
const StylesheetPath = "/static/conexor.css"

// Templates is the parsed set of pages. It is immutable and safe for concurrent use.
type Templates struct {
	login, consent, errorPage, loggedOut *template.Template
}

// New parses every page. It fails only if the embedded files are broken, which every test
// of the browser flow would catch.
func New() (*Templates, error) {
	funcs := template.FuncMap{"join": strings.Join}
	parse := func(page string) (*template.Template, error) {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(pageFiles, "html/layout.html", "html/"+page)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", page, err)
		}
		return t, nil
	}
	var t Templates
	var err error
	for _, p := range []struct {
		dst  **template.Template
		file string
	}{
		{&t.login, "login.html"},
		{&t.consent, "consent.html"},
		{&t.errorPage, "error.html"},
		{&t.loggedOut, "loggedout.html"},
	} {
		if *p.dst, err = parse(p.file); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// page is what the layout needs from every page.
type page struct {
	Title string
	Body  any
}

func execute(w io.Writer, t *template.Template, title string, body any) error {
	// Render into a buffer first so a template error never leaves half a page on the wire.
	var buf bytes.Buffer
	if err := t.Execute(&buf, page{Title: title, Body: body}); err != nil {
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}

// Login renders the login form.
func (t *Templates) Login(w io.Writer, p LoginPage) error {
	title := "Log in"
	if p.SignedInAs != "" {
		title = "Signed in"
	}
	return execute(w, t.login, title, p)
}

// Consent renders the consent page.
func (t *Templates) Consent(w io.Writer, p ConsentPage) error {
	return execute(w, t.consent, "Allow "+p.ClientName+"?", p)
}

// Error renders an error page.
func (t *Templates) Error(w io.Writer, p ErrorPage) error {
	return execute(w, t.errorPage, p.Title, p)
}

// LoggedOut renders the page shown after logout.
func (t *Templates) LoggedOut(w io.Writer, p LoggedOutPage) error {
	return execute(w, t.loggedOut, "Logged out", p)
}

// Static serves the stylesheet. It is not an HTML page, so it carries no page headers but
// nosniff (the CSP's style-src 'self' needs a real text/css response).
func Static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=3600")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(stylesheet)
	})
}
