package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/conexor/conexor/storage"
)

// ClientSpec describes a client to create.
type ClientSpec struct {
	// ServerID binds the client to one MCP server; empty for dynamically registered clients.
	ServerID     string
	Name         string
	Scopes       []string
	GrantTypes   []string
	RedirectURIs []string
	Public       bool
	// TokenEndpointAuthMethod as registered (client_secret_basic, client_secret_post, none).
	TokenEndpointAuthMethod string
	Source                  string
	Metadata                string
}

// ErrInvalidClientSpec wraps what is wrong with a ClientSpec.
var ErrInvalidClientSpec = errors.New("invalid client")

// CreateClient validates spec, generates the client ID and (for confidential clients) the
// secret, stores only the secret's keyed hash, and returns the secret once.
func (p *Provider) CreateClient(ctx context.Context, spec ClientSpec) (*storage.Client, string, error) {
	if err := p.validateSpec(&spec); err != nil {
		return nil, "", err
	}
	c := &storage.Client{
		ID:                      NewClientID(),
		Name:                    spec.Name,
		Public:                  spec.Public,
		Scopes:                  strings.Join(spec.Scopes, " "),
		GrantTypes:              strings.Join(spec.GrantTypes, " "),
		TokenEndpointAuthMethod: spec.TokenEndpointAuthMethod,
		Source:                  spec.Source,
		Metadata:                spec.Metadata,
	}
	if spec.ServerID != "" {
		id := spec.ServerID
		c.ServerID = &id
	}
	c.SetRedirectURIs(spec.RedirectURIs)
	var secret string
	if !spec.Public {
		secret = NewClientSecret()
		c.SecretHash = p.hasher.HashString(secret)
	}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	p.log.InfoContext(ctx, "client created", "client_id", c.ID, "name", c.Name, "public", c.Public, "source", c.Source)
	return c, secret, nil
}

// RotateSecret gives a confidential client a new secret; the old one stops working at once.
func (p *Provider) RotateSecret(ctx context.Context, clientID string) (string, error) {
	c, err := p.store.ClientByID(ctx, clientID)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", fmt.Errorf("%w: %s is a public client and has no secret", ErrInvalidClientSpec, clientID)
	}
	secret := NewClientSecret()
	if err := p.store.SetClientSecretHash(ctx, clientID, p.hasher.HashString(secret)); err != nil {
		return "", err
	}
	p.log.InfoContext(ctx, "client secret rotated", "client_id", clientID)
	return secret, nil
}

func (p *Provider) validateSpec(spec *ClientSpec) error {
	var problems []string
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" {
		spec.Name = "Unnamed client"
	}
	if len(spec.Name) > 200 {
		problems = append(problems, "name is longer than 200 characters")
	}
	for _, s := range spec.Scopes {
		if !p.cfg.Scopes.Known(s) {
			problems = append(problems, fmt.Sprintf("unknown scope %q (known: %s)", s, strings.Join(p.cfg.Scopes.Names(), ", ")))
		}
	}
	if len(spec.GrantTypes) == 0 {
		if spec.Public {
			spec.GrantTypes = []string{"authorization_code", "refresh_token"}
		} else {
			spec.GrantTypes = []string{"client_credentials"}
		}
	}
	for _, g := range spec.GrantTypes {
		if !supportedGrants[g] {
			problems = append(problems, fmt.Sprintf("unsupported grant type %q (use client_credentials, authorization_code, refresh_token)", g))
		}
	}
	has := func(g string) bool { return ExactScopeStrategy(spec.GrantTypes, g) }
	if spec.Public && has("client_credentials") {
		problems = append(problems, "a public client cannot use client_credentials (it has no secret)")
	}
	if has("client_credentials") && spec.ServerID == "" {
		// Nobody approves these tokens: the server the client was created for is the only
		// audience an operator vouched for (grantClientCredentials enforces it too).
		problems = append(problems, "a client_credentials client must belong to one MCP server")
	}
	if has("authorization_code") && len(spec.RedirectURIs) == 0 {
		problems = append(problems, "the authorization_code grant needs at least one redirect URI")
	}
	for _, u := range spec.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", u, err))
		}
	}
	if spec.Source == "" {
		spec.Source = storage.ClientSourceAdmin
	}
	if spec.TokenEndpointAuthMethod == "" {
		if spec.Public {
			spec.TokenEndpointAuthMethod = "none"
		} else {
			spec.TokenEndpointAuthMethod = "client_secret_basic"
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidClientSpec, strings.Join(problems, "; "))
	}
	return nil
}
