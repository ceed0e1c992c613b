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
	"io/fs"
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

// Templates is the parsed set of pages, one per file of html/ that is not a shared part.
// It is immutable and safe for concurrent use.
type Templates struct {
	pages map[string]*template.Template
}

// parts are the files every page of a layout shares, not pages of their own.
var parts = map[string]bool{"layout.html": true, "console.html": true, "dash_parts.html": true}

// New parses every page: each html/*.html file but the parts. Pages whose name starts with
// dash_ (the dashboard's and the account's) use the console layout, the others the layout
// of the login and consent pages. It fails only if the embedded files are broken, which
// every test of the browser flow would catch.
func New() (*Templates, error) {
	funcs := template.FuncMap{"join": strings.Join}
	names, err := fs.Glob(pageFiles, "html/*.html")
	if err != nil {
		return nil, err
	}
	t := Templates{pages: make(map[string]*template.Template, len(names))}
	for _, name := range names {
		page := path.Base(name)
		if parts[page] {
			continue
		}
		files := []string{"html/layout.html", name}
		if strings.HasPrefix(page, "dash_") {
			files = []string{"html/console.html", "html/dash_parts.html", name}
		}
		pt, err := template.New(path.Base(files[0])).Funcs(funcs).ParseFS(pageFiles, files...)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", page, err)
		}
		t.pages[page] = pt
	}
	return &t, nil
}

// render executes the page of file (html/file) with title.
func (t *Templates) render(w io.Writer, file, title string, body any) error {
	pt, ok := t.pages[file]
	if !ok {
		return fmt.Errorf("templates: no page %s", file)
	}
	return execute(w, pt, title, body)
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
	return t.render(w, "login.html", "Log in", p)
}

// Consent renders the consent page.
func (t *Templates) Consent(w io.Writer, p ConsentPage) error {
	return t.render(w, "consent.html", "Allow "+p.ClientName+"?", p)
}

// Error renders an error page.
func (t *Templates) Error(w io.Writer, p ErrorPage) error {
	return t.render(w, "error.html", p.Title, p)
}

// LoggedOut renders the page shown after logout.
func (t *Templates) LoggedOut(w io.Writer, p LoggedOutPage) error {
	return t.render(w, "loggedout.html", "Logged out", p)
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
	return t.render(w, "dash_home.html", "Dashboard", p)
}

// Server renders the page of one MCP server.
func (t *Templates) Server(w io.Writer, p ServerPage) error {
	return t.render(w, "dash_server.html", p.Name, p)
}

// ClientSecret renders a client's credentials, shown once.
func (t *Templates) ClientSecret(w io.Writer, p ClientSecretPage) error {
	title := "Client created"
	if p.Rotated {
		title = "New client secret"
	}
	return t.render(w, "dash_secret.html", title, p)
}

// ClientEdit renders the edit form of a client.
func (t *Templates) ClientEdit(w io.Writer, p ClientEditPage) error {
	return t.render(w, "dash_edit.html", "Edit "+p.ClientName, p)
}

// ClientRevoke renders the confirmation before revoking a client.
func (t *Templates) ClientRevoke(w io.Writer, p ClientRevokePage) error {
	return t.render(w, "dash_revoke.html", "Revoke "+p.ClientName, p)
}

// NewServer renders the New server form.
func (t *Templates) NewServer(w io.Writer, p NewServerPage) error {
	return t.render(w, "dash_newserver.html", "New server", p)
}

// Notice renders a page saying that something was done.
func (t *Templates) Notice(w io.Writer, p NoticePage) error {
	return t.render(w, "dash_notice.html", p.Title, p)
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
