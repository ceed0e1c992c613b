package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Origins is the set of browser origins allowed to call the MCP endpoint and the server
// API: the issuer's own, every loopback origin (http or https on localhost or a name under
// .localhost, 127.0.0.0/8 or [::1], any port: MCP Inspector, local tools, Tauri's
// http://tauri.localhost), and the configured ones, which may use any scheme: desktop shells
// send origins such as tauri://localhost or vscode-webview://ID. "*" among the
// configured ones allows every origin, which gives up the DNS-rebinding check; it exists
// for operators who front the server with their own check.
type Origins struct {
	any   bool
	exact map[string]bool
}

// NewOrigins builds the set from the issuer and the allowed_origins setting (each entry
// already checked by ParseOrigin).
func NewOrigins(issuer string, allowed []string) *Origins {
	o := &Origins{exact: map[string]bool{}}
	if c, err := ParseOrigin(issuer); err == nil { // config.Validate forbids a path
		o.exact[c] = true
	}
	for _, a := range allowed {
		if a == "*" {
			o.any = true
			continue
		}
		if c, err := ParseOrigin(a); err == nil {
			o.exact[c] = true
		}
	}
	return o
}

// Allowed reports whether a request whose Origin header is origin may pass.
func (o *Origins) Allowed(origin string) bool {
	if o.any {
		return true
	}
	c, err := ParseOrigin(origin)
	if err != nil {
		return false // "null" (sandboxed frames, file: pages) and anything malformed
	}
	return o.exact[c] || IsLoopbackOrigin(c)
}

// IsLoopbackOrigin reports whether origin (canonical, from ParseOrigin) is an http or https
// origin on this machine: localhost and names under .localhost, which RFC 6761 reserves for
// loopback and browsers never resolve elsewhere (so a rebinding attacker's page cannot have
// such an origin), and loopback addresses. Other schemes on localhost (tauri://localhost)
// name one desktop application, not "this machine": they must be listed.
func IsLoopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseOrigin checks that s is an origin as a browser sends it, scheme://host[:port] and
// nothing after, and returns it with scheme and host lower-cased and, for http and https, a
// default port removed (https://A.example:443 is https://a.example). Any scheme is taken:
// besides web pages, browsers embedded in desktop shells send tauri://localhost,
// vscode-webview://ID or app://NAME, and an operator may list those.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin: want scheme://host[:port]", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%q is not an origin: only scheme://host[:port], no path, query or user", s)
	}
	if strings.HasSuffix(s, "/") {
		return "", fmt.Errorf("%q is not an origin: no trailing slash (browsers send %s)", s, strings.TrimSuffix(s, "/"))
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// CheckOrigin passes a request on when it has no Origin header (not from a browser, or a
// same-origin GET from one that sends none) or an allowed one; otherwise refuse answers it
// (the MCP transport's DNS-rebinding check: a page on another origin, or on an attacker's
// name resolving to this host, must not reach the endpoint through the visitor's browser).
func CheckOrigin(o *Origins, refuse func(w http.ResponseWriter, r *http.Request, origin string), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin, ok := r.Header["Origin"]; ok && len(origin) > 0 && !o.Allowed(origin[0]) {
			refuse(w, r, origin[0])
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CrossSitePost reports why a browser's POST did not come from a page of origin (the
// issuer's), or "" when nothing says so: its Origin header names another origin, or its
// Sec-Fetch-Site is cross-site or same-site (a sibling subdomain is not this server). A
// request without either header (not a browser, or an old one) passes: the CSRF token is
// the first line, this is the second. "Origin: null" says nothing either way: browsers send
// it for the pages' own forms, because the pages ask for Referrer-Policy: no-referrer; the
// Sec-Fetch-Site that comes with it decides.
func CrossSitePost(r *http.Request, origin string) string {
	if r.Method != http.MethodPost {
		return ""
	}
	if got, ok := r.Header["Origin"]; ok && len(got) > 0 && got[0] != "null" {
		c, err := ParseOrigin(got[0])
		if want, _ := ParseOrigin(origin); err != nil || c != want {
			return fmt.Sprintf("the form was sent from %s, not from %s", Truncate(got[0], 200), origin)
		}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "the browser says the form was sent from another site (Sec-Fetch-Site: " + Truncate(site, 40) + ")"
	}
	return ""
}
