package provider

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
)

var supportedGrants = map[string]bool{
	"client_credentials": true,
	"authorization_code": true,
	"refresh_token":      true,
}

// tokenResponse is the product page's response shape, plus refresh_token when issued.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// TokenHandler serves POST /api/oauth/token (RFC 6749 section 3.2) for the
// client_credentials, authorization_code (+PKCE) and refresh_token grants.
func (p *Provider) TokenHandler(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	grant := "unknown"
	refuse := func(err error) {
		oe := toOAuthError(err)
		if strings.Contains(oe.Description, "PKCE code challenge did not match") {
			// The product page's own one-liner gets this wrong; say what is expected.
			oe.Description += " The code_challenge sent to /oauth/consent must be BASE64URL(SHA256(code_verifier)) without '=' padding, e.g. printf %s \"$code_verifier\" | openssl dgst -sha256 -binary | base64 | tr -d '=' | tr '/+' '_-'."
		}
		p.metrics.Refused.WithLabelValues(grant, oe.Code).Inc()
		attrs := []any{"grant_type", grant, "client_id", clientIDOf(r), "error", oe.Code, "status", oe.Status}
		if d := debugOf(err); d != "" {
			attrs = append(attrs, "detail", d)
		}
		if oe.Status >= 500 {
			p.log.ErrorContext(ctx, "token request failed", attrs...)
		} else {
			p.log.InfoContext(ctx, "token refused", attrs...)
		}
		WriteOAuthError(w, r, oe)
	}
	if oe := parseOAuthForm(w, r, "token"); oe != nil {
		refuse(oe)
		return
	}
	form := r.PostForm
	grant = form.Get("grant_type")
	switch {
	case grant == "":
		grant = "none"
		refuse(oauthErr(400, "invalid_request", "The grant_type parameter is required: client_credentials, authorization_code or refresh_token."))
		return
	case !supportedGrants[grant]:
		g := grant
		grant = "unsupported"
		refuse(oauthErr(400, "unsupported_grant_type", "The grant type '"+truncate(g, 64)+"' is not supported here; use client_credentials, authorization_code or refresh_token."))
		return
	}
	if oe := requireClientID(r); oe != nil {
		refuse(oe)
		return
	}
	// Scopes may be separated by commas (the product page does) or spaces (RFC 6749).
	if form.Has("scope") {
		form.Set("scope", strings.Join(ParseScopeParam(form.Get("scope")), " "))
	}
	// The audience comes only from a validated resource indicator (RFC 8707).
	form.Del("audience")
	resources := form["resource"]
	if len(resources) > 1 {
		refuse(ErrInvalidTarget.WithHint("Send at most one resource: a token is for exactly one MCP server."))
		return
	}
	var resource string
	if len(resources) == 1 {
		var err error
		resource, _, err = p.ResolveResource(ctx, resources[0])
		if err != nil {
			refuse(err)
			return
		}
		if grant == "client_credentials" {
			form.Set("audience", resource)
		}
	}
	r.Form = form

	ar, err := p.oauth.NewAccessRequest(ctx, r, NewSession(""))
	if err != nil {
		refuse(err)
		return
	}
	client, _ := ar.GetClient().(*storage.Client)
	switch grant {
	case "client_credentials":
		if err := p.grantClientCredentials(ar, client); err != nil {
			refuse(err)
			return
		}
	default:
		// Codes and refresh tokens carry the audience they were granted; a resource
		// indicator may name it again but never switch to another server. fosite copies a
		// refresh token's granted audience here, but a code's only in NewAccessResponse: for
		// codes, compare with the audience the authorization request asked for (IssueCode
		// grants exactly that one).
		aud := ar.GetGrantedAudience()
		if len(aud) == 0 {
			aud = ar.GetRequestedAudience()
		}
		if resource != "" && !(len(aud) == 1 && aud[0] == resource) {
			refuse(ErrInvalidTarget.WithHint("This grant was issued for another MCP server; request a new authorization for " + resource + "."))
			return
		}
	}
	// RFC 6749 6: a refresh may not ask for a scope that was not granted. fosite ignores the
	// scope parameter on refresh and re-grants the original scopes, so a request for more
	// would silently "succeed"; refuse it instead, so the client knows it must re-authorize.
	if grant == "refresh_token" && form.Get("scope") != "" {
		for _, s := range strings.Fields(form.Get("scope")) {
			if !ExactScopeStrategy(ar.GetGrantedScopes(), s) {
				refuse(fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to this refresh token; a refresh cannot widen the scope. Send the user through /oauth/consent again to ask for it.", truncate(s, 128)))
				return
			}
		}
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		refuse(fosite.ErrServerError.WithDebug("unexpected session type"))
		return
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		refuse(err)
		return
	}
	out := tokenResponse{
		AccessToken: resp.GetAccessToken(),
		TokenType:   "Bearer",
		ExpiresIn:   int64(p.cfg.AccessTokenLifespan.Seconds()),
		Scope:       strings.Join(ar.GetGrantedScopes(), " "),
	}
	if rt, ok := resp.GetExtra("refresh_token").(string); ok {
		out.RefreshToken = rt
	}
	p.metrics.Issued.WithLabelValues(grant).Inc()
	p.log.InfoContext(ctx, "token issued", "grant_type", grant, "client_id", ar.GetClient().GetID(),
		"sub", sess.Subject, "aud", strings.Join(ar.GetGrantedAudience(), " "), "scope", out.Scope,
		"request_id", ar.GetID(), "refresh_token", out.RefreshToken != "")
	writeJSON(w, http.StatusOK, out)
}

// grantClientCredentials grants what fosite validated but does not grant itself: the
// requested scopes (all of the client's when none are asked for) and the one audience.
func (p *Provider) grantClientCredentials(ar fosite.AccessRequester, client *storage.Client) error {
	if client == nil {
		return fosite.ErrServerError.WithDebug("unexpected client type")
	}
	if client.ServerID == nil {
		// No person approves a client_credentials token, so its audience can only be the
		// server an operator created the client for; an unbound client naming any server
		// with the resource parameter would mint tokens for all of them.
		return fosite.ErrUnauthorizedClient.WithHint("This client belongs to no MCP server, so it cannot use client_credentials; an administrator creates machine-to-machine clients for one server.")
	}
	scopes := ar.GetRequestedScopes()
	if len(scopes) == 0 {
		scopes = client.GetScopes()
	}
	for _, s := range scopes {
		if !p.cfg.Scopes.Known(s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' does not exist on this server; known scopes: %s.", s, strings.Join(p.cfg.Scopes.Names(), ", "))
		}
		ar.GrantScope(s)
	}
	// A bound client has exactly one audience, its server's URL; a resource naming another
	// server was already refused by fosite with AudienceStrategy.
	ar.GrantAudience(client.Audience[0])
	ar.GetSession().(*Session).Subject = client.ID
	return nil
}

// clientIDOf names the client of a request for logs, before authentication.
func clientIDOf(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		return truncate(id, 128)
	}
	return truncate(r.PostForm.Get("client_id"), 128)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
