package templates

import "io"

// AppsPage lists the apps the logged-in user approved (GET /account/apps), each with a
// Revoke access form.
type AppsPage struct {
	Chrome
	// RevokeAction is where each row's form posts.
	RevokeAction string
	Apps         []AppRow
	// Revoked names what was just revoked ("App on org/server"); empty otherwise.
	Revoked string
}

// AppRow is one grant of the user: an app on one server.
type AppRow struct {
	Name, ClientID string
	// Verified: an admin created the client; otherwise it registered itself.
	Verified   bool
	ServerName string
	ServerPath string
	ServerID   string
	Scopes     []string
	// FirstApproved and LastUsed are formatted times; LastUsed is "Never" without a token.
	FirstApproved, LastUsed string
}

// AccessSection is the Access panel of a server page, for admins: every user's grant on
// the server, and the client-credentials clients that got tokens lately.
type AccessSection struct {
	// RevokeAction is where each grant's Revoke form posts.
	RevokeAction string
	Grants       []GrantRow
	Services     []ServiceRow
}

// GrantRow is one user's grant to an app on the server.
type GrantRow struct {
	UserEmail, UserID string
	AppName, ClientID string
	Verified          bool
	Scopes            []string
	FirstApproved     string
	LastUsed          string
}

// ServiceRow is one client-credentials client with tokens in the last 24 hours.
type ServiceRow struct {
	Name, ID  string
	Tokens24h int
	LastUsed  string
}

// Apps renders the connected apps of the logged-in user.
func (t *Templates) Apps(w io.Writer, p AppsPage) error {
	return t.render(w, "dash_apps.html", "Connected apps", p)
}
