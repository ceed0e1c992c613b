package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"
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

// SpecError lists everything wrong with a ClientSpec or a ClientUpdate at once.
// errors.Is(err, ErrInvalidClientSpec) holds for it.
type SpecError struct {
	Problems []string
	// UnknownScopes are the requested scopes that no configuration defines, so a front end
	// can say where scopes are added.
	UnknownScopes []string
	// fields[i] is the form field Problems[i] is about ("" for none), for ByField.
	fields []string
}

// Form fields a client's problems are filed under (ByField), named as the dashboard's form.
const (
	FieldName        = "name"
	FieldScope       = "scope"
	FieldGrantType   = "grant_type"
	FieldRedirectURI = "redirect_uri"
	FieldPublic      = "public"
)

// add records a problem about one form field.
func (e *SpecError) add(field, problem string) {
	e.Problems = append(e.Problems, problem)
	e.fields = append(e.fields, field)
}

// ByField groups the problems by the form field they are about (FieldName, FieldScope, ...),
// so a form can show each next to its input; a problem about no one field is under "".
func (e *SpecError) ByField() map[string][]string {
	out := make(map[string][]string)
	for i, problem := range e.Problems {
		field := ""
		if i < len(e.fields) {
			field = e.fields[i]
		}
		out[field] = append(out[field], problem)
	}
	return out
}

func (e *SpecError) Error() string {
	return ErrInvalidClientSpec.Error() + ": " + strings.Join(e.Problems, "; ")
}

// Is makes a SpecError an ErrInvalidClientSpec.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidClientSpec }

// RevokedError is the answer for a revoked client: it can be neither changed nor revoked
// again, and the operator is told since when.
type RevokedError struct {
	ClientID string
	At       time.Time
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("client %s was revoked on %s", e.ClientID, e.At.UTC().Format("2006-01-02 15:04 MST"))
}

