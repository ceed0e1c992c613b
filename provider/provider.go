// Package provider is Conexor's OAuth 2.0 authorization server: fosite composed with
// Conexor's token strategy, scope registry, resource (audience) rules and signing keys, and
// the HTTP handlers of the token, revocation, introspection, registration and metadata
// endpoints.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/conexor/conexor/audit"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"

	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// Config is what the provider needs from Conexor's configuration.
type Config struct {
	// Issuer is the public base URL, no path and no trailing slash (e.g. http://localhost:8080).
	Issuer string
	// Keys are the provider's keys, derived from the system secret by the wiring.
	Keys                  Keys
	AccessTokenLifespan   time.Duration
	RefreshTokenLifespan  time.Duration
	AuthorizeCodeLifespan time.Duration
	SigningAlg            string
	Scopes                *Scopes
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyPublishDelay is how long a rotated signing key is published before it signs
	// (Keyring.SetPublishDelay); 0 signs with it at once.
	KeyPublishDelay time.Duration
	// CIMDAllowPrivate lets client ID metadata documents be fetched from loopback and
	// private addresses. For tests only.
	CIMDAllowPrivate bool
	// Audit records the provider's audit events and counts issued tokens; nil records
	// nothing.
	Audit *audit.Recorder
	// Limits counts registrations and failed client authentications; nil counts them in
	// this process only.
	Limits Limiter
}

// Keys are the keys the provider uses, each derived from the system secret for one purpose
// (secret.DeriveKey), so the provider never holds the secret itself and one leaked key
// exposes one use. Each is 32 bytes.
type Keys struct {
	// FositeHMAC signs authorization codes and refresh tokens (secret.PurposeFositeHMAC).
	FositeHMAC []byte
	// ClientSecrets keys the client-secret hash (secret.PurposeClientSecrets).
	ClientSecrets []byte
	// SigningKeys seals the token-signing keys at rest (secret.PurposeSigningKeys).
	SigningKeys []byte
	// UpstreamHeaders seals the upstream headers stored with servers
	// (secret.PurposeUpstreamHeaders).
	UpstreamHeaders []byte
}

// MaxAccessTokenLifespan is the longest access-token lifetime the configuration allows.
const MaxAccessTokenLifespan = 24 * time.Hour

// Provider is the authorization server.
type Provider struct {
	cfg      Config
	store    *storage.Store
	oauth    *fosite.Fosite
	keys     *Keyring
	strategy *TokenStrategy
	hasher   *SecretHasher
	headers  *sealer // upstream headers at rest
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	limits   Limiter          // registration and client-authentication budgets (limits.go)
	cimd     *clientDocuments // client ID metadata documents (cimd.go)
	audit    *audit.Recorder
	live     LiveAccessTokens // introspection's source for access tokens (IntrospectFrom); nil: fosite
}

// New composes fosite from an explicit list of grants (never ComposeAllEnabled, which turns
// on implicit, password and OIDC flows) and loads or creates the signing keys.
func New(ctx context.Context, cfg Config, store *storage.Store, log *slog.Logger, metrics *Metrics) (*Provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Keys.FositeHMAC) != 32 || len(cfg.Keys.ClientSecrets) != 32 || len(cfg.Keys.SigningKeys) != 32 || len(cfg.Keys.UpstreamHeaders) != 32 {
		return nil, errors.New("provider: every key in Config.Keys must be 32 bytes")
	}
	if cfg.Scopes == nil {
		s, _ := NewScopes(nil)
		cfg.Scopes = s
	}
	if cfg.Limits == nil {
		cfg.Limits = limit.New(limit.Options{Now: cfg.Now, Log: log})
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	// Retired keys stay published for the longest lifetime an access token can have (24 h,
	// the configuration's maximum), not the current one: a token issued before an operator
	// shortened access_token_ttl must still verify until its own exp.
	keys, err := NewKeyring(store, cfg.SigningAlg, cfg.Keys.SigningKeys, MaxAccessTokenLifespan, log, cfg.Now)
	if err != nil {
		return nil, err
	}
	keys.SetPublishDelay(cfg.KeyPublishDelay)
	newKey, err := keys.Init(ctx)
	if err != nil {
		return nil, err
	}
	hasher := NewSecretHasher(cfg.Keys.ClientSecrets)
	headers, err := newSealer(cfg.Keys.UpstreamHeaders)
	if err != nil {
		return nil, err
	}
	fcfg := &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenLifespan,
		RefreshTokenLifespan:           cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          cfg.AuthorizeCodeLifespan,
		GlobalSecret:                   cfg.Keys.FositeHMAC,
		AccessTokenIssuer:              cfg.Issuer,
		TokenURL:                       urls.Endpoint(cfg.Issuer, urls.Token),
		ScopeStrategy:                  ExactScopeStrategy,
		AudienceMatchingStrategy:       AudienceStrategy,
		ClientSecretsHasher:            hasher,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             []string{},
		SendDebugMessagesToClients:     false,
		MinParameterEntropy:            8,
		RedirectSecureChecker:          fosite.IsRedirectURISecure, // custom schemes (cursor://) are how native MCP clients receive codes
	}
	strategy := &TokenStrategy{
		CoreStrategy: oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fcfg}, fcfg),
		keys:         keys,
		issuer:       cfg.Issuer,
		lifespan:     cfg.AccessTokenLifespan,
		now:          cfg.Now,
	}
	fstore := &fositeStore{Store: store}
	oauth := compose.Compose(fcfg, fstore, strategy,
		authorizeCodeFactory,
		pkceFactory, // must follow the authorization code factory
		compose.OAuth2ClientCredentialsGrantFactory,
		refreshFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)
	p := &Provider{
		cfg: cfg, store: store, oauth: oauth.(*fosite.Fosite), keys: keys, strategy: strategy,
		hasher: hasher, headers: headers, log: log, metrics: metrics, now: cfg.Now,
		audit: cfg.Audit, limits: cfg.Limits,
	}
	fstore.p = p
	p.cimd = newClientDocuments(p, cfg.CIMDAllowPrivate)
	if newKey != "" {
		p.recordKeyRotated(ctx, newKey, "created at start: no key of the configured algorithm yet")
	}
	return p, nil
}

