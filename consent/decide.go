package consent

import (
	"crypto/subtle"
	"errors"
	"net/url"
	"strings"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// Pure decisions of the flow, kept apart from HTTP so they can be table-tested.

// scopesCovered reports whether a remembered consent (its space-separated scopes) covers
// every requested scope, so the consent page may be skipped.
func scopesCovered(remembered string, requested []string) bool {
	return len(requested) > 0 && provider.Contains(strings.Fields(remembered), requested)
}

// withheldScopes splits requested scopes into those a member with role may grant and those
// only an org admin may: mcp:server:manage changes the server for everyone in the org
// (disable it, move its upstream), which is an administrator's decision, not any member's.
func withheldScopes(role string, requested []string) (allowed, withheld []string) {
	for _, s := range requested {
		if s == provider.ScopeServerManage && role != storage.RoleAdmin {
			withheld = append(withheld, s)
		} else {
			allowed = append(allowed, s)
		}
	}
	return allowed, withheld
}

var (
	errNoScope      = errors.New("no scope chosen")
	errForeignScope = errors.New("a scope that was not requested")
)

// grantedScopes checks the scopes a person ticked: a non-empty subset of the requested ones.
// The result keeps the request's order, so the token's scope reads the same way each time.
func grantedScopes(requested, ticked []string) ([]string, error) {
	for _, t := range ticked {
		if !provider.ExactScopeStrategy(requested, t) {
			return nil, errForeignScope // the form was edited: never widen what was asked
		}
	}
	var out []string
	for _, s := range requested {
		if provider.ExactScopeStrategy(ticked, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errNoScope
	}
	return out, nil
}

// safeReturnTo accepts only a path on this server: it must start with exactly one "/"
// (never "//host", which browsers read as another site, nor a scheme such as
// "javascript:"), and contain no backslash (browsers treat "/\host" as "//host") and no
// control characters. Anything else yields "", so a login link can never send a person
// to another site (an open redirect).
func safeReturnTo(raw string) string {
	if raw == "" || len(raw) > 8192 || raw[0] != '/' || strings.HasPrefix(raw, "//") {
		return ""
	}
	for _, c := range raw {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return raw
}

// redirectHost describes where the answer goes, for the consent page: the host (and port)
// of a web or loopback redirect, or the app that owns a custom scheme.
func redirectHost(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI
	}
	if u.Host != "" {
		return u.Host
	}
	return "the app that opens " + u.Scheme + ":// links"
}

// csrfValid compares the posted token with the session's in constant time; an empty
// session token (no session) never matches.
func csrfValid(sessionToken, posted string) bool {
	if sessionToken == "" || posted == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sessionToken), []byte(posted)) == 1
}
