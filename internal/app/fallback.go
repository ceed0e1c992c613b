package app

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/templates"
)

// pageHeaders sets the HTML page headers of DESIGN.md on every response of the browser
// flow's paths (the route table's page routes), redirects and refusals included, before
// any handler (or the router's own 404/405) writes. Pages set them again; Set is
// idempotent.
func pageHeaders(pagePaths *pageSet, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pagePaths.has(r.URL.Path) {
			httpx.PageHeaders(w.Header())
		}
		next.ServeHTTP(w, r)
	})
}

// probeMethods are the methods tried to tell a client which ones a path accepts.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists the methods some route of r accepts for req's path.
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if r.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}

// fallback answers the requests no route takes (an unknown path, or a known path with a
// method it does not accept) in the format of whoever asks: an HTML page for the browser
// flow and for browsers, otherwise a JSON error in the RFC 6749 shape. The router's
// defaults are a bare "404 page not found" and an empty 405 without an Allow header.
type fallback struct {
	issuer    string
	router    *mux.Router
	pages     *templates.Templates
	pagePaths *pageSet // the browser pages' paths, answered in HTML whatever Accept says
}

// pageSet is the paths of the route table's page routes: a path, or for a template (the
// dashboard's) every path under its literal part before the first variable.
type pageSet struct {
	exact    map[string]bool
	prefixes []string
}

func (s *pageSet) add(path string) {
	if i := strings.IndexByte(path, '{'); i >= 0 {
		s.prefixes = append(s.prefixes, path[:i])
		return
	}
	if s.exact == nil {
		s.exact = map[string]bool{}
	}
	s.exact[path] = true
}

func (s *pageSet) has(path string) bool {
	if s.exact[path] {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func (f *fallback) notFound(w http.ResponseWriter, r *http.Request) {
	f.write(w, r, http.StatusNotFound, "not_found",
		"Not found",
		fmt.Sprintf("There is nothing at %s.", r.URL.Path),
		fmt.Sprintf("The authorization server metadata at %s lists every endpoint; MCP servers are at %s.",
			urls.Endpoint(f.issuer, urls.ASMetadata), urls.Resource(f.issuer, "{org}", "{server}")))
}

func (f *fallback) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allow := allowedMethods(f.router, r)
	accepts := "no method"
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		accepts = strings.Join(allow, " or ")
	}
	f.write(w, r, http.StatusMethodNotAllowed, "invalid_request",
		"This address does not take that kind of request",
		fmt.Sprintf("%s accepts %s; this request used %s.", r.URL.Path, accepts, r.Method),
		"")
}

func (f *fallback) write(w http.ResponseWriter, r *http.Request, status int, code, title, message, action string) {
	if f.pagePaths.has(r.URL.Path) || strings.Contains(r.Header.Get("Accept"), "text/html") {
		var buf bytes.Buffer
		if err := f.pages.Error(&buf, templates.ErrorPage{Title: title, Message: message, Action: action}); err == nil {
			httpx.PageHeaders(w.Header())
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			_, _ = buf.WriteTo(w)
			return
		}
	}
	desc := message
	if action != "" {
		desc += " " + action
	}
	httpx.WriteOAuthError(w, r, &httpx.OAuthError{Status: status, Code: code, Description: desc})
}
