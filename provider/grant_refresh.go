package provider

import (
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
)

// refreshTokenGrant is the refresh token grant (RFC 6749 section 6). fosite checks the token,
// rotates it for public clients and re-grants the original scopes and audience; Conexor adds
// that the refresh stays with its server and cannot widen the scope.
var refreshTokenGrant = grantRules{
	check: func(_ *Provider, ar fosite.AccessRequester, resource string) error {
		if err := sameServer(ar, resource); err != nil {
			return err
		}
		return noWiderScope(ar)
	},
}

// noWiderScope: RFC 6749 section 6 forbids a scope "not originally granted by the resource
// owner". fosite ignores the scope parameter on refresh and re-grants the original scopes, so
// a request for more would silently "succeed"; refuse it instead, so the client knows it
// must re-authorize.
func noWiderScope(ar fosite.AccessRequester) error {
	for _, s := range strings.Fields(ar.GetRequestForm().Get("scope")) {
		if !ExactScopeStrategy(ar.GetGrantedScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to this refresh token; a refresh cannot widen the scope. Send the user through /oauth/consent again to ask for it.", httpx.Truncate(s, 128))
		}
	}
	return nil
}
