package provider

import (
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// clientCredentialsGrant is the client credentials grant (RFC 6749 section 4.4) as Conexor
// serves it: a machine-to-machine client gets tokens for the one MCP server an operator
// created it for. fosite authenticates the client and checks the requested scopes and
// audience against the client's (AudienceStrategy); it grants neither.
var clientCredentialsGrant = grantRules{
	// A resource indicator (RFC 8707 section 2) is the requested audience, which fosite
	// matches against the client's own server.
	prepare: func(form url.Values, resource string) {
		if resource != "" {
			form.Set("audience", resource)
		}
	},
	check: (*Provider).checkClientCredentials,
}

// checkClientCredentials grants what fosite validated but does not grant itself: the
// requested scopes (all of the client's when none are asked for) and the one audience.
func (p *Provider) checkClientCredentials(ar fosite.AccessRequester, _ string) error {
	client := storageClient(ar.GetClient())
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
	ar.GrantAudience(p.clientAudience(client)[0])
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	sess.Subject = client.ID
	// A time-ordered request ID (UUIDv7) instead of fosite's random one: the token's row is
	// indexed by it (revocation by request), and an index of random keys makes every insert
	// and every purge of an expired token dirty a page of its own, where time-ordered keys
	// fill and empty pages in order. A client-credentials request is its own family: no
	// refresh token or code shares its ID, so nothing else refers to the one fosite chose.
	if id, err := uuid.NewV7(); err == nil {
		ar.SetID(id.String())
	}
	return nil
}
