package provider

import (
	"net/http"
	"time"

	"github.com/conexor/conexor/internal/httpx"
)

// JWKSHandler serves GET /.well-known/jwks.json: the public keys that verify access tokens,
// including retired keys whose tokens may not have expired yet.
func (p *Provider) JWKSHandler(w http.ResponseWriter, r *http.Request) {
	// Short: a verifier that sees an unknown kid refetches anyway.
	httpx.WriteDocument(w, "application/jwk-set+json", time.Minute, p.keys.JWKS())
}
