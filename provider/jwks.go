package provider

import (
	"encoding/json"
	"net/http"
)

// JWKSHandler serves GET /.well-known/jwks.json: the public keys that verify access tokens,
// including retired keys whose tokens may not have expired yet.
func (p *Provider) JWKSHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short: a verifier that sees an unknown kid refetches anyway.
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = json.NewEncoder(w).Encode(p.keys.JWKS())
}
