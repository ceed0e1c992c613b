package dashboard

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// Form field names of the client forms (DESIGN.md).
const (
	grantClientCredentials = "client_credentials"
	grantAuthorizationCode = "authorization_code"
)

// clientInput is what the create and edit client forms carry, parsed. The provider
// validates it (validateSpec); the form adds what only a person filling in a form can get
// wrong: a name and at least one scope are required (the CLI's defaults for them do not
// belong on a form someone just left empty).
type clientInput struct {
	Name         string
	Scopes       []string
	GrantType    string
	RedirectURIs []string
	Public       bool
}

func parseClientInput(f url.Values) clientInput {
	in := clientInput{
		Name:      strings.TrimSpace(f.Get("name")),
		Scopes:    f["scope"],
		GrantType: f.Get("grant_type"),
		Public:    checked(f.Get("public")),
	}
	for _, line := range strings.Split(f.Get("redirect_uri"), "\n") {
		if u := strings.TrimSpace(line); u != "" {
			in.RedirectURIs = append(in.RedirectURIs, u)
		}
	}
	return in
}

// checked reads a checkbox.
func checked(v string) bool { return v == "true" || v == "on" || v == "1" }

// problems returns what the form requires beyond the provider's rules, by field.
func (in clientInput) problems(create bool) map[string][]string {
	p := map[string][]string{}
	if in.Name == "" {
		p["name"] = append(p["name"], "Enter a name, so you can tell this client from others.")
	}
	if len(in.Scopes) == 0 {
		p["scope"] = append(p["scope"], "Choose at least one scope.")
	}
	if create && in.GrantType != grantClientCredentials && in.GrantType != grantAuthorizationCode {
		p["grant_type"] = append(p["grant_type"], "Choose a script or service, or an application.")
	}
	if create && in.GrantType == grantClientCredentials && in.Public {
		p["public"] = append(p["public"], "A script or service keeps a secret, so it cannot be a public client.")
	}
	if create && in.GrantType == grantAuthorizationCode && len(in.RedirectURIs) == 0 {
		p["redirect_uri"] = append(p["redirect_uri"], "An application needs at least one redirect URI.")
	}
	return p
}

// spec is the provider's ClientSpec of a create form, for the server serverID.
func (in clientInput) spec(serverID string) provider.ClientSpec {
	spec := provider.ClientSpec{ServerID: serverID, Name: in.Name, Scopes: in.Scopes}
	if in.GrantType == grantAuthorizationCode {
		spec.GrantTypes = []string{grantAuthorizationCode, "refresh_token"}
		spec.RedirectURIs = in.RedirectURIs
		spec.Public = in.Public
	} else {
		spec.GrantTypes = []string{grantClientCredentials}
	}
	return spec
}

// form is the template data of the input, with every scope of the registry as a checkbox.
func (in clientInput) form(scopes *provider.Scopes, errs map[string][]string) templates.ClientForm {
	return templates.ClientForm{
		Name: in.Name, Scopes: scopeOptions(scopes, in.Scopes), GrantType: in.GrantType,
		RedirectURIs: strings.Join(in.RedirectURIs, "\n"), Public: in.Public, Errors: errs,
	}
}

// clientInputOf is the edit form's starting point: the client as stored.
func clientInputOf(c *storage.Client) clientInput {
	gt := grantClientCredentials
	if slices.Contains(c.GetGrantTypes(), grantAuthorizationCode) {
		gt = grantAuthorizationCode
	}
	return clientInput{Name: c.Name, Scopes: c.GetScopes(), GrantType: gt, RedirectURIs: c.RedirectURIs(), Public: c.Public}
}

// scopeOptions is one checkbox per scope of the registry (config-defined ones included),
// ticked when chosen. A chosen scope the registry does not know (a forged form, or a scope
// removed from the config) is shown too, so the error next to it makes sense.
func scopeOptions(scopes *provider.Scopes, chosen []string) []templates.ScopeOption {
	var out []templates.ScopeOption
	for _, s := range scopes.All() {
		out = append(out, templates.ScopeOption{Name: s.Name, Description: s.Description, Checked: slices.Contains(chosen, s.Name)})
	}
	for _, c := range chosen {
		if !scopes.Known(c) {
			out = append(out, templates.ScopeOption{Name: c, Description: "Unknown scope", Checked: true})
		}
	}
	return out
}

