package provider

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// grantRules are what Conexor adds to fosite's handling of one grant type, one file each
// (grant_*.go), in the manner of fosite's handler/oauth2 flow files.
type grantRules struct {
	// prepare edits the form before fosite reads it; nil leaves it as sent.
	prepare func(form url.Values, resource string)
	// check runs once fosite has validated the request and before anything is issued.
	check func(p *Provider, ar fosite.AccessRequester, resource string) error
}

// grants are the grant types the token endpoint serves.
var grants = map[string]grantRules{
	"client_credentials": clientCredentialsGrant,
	"authorization_code": authorizationCodeGrant,
	"refresh_token":      refreshTokenGrant,
}

// supportedGrants are the grant types a client may be created with: those served here.
var supportedGrants = func() map[string]bool {
	m := make(map[string]bool, len(grants))
	for g := range grants {
		m[g] = true
	}
	return m
}()

// tokenResponse is the product page's response shape, plus refresh_token when issued.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// TokenHandler serves POST /api/oauth/token (RFC 6749 section 3.2) for the
// client_credentials, authorization_code (+PKCE) and refresh_token grants: parse the form,
// resolve the resource, let fosite validate the request, apply the grant's own rules, issue.
// The request's client is loaded once (storage.WithClientCache), however often fosite and
// the stored code or token name it.
func (p *Provider) TokenHandler(w http.ResponseWriter, r *http.Request) {
	ctx, revokedHere := withRevokedHere(storage.WithClientCache(r.Context()))
	r = r.WithContext(ctx)
	grant, resource, err := p.parseTokenRequest(w, r)
	if err != nil {
		p.refuseToken(w, r, grant, err)
		return
	}
	rules := grants[grant]
	if rules.prepare != nil {
		rules.prepare(r.PostForm, resource)
	}
	authDone, ok := p.beginClientAuth(w, r)
	if !ok {
		p.metrics.Refused.WithLabelValues(grant, "too_many_requests").Inc()
		return
	}
	ar, err := p.oauth.NewAccessRequest(ctx, r, NewSession(""))
	authDone(clientAuthFailed(err))
	if err == nil {
		err = rules.check(p, ar, resource)
	}
	var resp fosite.AccessResponder
	if err == nil {
		resp, err = p.oauth.NewAccessResponse(ctx, ar)
	}
	p.afterRevokedHere(ctx, revokedHere)
	if err != nil {
		p.refuseToken(w, r, grant, err)
		return
	}
	out := tokenResponse{
		AccessToken: resp.GetAccessToken(),
		TokenType:   "Bearer",
		ExpiresIn:   int64(p.cfg.AccessTokenLifespan.Seconds()),
		Scope:       strings.Join(ar.GetGrantedScopes(), " "),
	}
	out.RefreshToken, _ = resp.GetExtra("refresh_token").(string)
	p.metrics.Issued.WithLabelValues(grant).Inc()
	p.countToken(ar)
	// One line per token is DEBUG: at thousands of tokens a second an INFO line each would
	// be gigabytes of log an hour that nobody reads. What is issued is counted per client
	// and hour (countToken, the dashboard's activity) and in the metrics; refusals stay INFO.
	if p.log.Enabled(ctx, slog.LevelDebug) {
		p.log.DebugContext(ctx, "token issued", "grant_type", grant, "client_id", ar.GetClient().GetID(),
			"sub", ar.GetSession().GetSubject(), "aud", strings.Join(ar.GetGrantedAudience(), " "), "scope", out.Scope,
			"request_id", ar.GetID(), "refresh_token", out.RefreshToken != "")
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// parseTokenRequest checks what fosite does not (or answers differently): the form, the grant
// type, that a client is named, one resource that names a known server. It normalises the
// scope list and returns the grant type (a metrics label, also on error) and the canonical
// resource ("" when none was sent).
func (p *Provider) parseTokenRequest(w http.ResponseWriter, r *http.Request) (grant, resource string, err error) {
	if oe := parseOAuthForm(w, r, "token"); oe != nil {
		return "unknown", "", oe
	}
	form := r.PostForm
	grant = form.Get("grant_type")
	switch {
	case grant == "":
		return "none", "", oauthErr(400, "invalid_request", "The grant_type parameter is required: client_credentials, authorization_code or refresh_token.")
	case !supportedGrants[grant]:
		return "unsupported", "", oauthErr(400, "unsupported_grant_type", "The grant type '"+httpx.Truncate(grant, 64)+"' is not supported here; use client_credentials, authorization_code or refresh_token.")
	}
	if oe := requireClientID(r); oe != nil {
		return grant, "", oe
	}
	// Scopes may be separated by commas (the product page does) or spaces (RFC 6749).
	if form.Has("scope") {
		form.Set("scope", strings.Join(ParseScopeParam(form.Get("scope")), " "))
	}
	// The audience comes only from a validated resource indicator (RFC 8707).
	form.Del("audience")
	resources := form["resource"]
	if len(resources) > 1 {
		return grant, "", ErrInvalidTarget.WithHint("Send at most one resource: a token is for exactly one MCP server.")
	}
	if len(resources) == 1 {
		if resource, _, err = p.ResolveResource(r.Context(), resources[0]); err != nil {
			return grant, "", err
		}
	}
	r.Form = form
	return grant, resource, nil
}

// refuseToken answers a refused or failed token request, counts it and logs it once, with
// fosite's internal detail (and a storage failure's cause) in the log only.
func (p *Provider) refuseToken(w http.ResponseWriter, r *http.Request, grant string, err error) {
	oe := toOAuthError(err)
	if isPKCEMismatch(err) {
		// The product page's own one-liner gets the challenge wrong; say what is expected.
		withHint := *oe
		withHint.Description += " " + pkceChallengeHint
		oe = &withHint
	}
	p.metrics.Refused.WithLabelValues(grant, oe.Code).Inc()
	p.recordReplay(r, err)
	attrs := []any{"grant_type", grant, "client_id", clientIDForLog(r), "error", oe.Code, "status", oe.Status}
	if d := debugOf(err); d != "" {
		attrs = append(attrs, "detail", d)
	}
	if oe.Status >= 500 {
		p.log.ErrorContext(r.Context(), "token request failed", attrs...)
	} else {
		p.log.InfoContext(r.Context(), "token refused", attrs...)
	}
	WriteOAuthError(w, r, oe)
}

// sameServer refuses a resource indicator that names another server than the one a code or
// refresh token was granted for (RFC 8707 section 2.2: it may repeat it, never switch). fosite
// copies a refresh token's granted audience into the request, but a code's only in
// NewAccessResponse: for codes, compare with the audience the authorization request asked
// for (IssueCode grants exactly that one).
func sameServer(ar fosite.AccessRequester, resource string) error {
	if resource == "" {
		return nil
	}
	aud := ar.GetGrantedAudience()
	if len(aud) == 0 {
		aud = ar.GetRequestedAudience()
	}
	if len(aud) == 1 && aud[0] == resource {
		return nil
	}
	return ErrInvalidTarget.WithHint("This grant was issued for another MCP server; request a new authorization for " + resource + ".")
}

// clientIDOf names the client of a request before authentication, as fosite will read it:
// a Basic-auth username is URL-decoded first (RFC 6749 section 2.3.1; fosite's
// client_authentication.go), so acme and %61cme are one client, and must be one throttle
// bucket. It is the full id, not truncated: a CIMD client_id is a URL, and two sharing a
// prefix would share a bucket (limit.Key hashes it anyway). Truncate it for logs.
func clientIDOf(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if dec, err := url.QueryUnescape(id); err == nil {
			return dec
		}
		return id // fosite refuses it; the raw id still names a bucket
	}
	return r.PostForm.Get("client_id")
}

// clientIDForLog is clientIDOf cut to a length a log line can hold.
func clientIDForLog(r *http.Request) string { return httpx.Truncate(clientIDOf(r), 128) }
