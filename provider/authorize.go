package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// AuthorizeRequest is an authorization request (RFC 6749 4.1.1) that passed every check that
// can be made before the user sees the consent page, PKCE included (fosite checks PKCE only
// after consent).
type AuthorizeRequest struct {
	Client *storage.Client
	Server *storage.Server
	// Resource is the canonical URL of Server: the token's only audience.
	Resource string
	// RedirectURI is where the answer goes; RedirectURIGiven says whether the request named it
	// (then the token request must repeat it, RFC 6749 4.1.3).
	RedirectURI      string
	RedirectURIGiven bool
	State            string
	// Scopes are the known scopes requested (or the client's, when none were); Ignored are
	// requested scopes this server does not know (claudeai, offline_access, openid), dropped.
	Scopes        []string
	Ignored       []string
	CodeChallenge string
	// ForceConsent is set by prompt=consent: show the page even if consent is remembered.
	ForceConsent bool
}

// AuthorizeError is a refused authorization request. When Redirect is false the client or
// redirect URI could not be trusted, so the error must be shown to the user and never sent
// anywhere (RFC 6749 4.1.2.1).
type AuthorizeError struct {
	Redirect bool
	// Unverified is set on a redirected error of a client that registered itself (dynamic
	// registration, a metadata document): anyone can register such a client with a phishing
	// page as its redirect URI, so RFC 9700 4.11.2 wants the user authenticated before the
	// error is redirected there, or this server is an open redirector.
	Unverified  bool
	RedirectURI string
	State       string
	Code        string
	Description string
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

// RedirectURL is the client's redirect URI with error, error_description, state and iss.
func (e *AuthorizeError) RedirectURL(issuer string) string {
	q := url.Values{"error": {e.Code}, "error_description": {e.Description}}
	if e.State != "" {
		q.Set("state", e.State)
	}
	q.Set("iss", issuer)
	return appendQuery(e.RedirectURI, q)
}

var codeChallengeRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// ParseAuthorize validates an authorization request's query.
func (p *Provider) ParseAuthorize(ctx context.Context, q url.Values) (*AuthorizeRequest, *AuthorizeError) {
	page := func(code, desc string) (*AuthorizeRequest, *AuthorizeError) {
		return nil, &AuthorizeError{Code: code, Description: desc}
	}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		if len(q[k]) > 1 {
			return page("invalid_request", fmt.Sprintf("The parameter %q was sent more than once.", k))
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return page("invalid_request", "The request has no client_id, so there is no application to return to. Start again from the application you were using.")
	}
	client, err := p.cimd.Lookup(ctx, clientID) // a stored client, or a metadata document for an https ID
	if errors.Is(err, storage.ErrNotFound) || (err == nil && client.Revoked()) {
		return page("invalid_client", "No application with this client_id is registered here (or it was revoked). Ask the application's developer to check its configuration.")
	}
	if err != nil {
		var ae *AuthorizeError
		if errors.As(err, &ae) {
			return nil, ae
		}
		p.log.ErrorContext(ctx, "authorize: client lookup failed", "client_id", httpx.Truncate(clientID, 128), "err", err)
		if errors.Is(err, storage.ErrUnavailable) {
			return page(errUnavailable.Code, "The application could not be looked up right now. Try again in a moment.")
		}
		return page("server_error", "The application could not be looked up right now. Try again in a moment.")
	}
	ar := &AuthorizeRequest{Client: client, State: q.Get("state")}
	switch raw := q.Get("redirect_uri"); {
	case raw == "" && len(client.RedirectURIs()) == 1:
		ar.RedirectURI = client.RedirectURIs()[0]
	case raw == "":
		return page("invalid_request", "The request has no redirect_uri and the application registered several; the application must say which one to use.")
	default:
		uri, ok := MatchRedirectURI(raw, client.RedirectURIs())
		if !ok {
			return page("invalid_request", "The redirect_uri does not exactly match any redirect URI registered for "+client.Name+". It is not safe to send you back there.")
		}
		ar.RedirectURI, ar.RedirectURIGiven = uri, true
	}
	fail := func(code, desc string) (*AuthorizeRequest, *AuthorizeError) {
		return nil, &AuthorizeError{Redirect: true, Unverified: client.Source == storage.ClientSourceDynamic || client.Source == storage.ClientSourceMetadata,
			RedirectURI: ar.RedirectURI, State: ar.State, Code: code, Description: desc}
	}
	if len(ar.State) > 2048 {
		return fail("invalid_request", "The state parameter is longer than 2048 characters.")
	}
	if rt := q.Get("response_type"); rt != "code" {
		return fail("unsupported_response_type", "Only response_type=code is supported (authorization code with PKCE).")
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return fail("invalid_request", "Only response_mode=query is supported.")
	}
	if !client.GetGrantTypes().Has("authorization_code") {
		return fail("unauthorized_client", "This client is not allowed to use the authorization code grant; register it with grant_types including authorization_code (or create it with --grant-types authorization_code,refresh_token).")
	}
	ar.CodeChallenge = q.Get("code_challenge")
	method := q.Get("code_challenge_method")
	switch {
	case ar.CodeChallenge == "":
		return fail("invalid_request", "PKCE is required: send code_challenge=BASE64URL(SHA256(code_verifier)) without padding, and code_challenge_method=S256.")
	case method == "":
		return fail("invalid_request", "code_challenge_method is required and must be S256 (plain is not allowed).")
	case method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256; "+httpx.Truncate(method, 20)+" is not allowed.")
	case !codeChallengeRE.MatchString(ar.CodeChallenge):
		return fail("invalid_request", "code_challenge must be BASE64URL(SHA256(code_verifier)) without padding: 43 characters of A-Z, a-z, 0-9, '-' and '_'.")
	}
	requested := ParseScopeParam(q.Get("scope"))
	known, unknown := p.cfg.Scopes.Partition(requested)
	ar.Ignored = unknown
	if len(known) == 0 || p.cfg.Scopes.IsAdvertised(known) {
		// No scope asked for, or all of scopes_supported (as MCP clients do): the advertised
		// ones the client may have. mcp:server:manage is never pre-selected; a client must
		// ask for it explicitly (step-up).
		known = nil
		for _, s := range p.cfg.Scopes.Advertised() {
			if ExactScopeStrategy(client.GetScopes(), s) {
				known = append(known, s)
			}
		}
		if len(known) == 0 {
			known = client.GetScopes()
		}
	}
	for _, s := range known {
		if !ExactScopeStrategy(client.GetScopes(), s) {
			return fail("invalid_scope", fmt.Sprintf("The application is not allowed to request the scope %q.", s))
		}
	}
	if len(known) == 0 {
		return fail("invalid_scope", "The application may not request any scope.")
	}
	ar.Scopes = known

	resources := q["resource"]
	switch {
	case len(resources) > 1:
		return fail("invalid_target", "Send one resource: a token is for exactly one MCP server.")
	case len(resources) == 1:
		res, srv, err := p.ResolveResource(ctx, resources[0])
		if err != nil {
			oe := toOAuthError(err)
			if oe.Status >= 500 {
				p.log.ErrorContext(ctx, "authorize: resource lookup failed", "client_id", client.ID, "err", err)
			}
			return fail(oe.Code, oe.Description)
		}
		if client.ServerID != nil && *client.ServerID != srv.ID {
			return fail("invalid_target", fmt.Sprintf("This application belongs to %s and may not ask for access to %s.", client.ServerPath, res))
		}
		ar.Resource, ar.Server = res, srv
	case client.ServerID != nil:
		srv, err := p.store.ServerByID(ctx, *client.ServerID)
		if err != nil {
			p.log.ErrorContext(ctx, "authorize: server lookup failed", "client_id", client.ID, "err", err)
			code := "server_error"
			if errors.Is(err, storage.ErrUnavailable) {
				code = errUnavailable.Code
			}
			return fail(code, "The application's MCP server could not be loaded right now; try again in a moment.")
		}
		ar.Resource, ar.Server = p.ResourceURL(srv.OrgSlug, srv.Slug), srv
	default:
		return fail("invalid_target", "Name the MCP server with the resource parameter (RFC 8707), e.g. resource="+p.ResourceURL("acme", "sales-api")+".")
	}
	if !ar.Server.Enabled {
		return fail("access_denied", "The MCP server "+ar.Server.Path()+" is disabled; ask an administrator of its org to enable it.")
	}
	for _, pr := range strings.Fields(q.Get("prompt")) {
		switch pr {
		case "consent", "login":
			ar.ForceConsent = true
		case "none":
			return fail("interaction_required", "This server always asks the user; prompt=none is not supported.")
		}
	}
	return ar, nil
}

// IssueCode runs fosite's authorization code and PKCE handlers for an approved request and
// returns the URL to send the browser to: the redirect URI with code, state and iss
// (RFC 9207). granted must be a subset of ar.Scopes.
func (p *Provider) IssueCode(ctx context.Context, ar *AuthorizeRequest, userID string, granted []string) (string, error) {
	if !Contains(ar.Scopes, granted) || len(granted) == 0 {
		return "", errors.New("provider: granted scopes must be a non-empty subset of the requested ones")
	}
	redirect, err := url.Parse(ar.RedirectURI)
	if err != nil {
		return "", err
	}
	far := fosite.NewAuthorizeRequest()
	far.RequestedAt = p.now().UTC()
	far.Client = p.fositeClient(ar.Client)
	far.ResponseTypes = fosite.Arguments{"code"}
	far.RedirectURI = redirect
	far.State = ar.State
	far.RequestedScope = append(fosite.Arguments(nil), ar.Scopes...)
	far.RequestedAudience = fosite.Arguments{ar.Resource}
	far.Form = url.Values{
		"client_id":             {ar.Client.ID},
		"response_type":         {"code"},
		"code_challenge":        {ar.CodeChallenge},
		"code_challenge_method": {"S256"},
		"scope":                 {strings.Join(ar.Scopes, " ")},
		"resource":              {ar.Resource},
	}
	if ar.RedirectURIGiven {
		far.Form.Set("redirect_uri", ar.RedirectURI)
	}
	for _, s := range granted {
		far.GrantScope(s)
	}
	far.GrantAudience(ar.Resource)
	sess := NewSession(userID)
	sess.UserID = userID
	resp, err := p.oauth.NewAuthorizeResponse(ctx, far, sess)
	if err != nil {
		return "", fmt.Errorf("issue code: %w (%s)", err, debugOf(err))
	}
	code := resp.GetCode()
	if code == "" {
		return "", errors.New("provider: no code issued")
	}
	q := url.Values{"code": {code}}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	q.Set("iss", p.cfg.Issuer)
	p.log.InfoContext(ctx, "authorization code issued", "client_id", ar.Client.ID, "sub", userID,
		"aud", ar.Resource, "scope", strings.Join(granted, " "))
	return appendQuery(ar.RedirectURI, q), nil
}

// appendQuery adds q to a URI's own query, keeping what it had.
func appendQuery(uri string, q url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	existing := u.Query()
	for k, vs := range q {
		existing[k] = vs
	}
	u.RawQuery = existing.Encode()
	return u.String()
}