// CreateClient validates spec, generates the client ID and (for confidential clients) the
// secret, stores only the secret's keyed hash, and returns the secret once.
func (p *Provider) CreateClient(ctx context.Context, spec ClientSpec) (*storage.Client, string, error) {
	if err := p.validateSpec(ctx, &spec, ""); err != nil {
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
	if c.Source != storage.ClientSourceDynamic {
		// A dynamic registration is recorded once, as such, by RegisterHandler.
		p.clientEvent(ctx, audit.ClientCreated, c, "")
	}
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
	p.clientEvent(ctx, audit.ClientSecretRotated, c, "")
	return secret, nil
}

// ClientUpdate is a change to a client's settings; nil fields stay as they are.
type ClientUpdate struct {
	Name         *string
	Scopes       *[]string
	RedirectURIs *[]string
}

// UpdateClient changes a client's name, scopes or redirect URIs under the rules CreateClient
// applies (validateSpec). A revoked client cannot be changed (*RevokedError), nor can one
// whose client ID metadata document decides its settings. Tokens already issued keep the
// scopes they were granted.
func (p *Provider) UpdateClient(ctx context.Context, clientID string, u ClientUpdate) (*storage.Client, error) {
	c, err := p.store.ClientByID(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if c.Revoked() {
		return nil, fmt.Errorf("%w: a revoked client cannot be changed", &RevokedError{ClientID: c.ID, At: *c.RevokedAt})
	}
	if c.Source == storage.ClientSourceMetadata {
		return nil, &SpecError{Problems: []string{"the client's metadata document decides its settings: change the document"}}
	}
	spec := ClientSpec{
		Name: c.Name, Scopes: c.GetScopes(), GrantTypes: c.GetGrantTypes(), RedirectURIs: c.RedirectURIs(),
		Public: c.Public, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, Source: c.Source,
	}
	if c.ServerID != nil {
		spec.ServerID = *c.ServerID
	}
	if u.Name != nil {
		spec.Name = *u.Name
	}
	if u.Scopes != nil {
		spec.Scopes = *u.Scopes
	}
	if u.RedirectURIs != nil {
		spec.RedirectURIs = *u.RedirectURIs
	}
	if err := p.validateSpec(ctx, &spec, c.ID); err != nil {
		return nil, err
	}
	before := *c
	c.Name = spec.Name
	c.Scopes = strings.Join(spec.Scopes, " ")
	c.SetRedirectURIs(spec.RedirectURIs)
	if err := p.store.UpdateClient(ctx, c); err != nil {
		return nil, err
	}
	p.log.InfoContext(ctx, "client updated", "client_id", c.ID, "name", c.Name, "scope", c.Scopes)
	p.clientEvent(ctx, audit.ClientUpdated, c, changedClientFields(&before, c))
	return c, nil
}

// RevokeClient revokes a client and every token issued to it. A client revoked before is
// left as it was, and the *RevokedError says since when.
func (p *Provider) RevokeClient(ctx context.Context, clientID string) error {
	c, err := p.store.ClientByID(ctx, clientID)
	if err != nil {
		return err
	}
	if c.Revoked() {
		return &RevokedError{ClientID: c.ID, At: *c.RevokedAt}
	}
	if err := p.store.RevokeClient(ctx, clientID); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "client revoked", "client_id", clientID)
	p.clientEvent(ctx, audit.ClientRevoked, c, "")
	return nil
}

// validateSpec is the one check of a client's settings, for creation and every update
// (self is the updated client's ID, "" on creation). It fills in the defaults: a public
// client or one with a redirect URI gets the code and refresh grants, any other client
// credentials.
func (p *Provider) validateSpec(ctx context.Context, spec *ClientSpec, self string) error {
	se := &SpecError{}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" {
		spec.Name = "Unnamed client"
	}
	if len(spec.Name) > 200 {
		se.add(FieldName, "name is longer than 200 characters")
	}
	for _, s := range spec.Scopes {
		if !p.cfg.Scopes.Known(s) {
			se.UnknownScopes = append(se.UnknownScopes, s)
			se.add(FieldScope, fmt.Sprintf("unknown scope %q (known: %s)", s, strings.Join(p.cfg.Scopes.Names(), ", ")))
		}
	}
	if len(spec.GrantTypes) == 0 {
		if spec.Public || len(spec.RedirectURIs) > 0 {
			spec.GrantTypes = []string{"authorization_code", "refresh_token"}
		} else {
			spec.GrantTypes = []string{"client_credentials"}
		}
	}
	for _, g := range spec.GrantTypes {
		if !supportedGrants[g] {
			se.add(FieldGrantType, fmt.Sprintf("unsupported grant type %q (use client_credentials, authorization_code, refresh_token)", g))
		}
	}
	has := func(g string) bool { return ExactScopeStrategy(spec.GrantTypes, g) }
	if spec.Public && has("client_credentials") {
		se.add(FieldPublic, "a public client cannot use client_credentials (it has no secret)")
	}
	if has("client_credentials") && spec.ServerID == "" {
		// Nobody approves these tokens: the server the client was created for is the only
		// audience an operator vouched for (checkClientCredentials enforces it too).
		se.add(FieldGrantType, "a client_credentials client must belong to one MCP server")
	}
	if has("authorization_code") && len(spec.RedirectURIs) == 0 {
		se.add(FieldRedirectURI, "the authorization_code grant needs at least one redirect URI")
	}
	if !has("authorization_code") && len(spec.RedirectURIs) > 0 {
		// Only the code grant redirects; stored URIs nothing could use would only mislead.
		se.add(FieldRedirectURI, "redirect URIs are used only by the authorization_code grant, which this client does not have (create a separate client for the browser flow)")
	}
	for _, u := range spec.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			se.add(FieldRedirectURI, fmt.Sprintf("%s: %v", u, err))
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
	if spec.Source == storage.ClientSourceAdmin && len(spec.Scopes) == 0 {
		// An operator's client without scopes could get no useful token.
		se.add(FieldScope, "choose at least one scope")
	}
	if spec.ServerID != "" {
		taken, err := p.clientNameTaken(ctx, spec.ServerID, spec.Name, self)
		if err != nil {
			return err
		}
		if taken {
			se.add(FieldName, fmt.Sprintf("another client of this server is named %q: choose another name", spec.Name))
		}
	}
	if len(se.Problems) > 0 {
		return se
	}
	return nil
}

// clientNameTaken reports whether an active client of the server other than self has this
// name, compared case-insensitively: two clients both called "CI" cannot be told apart on the
// dashboard or the consent page. Revoked clients free their name. Two concurrent creations
// can both pass; the check is for people, not a uniqueness guarantee.
func (p *Provider) clientNameTaken(ctx context.Context, serverID, name, self string) (bool, error) {
	clients, err := p.store.ListClients(ctx, serverID)
	if err != nil {
		return false, err
	}
	for _, c := range clients {
		if c.ID != self && !c.Revoked() && strings.EqualFold(c.Name, name) {
			return true, nil
		}
	}
	return false, nil
}
