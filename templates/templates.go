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
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/conexor/conexor/internal/httpx"
)

//go:embed html/*.html
var pageFiles embed.FS

//go:embed static/conexor.css
var stylesheet []byte

//go:embed static/conexor.js
var script []byte

// StylesheetPath and ScriptPath are where Static must be mounted; every page links the
// stylesheet, the dashboard's pages the script (copy buttons; everything works without it).
const (
	StylesheetPath = "/static/conexor.css"
	ScriptPath     = "/static/conexor.js"
)

// Templates is the parsed set of pages. It is immutable and safe for concurrent use.
type Templates struct {
	login, consent, errorPage, loggedOut *template.Template
	// The dashboard's pages, in the console layout.
	dashboard, server, clientSecret, clientEdit, clientRevoke, newServer, notice *template.Template
}

// New parses every page. It fails only if the embedded files are broken, which every test
// of the browser flow would catch.
func New() (*Templates, error) {
	funcs := template.FuncMap{"join": strings.Join}
	parse := func(page string) (*template.Template, error) {
		files := []string{"html/layout.html", "html/" + page}
		if strings.HasPrefix(page, "dash_") {
			files = []string{"html/console.html", "html/dash_parts.html", "html/" + page}
		}
		t, err := template.New(path.Base(files[0])).Funcs(funcs).ParseFS(pageFiles, files...)
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
		{&t.dashboard, "dash_home.html"},
		{&t.server, "dash_server.html"},
		{&t.clientSecret, "dash_secret.html"},
		{&t.clientEdit, "dash_edit.html"},
		{&t.clientRevoke, "dash_revoke.html"},
		{&t.newServer, "dash_newserver.html"},
		{&t.notice, "dash_notice.html"},
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
	return execute(w, t.login, "Log in", p)
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

// Static serves the stylesheet at StylesheetPath and the script at ScriptPath. They are not
// HTML pages, so they carry no page headers but nosniff (the CSP's style-src and script-src
// 'self' need real text/css and text/javascript responses).
func Static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ctype := stylesheet, "text/css; charset=utf-8"
		if r.URL.Path == ScriptPath {
			body, ctype = script, "text/javascript; charset=utf-8"
		}
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=3600")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// Dashboard renders the list of the user's orgs and servers.
func (t *Templates) Dashboard(w io.Writer, p DashboardPage) error {
	return execute(w, t.dashboard, "Dashboard", p)
}

// Server renders the page of one MCP server.
func (t *Templates) Server(w io.Writer, p ServerPage) error {
	return execute(w, t.server, p.Name, p)
}

// ClientSecret renders a client's credentials, shown once.
func (t *Templates) ClientSecret(w io.Writer, p ClientSecretPage) error {
	title := "Client created"
	if p.Rotated {
		title = "New client secret"
	}
	return execute(w, t.clientSecret, title, p)
}

// ClientEdit renders the edit form of a client.
func (t *Templates) ClientEdit(w io.Writer, p ClientEditPage) error {
	return execute(w, t.clientEdit, "Edit "+p.ClientName, p)
}

// ClientRevoke renders the confirmation before revoking a client.
func (t *Templates) ClientRevoke(w io.Writer, p ClientRevokePage) error {
	return execute(w, t.clientRevoke, "Revoke "+p.ClientName, p)
}

// NewServer renders the New server form.
func (t *Templates) NewServer(w io.Writer, p NewServerPage) error {
	return execute(w, t.newServer, "New server", p)
}

// Notice renders a page saying that something was done.
func (t *Templates) Notice(w io.Writer, p NoticePage) error {
	return execute(w, t.notice, p.Title, p)
}

// Write sends an HTML page with the headers every page carries (httpx.PageHeaders). The
// page is rendered into a buffer first, so a template failure becomes a plain 500 page,
// logged with log, instead of half a page on the wire.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, page func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := page(&buf); err != nil {
		log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString("<!doctype html><html lang=\"en\"><title>Error</title><p>The page could not be shown. Try again later.</p></html>")
	}
	hdr := w.Header()
	httpx.PageHeaders(hdr)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