// merge adds the problems of b to a.
func merge(a, b map[string][]string) map[string][]string {
	for k, v := range b {
		a[k] = append(a[k], v...)
	}
	return a
}

// serverInput is what the server settings and New server forms carry.
type serverInput struct {
	Slug, Name, Description string
	Enabled                 bool
	Backend                 string
	Upstream                string
	// Headers are the upstream headers typed in (nil: none typed); Clear removes the stored ones.
	Headers map[string]string
	Clear   bool
	// headersText is the box as typed, kept for the re-rendered form.
	headersText string
	// IdentityHeader names the header for identity assertions ("" none); identitySent says
	// the form had the field, so a form without it changes nothing.
	IdentityHeader string
	identitySent   bool
}

func parseServerInput(f url.Values) (serverInput, map[string][]string) {
	in := serverInput{
		Slug: strings.TrimSpace(f.Get("slug")), Name: f.Get("name"), Description: f.Get("description"),
		Enabled: checked(f.Get("enabled")), Backend: f.Get("backend"),
		Upstream: strings.TrimSpace(f.Get("upstream")), Clear: checked(f.Get("clear_headers")),
		headersText: f.Get("headers"),
	}
	_, in.identitySent = f["identity_header"]
	in.IdentityHeader = strings.TrimSpace(f.Get("identity_header"))
	p := map[string][]string{}
	h, err := parseHeaderLines(in.headersText)
	if err != nil {
		p["headers"] = []string{err.Error()}
	}
	in.Headers = h
	return in, p
}

// parseHeaderLines reads "Name: value" lines; blank lines are skipped, and a box left
// empty is nil (nothing typed). The provider validates names and values.
func parseHeaderLines(text string) (map[string]string, error) {
	var out map[string]string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("line %d is not “Name: value”", i+1)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, nil
}

// settingsChange is the change a settings form makes to srv. The upstream is part of the
// change only when it differs from the stored one: saving the name must not turn an
// operator's upstream into one set by the dashboard (ByAPI, public addresses only).
func (in serverInput) settingsChange(srv *storage.Server) provider.ServerChange {
	c := provider.ServerChange{Name: &in.Name, Description: &in.Description, Enabled: &in.Enabled, ByAPI: true}
	if in.Upstream != srv.Upstream {
		up := in.Upstream
		c.Upstream = &up
	}
	switch {
	case in.Headers != nil:
		c.Headers = in.Headers
	case in.Clear:
		c.Headers = map[string]string{}
	}
	if in.identitySent {
		c.IdentityHeader = &in.IdentityHeader
	}
	return c
}

// serverSpec is the provider's ServerSpec of a New server form in org.
func (in serverInput) serverSpec(org string) provider.ServerSpec {
	spec := provider.ServerSpec{Org: org, Slug: in.Slug, Name: in.Name, Description: in.Description, Headers: in.Headers, ByAPI: true, IdentityHeader: in.IdentityHeader}
	if in.Backend == "upstream" {
		spec.Upstream = in.Upstream
	}
	return spec
}

// newServerSlug is the last segment of the New server page's URL, which a server with that
// slug would be shadowed by.
const newServerSlug = "new"

// newServerProblems is what the New server form requires beyond the provider's rules.
func (in serverInput) newServerProblems() map[string][]string {
	p := map[string][]string{}
	if in.Slug == newServerSlug {
		p["slug"] = []string{"“new” is taken by the dashboard's New server page; choose another slug."}
	}
	if in.Backend == "upstream" && in.Upstream == "" {
		p["upstream"] = []string{"Enter the upstream MCP server's URL, or choose the built-in demo."}
	}
	if in.Backend != "upstream" && in.Backend != "demo" {
		p["backend"] = []string{"Choose the built-in demo or an upstream MCP server."}
	}
	return p
}

func (in serverInput) form(errs map[string][]string, names []string) templates.ServerForm {
	return templates.ServerForm{Slug: in.Slug, Name: in.Name, Description: in.Description, Enabled: in.Enabled,
		Backend: in.Backend, Upstream: in.Upstream, HeaderNames: names, Headers: in.headersText, ClearHeaders: in.Clear, IdentityHeader: in.IdentityHeader, Errors: errs}
}
