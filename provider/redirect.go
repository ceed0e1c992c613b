package provider

import (
	"errors"
	"net/url"
	"strings"

	"github.com/conexor/conexor/internal/netguard"
)

// ValidateRedirectURI checks a redirect URI at registration: https anywhere, http only on
// loopback (RFC 8252 7.3), or a private-use scheme for native apps (RFC 8252 7.1, e.g.
// cursor://). Never javascript:, data:, file: and the like, never a fragment, user info or
// wildcard. The error text says what to change.
func ValidateRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("redirect URI is empty")
	}
	if len(raw) > 2000 {
		return errors.New("redirect URI is longer than 2000 characters")
	}
	if strings.ContainsAny(raw, " \t\r\n\\<>\"{}|^`") {
		return errors.New("redirect URI contains characters that are not allowed in a URI")
	}
	if strings.Contains(raw, "*") {
		return errors.New("redirect URI must not contain wildcards")
	}
	if strings.Contains(raw, "#") {
		return errors.New("redirect URI must not contain a fragment (RFC 6749 3.1.2)")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("redirect URI must be an absolute URI")
	}
	if u.User != nil {
		return errors.New("redirect URI must not contain user info")
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return errors.New("https redirect URI needs a host")
		}
		return nil
	case "http":
		if !netguard.IsLoopbackHost(u.Hostname()) {
			return errors.New("http redirect URIs are allowed only on loopback (127.0.0.1, [::1], localhost); use https")
		}
		return nil
	case "javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp", "ws", "wss", "mailto", "tel", "view-source":
		return errors.New("redirect URI scheme " + scheme + ": is not allowed")
	}
	// A private-use scheme for a native app. RFC 8252 8.4 asks for a reverse domain name;
	// real clients (cursor://, vscode://) use short ones, so require only a scheme of at least
	// two characters and something after it.
	if len(scheme) < 2 || (u.Opaque == "" && u.Host == "" && u.Path == "") {
		return errors.New("redirect URI with a custom scheme needs a path, e.g. myapp://oauth/callback")
	}
	return nil
}

// MatchRedirectURI compares a requested redirect URI with the registered ones: exact string
// match (RFC 6749 3.1.2.3, no normalisation: a trailing slash, a different case or an extra
// query is a different URI), except that for http loopback URIs the port may differ
// (RFC 8252 7.3), for 127.0.0.1, [::1] and localhost alike. It returns the URI to redirect to.
func MatchRedirectURI(requested string, registered []string) (string, bool) {
	for _, r := range registered {
		if r == requested {
			return requested, true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || !strings.HasPrefix(requested, "http://") || !netguard.IsLoopbackHost(req.Hostname()) || req.User != nil || req.Fragment != "" {
		return "", false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || !strings.HasPrefix(r, "http://") || !netguard.IsLoopbackHost(reg.Hostname()) {
			continue
		}
		// Byte-exact apart from the port: same host text, same path and query text.
		if reg.Hostname() == req.Hostname() && afterAuthority(r, reg) == afterAuthority(requested, req) {
			return requested, true
		}
	}
	return "", false
}

// afterAuthority is the raw text after "http://host:port" (path, query), as sent.
func afterAuthority(raw string, u *url.URL) string {
	return strings.TrimPrefix(raw, "http://"+u.Host)
}
