package provider

import (
	"net/http"
	"time"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/urls"
)

// ServerMetadata is the RFC 8414 authorization server metadata document.
type ServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
	ResourceIndicatorsSupported                bool     `json:"resource_indicators_supported"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
}

// Metadata returns the metadata document. Every URL is the issuer plus a fixed path, so the
// URLs are byte-identical to the routes (no trailing slash, no redirect on any POST).
// scopes_supported leaves out mcp:server:manage, as the protected resource metadata does:
// MCP clients ask for every advertised scope up front, and managing a server must be asked
// for on purpose (step-up), never granted along the way.
func (p *Provider) Metadata() ServerMetadata {
	iss := p.cfg.Issuer
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	return ServerMetadata{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      urls.Endpoint(iss, urls.Consent),
		TokenEndpoint:                              urls.Endpoint(iss, urls.Token),
		RevocationEndpoint:                         urls.Endpoint(iss, urls.Revoke),
		IntrospectionEndpoint:                      urls.Endpoint(iss, urls.Introspect),
		RegistrationEndpoint:                       urls.Endpoint(iss, urls.Register),
		JWKSURI:                                    urls.Endpoint(iss, urls.JWKS),
		ScopesSupported:                            p.cfg.Scopes.Advertised(),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          auth,
		RevocationEndpointAuthMethodsSupported:     auth,
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		AuthorizationResponseIssParameterSupported: true,
		ClientIDMetadataDocumentSupported:          true,
		ResourceIndicatorsSupported:                true,
	}
}

// MetadataHandler serves GET /.well-known/oauth-authorization-server (RFC 8414).
func (p *Provider) MetadataHandler(w http.ResponseWriter, r *http.Request) {
	httpx.WriteDocument(w, "application/json", 5*time.Minute, p.Metadata())
}
