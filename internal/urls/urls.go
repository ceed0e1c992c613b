// Package urls owns Conexor's public addresses: the route paths of DESIGN.md, the slug rule
// of orgs and servers, and the URLs built from the issuer (an MCP server's canonical
// resource URL, which tokens carry as aud, and its protected resource metadata URL). Every
// package that writes or parses one of these asks here, so they cannot drift apart.
package urls

import (
	"fmt"
	"net/url"
	"strings"
)

// Route paths (DESIGN.md, "Public URLs").
const (
	Token      = "/api/oauth/token"
	Revoke     = "/api/oauth/revoke"
	Introspect = "/api/oauth/introspect"
	Register   = "/api/oauth/register"
	Consent    = "/oauth/consent"
	Login      = "/login"
	Logout     = "/logout"
	JWKS       = "/.well-known/jwks.json"
	ASMetadata = "/.well-known/oauth-authorization-server"
	PRMetadata = "/.well-known/oauth-protected-resource"
	MCPPrefix  = "/mcp/"
	ServersAPI = "/api/servers/"
	Healthz    = "/healthz"
	Readyz     = "/readyz"
	Metrics    = "/metrics"
	Root       = "/"
	Dashboard  = "/dashboard"
)

// Route templates (gorilla/mux syntax) of the per-server routes; their handlers read the
// {org} and {server} variables.
const (
	MCPRoute        = MCPPrefix + "{org}/{server}"
	PRMetadataRoute = PRMetadata + MCPRoute
	ServerAPIRoute  = ServersAPI + "{org}/{server}"
)

// MaxSlugLength is the longest org or server slug.
const MaxSlugLength = 64

// ValidSlug reports whether s can be an org or server slug: 1-64 of a-z, 0-9 and '-',
// not starting with '-'. Slugs appear unescaped in URLs and token audiences, so nothing
// that needs escaping is allowed.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > MaxSlugLength || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SlugRule says what ValidSlug accepts, for error messages.
const SlugRule = "1-64 of a-z, 0-9 and '-', starting with a letter or digit"

// SplitServerPath parses "ORG/SERVER".
func SplitServerPath(s string) (org, server string, err error) {
	parts := strings.Split(s, "/")
	if len(parts) != 2 || !ValidSlug(parts[0]) || !ValidSlug(parts[1]) {
		return "", "", fmt.Errorf("%q must be ORG/SERVER, each %s", s, SlugRule)
	}
	return parts[0], parts[1], nil
}

// ServerPath is "org/server".
func ServerPath(org, server string) string { return org + "/" + server }

// Resource is the canonical URL of an MCP server: what tokens for it carry as aud
// (RFC 8707), and the MCP endpoint clients connect to.
func Resource(issuer, org, server string) string {
	return strings.TrimRight(issuer, "/") + MCPPrefix + org + "/" + server
}

// ResourceMetadata is the RFC 9728 metadata URL of an MCP server: the well-known path
// inserted before the resource's path.
func ResourceMetadata(issuer, org, server string) string {
	return strings.TrimRight(issuer, "/") + PRMetadata + MCPPrefix + org + "/" + server
}

// Endpoint is issuer + path, e.g. Endpoint(iss, Token).
func Endpoint(issuer, path string) string { return strings.TrimRight(issuer, "/") + path }

// The dashboard's page templates (gorilla/mux syntax); their handlers read {org},
// {server} and {client}. DashNewServer must be routed before DashServer.
const (
	DashNewServer = Dashboard + "/{org}/servers/new"
	DashServer    = Dashboard + "/{org}/servers/{server}"
	DashSettings  = DashServer + "/settings"
	DashClients   = DashServer + "/clients"
	DashClient    = DashClients + "/{client}"
	DashActivity  = Dashboard + "/{org}/activity"
)

// DashServerPage is the dashboard page of the MCP server org/server.
func DashServerPage(org, server string) string {
	return Dashboard + "/" + org + "/servers/" + server
}

// DashActivityPage is the activity page (audit log) of the org.
func DashActivityPage(org string) string { return Dashboard + "/" + org + "/activity" }

// DashClientAction is the dashboard URL of verb (rotate, edit, revoke) on a client of the
// MCP server org/server.
func DashClientAction(org, server, clientID, verb string) string {
	return DashServerPage(org, server) + "/clients/" + url.PathEscape(clientID) + "/" + verb
}

// The members pages of an org (gorilla/mux syntax); their handlers read {org} and {user}.
const (
	DashMembers = Dashboard + "/{org}/members"
	DashMember  = DashMembers + "/{user}"
)

// DashMembersPage is the members page of an org.
func DashMembersPage(org string) string { return Dashboard + "/" + org + "/members" }

// DashMemberAction is the URL of verb (role, remove) on a member of an org.
func DashMemberAction(org, userID, verb string) string {
	return DashMembersPage(org) + "/" + url.PathEscape(userID) + "/" + verb
}

// The account pages of the logged-in user, and the one-time set-password link's page
// (?token=..., for a person not logged in).
const (
	Account            = "/account"
	AccountPassword    = Account + "/password"
	AccountEndSessions = Account + "/sessions/end"
	SetPassword        = Account + "/set-password"
)

// SetPasswordLink is the full URL of a set-password link.
func SetPasswordLink(issuer, token string) string {
	return Endpoint(issuer, SetPassword) + "?token=" + url.QueryEscape(token)
}

// ServerPathOfResource is the "org/server" of a resource URL Resource built for issuer (a
// token's audience), and false for any other URL.
func ServerPathOfResource(issuer, resource string) (string, bool) {
	rest, ok := strings.CutPrefix(resource, strings.TrimRight(issuer, "/")+MCPPrefix)
	if !ok {
		return "", false
	}
	org, server, err := SplitServerPath(rest)
	if err != nil {
		return "", false
	}
	return ServerPath(org, server), true
}

// Connected apps: the logged-in user's page of the apps they approved and its revoke
// action, and an admin's revoke of any user's grant on a server (DashGrantsRevoke, a
// template reading {org} and {server}).
const (
	AccountApps       = "/account/apps"
	AccountAppsRevoke = AccountApps + "/revoke"
	DashGrantsRevoke  = DashServer + "/grants/revoke"
)

// DashGrantsRevokeURL is where an admin revokes a grant on the MCP server org/server.
func DashGrantsRevokeURL(org, server string) string {
	return DashServerPage(org, server) + "/grants/revoke"
}