// AudienceStrategy is fosite's AudienceMatchingStrategy: exact string match. A client bound
// to a server may only get that server's URL; fosite's default prefix match would let an
// allowed "https://host/" admit every server on the host. An unbound (dynamically
// registered) client has no audience list: its resource was validated against the known
// servers before fosite saw it.
func AudienceStrategy(haystack, needle []string) error {
	if len(haystack) == 0 {
		return nil
	}
	for _, n := range needle {
		if !ExactScopeStrategy(haystack, n) {
			// RFC 8707 section 2: a resource the client may not use is invalid_target.
			return ErrInvalidTarget.WithHintf("This client may not get tokens for %s: it belongs to another MCP server.", n)
		}
	}
	return nil
}

// Keys exposes the keyring (JWKS, rotation, background reload).
func (p *Provider) Keys() *Keyring { return p.keys }

// Hasher hashes client secrets.
func (p *Provider) Hasher() *SecretHasher { return p.hasher }

// Scopes is the scope registry.
func (p *Provider) Scopes() *Scopes { return p.cfg.Scopes }

// Issuer is the configured base URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Config returns the provider's configuration.
func (p *Provider) Config() Config { return p.cfg }

// VerifyAccessToken checks an access token's signature, typ, issuer and expiry. Audience
// and revocation are checked by the resource server.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*Claims, error) {
	return p.strategy.VerifyAccessToken(ctx, token)
}

// AccessTokenSignature returns the part of an access token that storage keys it by.
func (p *Provider) AccessTokenSignature(token string) string {
	return p.strategy.AccessTokenSignature(context.Background(), token)
}

// ResourceURL is the canonical URL of org/server.
func (p *Provider) ResourceURL(org, server string) string {
	return urls.Resource(p.cfg.Issuer, org, server)
}

// ErrInvalidTarget is RFC 8707's error for a resource that is unknown or not allowed.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, unknown, or not allowed for this client.",
	CodeField:        400,
}

// CanonicalResource normalises an RFC 8707 resource indicator: scheme and host lower-case,
// default ports dropped, no fragment, no query, no trailing slash. It returns the canonical
// URL and the org and server it names, or ErrInvalidTarget with a reason.
func (p *Provider) CanonicalResource(raw string) (canonical, org, server string, err error) {
	fail := func(why string) (string, string, string, error) {
		return "", "", "", ErrInvalidTarget.WithHint(why)
	}
	u, perr := url.Parse(strings.TrimSpace(raw))
	if perr != nil || !u.IsAbs() || u.Host == "" {
		return fail("The resource must be an absolute URL such as " + p.ResourceURL("acme", "sales-api") + ".")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fail("The resource must not contain a fragment (RFC 8707).")
	}
	if u.RawQuery != "" || u.User != nil {
		return fail("The resource must not contain a query or user info.")
	}
	iss, _ := url.Parse(p.cfg.Issuer)
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	hostport := host
	if port != "" {
		hostport = host + ":" + port
	}
	if scheme != strings.ToLower(iss.Scheme) || hostport != strings.ToLower(iss.Host) {
		return fail(fmt.Sprintf("The resource must be an MCP server of this authorization server (%s).", p.ResourceURL("{org}", "{server}")))
	}
	// The escaped path, so %2F cannot pass for a separator; the slug rule then refuses '%',
	// ';', dots and anything else no org or server can be named with.
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) != 3 || "/"+parts[0]+"/" != urls.MCPPrefix || !urls.ValidSlug(parts[1]) || !urls.ValidSlug(parts[2]) {
		return fail(fmt.Sprintf("The resource must have the form %s, with the org and server as they are named (%s).", p.ResourceURL("{org}", "{server}"), urls.SlugRule))
	}
	return p.ResourceURL(parts[1], parts[2]), parts[1], parts[2], nil
}

// ResolveResource canonicalises a resource indicator and finds its server; unknown servers
// are invalid_target.
func (p *Provider) ResolveResource(ctx context.Context, raw string) (string, *storage.Server, error) {
	canonical, org, server, err := p.CanonicalResource(raw)
	if err != nil {
		return "", nil, err
	}
	srv, err := p.store.ServerByPath(ctx, org, server)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, ErrInvalidTarget.WithHintf("No MCP server is registered at %s.", canonical)
	}
	if err != nil {
		return "", nil, err
	}
	return canonical, srv, nil
}
