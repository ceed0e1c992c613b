package templates

// Chrome is what every dashboard page shows around its content: who is logged in (with a
// logout button, hence the CSRF token) and where the page is.
type Chrome struct {
	UserEmail string
	CSRF      string
	// Crumbs lead from the dashboard to this page; the last one is this page.
	Crumbs []Crumb
}

// Crumb is one step of the breadcrumbs; the current page has no URL.
type Crumb struct{ Label, URL string }

// DashboardPage lists the orgs of the user and their MCP servers.
type DashboardPage struct {
	Chrome
	Orgs []OrgView
}

// OrgView is one org on the dashboard.
type OrgView struct {
	Name, Slug string
	// Role is "admin" or "member".
	Role string
	// NewServerURL is set for admins: the New server page.
	NewServerURL string
	Servers      []ServerRow
	// ActivityURL is set for admins: the org's activity page (audit log).
	ActivityURL string
}

// ServerRow is one MCP server in the dashboard's table.
type ServerRow struct {
	Name, Path string
	// URL is the server's dashboard page; MCPURL is what MCP clients connect to.
	URL, MCPURL string
	Upstream    bool
	Enabled     bool
	Clients     int
	Tokens24h   int
	// Sparkline is the tokens issued per hour over the last 7 days (package chart's markup).
	Sparkline Chart
}

// ServerPage is the page of one MCP server.
type ServerPage struct {
	Chrome
	// Admin shows the forms; a member sees everything read-only.
	Admin       bool
	OrgName     string
	Name, Path  string
	Description string
	MCPURL      string
	Upstream    string
	Enabled     bool
	Connect     []ConnectStep
	Clients     []ClientRow
	// CreateAction, Create: the Create OAuth Client form (admins only).
	CreateAction string
	Create       ClientForm
	// SettingsAction, Settings: the server settings form (admins only).
	SettingsAction string
	Settings       ServerForm
	// Saved says the settings were saved.
	Saved bool
	// Access is the Access panel (admins only; nil for members).
	Access *AccessSection
	// Usage is the Usage section (charts of the hourly counters); nil shows none.
	Usage *UsageView
}

// ConnectStep is the instructions for one MCP client, with the text to paste.
type ConnectStep struct {
	ID, Title, Intro string
	Code             string
	Outro            string
}

// ClientRow is one OAuth client in the server page's table.
type ClientRow struct {
	Name, ID     string
	Public       bool
	GrantTypes   []string
	Scopes       []string
	RedirectURIs []string
	Created      string
	LastUsed     string
	// Revoked is when it was revoked, "" while it is active.
	Revoked string
	// Action URLs, set for admins on active clients; RotateURL only for confidential ones.
	EditURL, RevokeURL, RotateURL string
	// SecretVersion goes with the rotate form, so a form sent twice rotates once.
	SecretVersion string
}

// ClientForm is the data of the create and edit client forms: the user's input, kept when
// it is sent back with problems, and the problems by field ("" for the form as a whole).
type ClientForm struct {
	Name   string
	Scopes []ScopeOption
	// GrantType is "client_credentials" or "authorization_code".
	GrantType    string
	RedirectURIs string
	Public       bool
	Errors       map[string][]string
}

// ScopeOption is one scope checkbox.
type ScopeOption struct {
	Name, Description string
	Checked           bool
}

// ServerForm is the data of the server settings and New server forms.
type ServerForm struct {
	Slug        string
	Name        string
	Description string
	Enabled     bool
	// Backend is "demo" or "upstream" (New server).
	Backend  string
	Upstream string
	// HeaderNames are the names of the stored upstream headers (values are never shown).
	HeaderNames []string
	// Headers is what the user typed in the headers box (new values, "Name: value" lines).
	Headers      string
	ClearHeaders bool
	// IdentityHeader names the header that carries identity assertions ("" sends none).
	IdentityHeader string
	Errors         map[string][]string
}

// ClientSecretPage shows a new client's credentials, or a rotated secret, once.
type ClientSecretPage struct {
	Chrome
	ClientName, ClientID string
	// ClientSecret is empty for a public client, which gets ConsentURL instead.
	ClientSecret string
	Rotated      bool
	Scopes       []string
	// Curl is the product page's client credentials request, filled in.
	Curl       string
	ConsentURL string
	ServerURL  string
}

// ClientEditPage is the edit form of one client.
type ClientEditPage struct {
	Chrome
	ClientName, ClientID string
	Action, CancelURL    string
	Form                 ClientForm
	// CodeFlow shows the redirect URIs field (clients of the authorization code grant).
	CodeFlow bool
}

// ClientRevokePage asks to confirm revoking a client.
type ClientRevokePage struct {
	Chrome
	ClientName, ClientID string
	Action, CancelURL    string
}

// NewServerPage is the New server form.
type NewServerPage struct {
	Chrome
	OrgName, OrgSlug  string
	Action, CancelURL string
	Form              ServerForm
}

// NoticePage tells the user that something was done, with the way back.
type NoticePage struct {
	Chrome
	Title, Message     string
	BackURL, BackLabel string
}
