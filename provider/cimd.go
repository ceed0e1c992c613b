package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/storage"
)

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, MCP
// 2025-11-25): a client_id that is an https URL names a JSON document, published by the
// client, that holds its metadata. Conexor fetches it (never from private addresses),
// validates it, caches it, and keeps a storage.Client row with the URL as its ID, so the
// token endpoint (fosite's GetClient) knows the client too.
const (
	cimdMaxBytes   = 64 << 10
	cimdTimeout    = 5 * time.Second
	cimdMinTTL     = 5 * time.Minute
	cimdMaxTTL     = 24 * time.Hour
	cimdDefaultTTL = time.Hour
	// cimdRetryAfter is how long a cached copy is used after a failed refetch before the
	// next attempt, so an unreachable publisher does not cost every request a timeout.
	cimdRetryAfter = time.Minute
	maxClientIDURL = 2000
)

// clientDocuments resolves client IDs, fetching metadata documents for URL client IDs.
type clientDocuments struct {
	p            *Provider
	allowPrivate bool
	timeout      time.Duration
	client       *http.Client
	group        singleflight.Group
}

func newClientDocuments(p *Provider, allowPrivate bool) *clientDocuments {
	d := &clientDocuments{p: p, allowPrivate: allowPrivate, timeout: cimdTimeout}
	d.client = d.newHTTPClient(nil)
	return d
}

// Lookup finds the client of an authorization request: https client IDs are metadata documents, anything
// else is a client in the store.
func (d *clientDocuments) Lookup(ctx context.Context, id string) (*storage.Client, error) {
	lower := strings.ToLower(id)
	switch {
	case strings.HasPrefix(lower, "https://"):
		return d.resolve(ctx, id)
	case strings.HasPrefix(lower, "http://"):
		return nil, cimdError(id, "a client ID metadata document must be served over https")
	}
	return d.p.store.ClientByID(ctx, id)
}

type clientIPKey struct{}

// WithClientIP records the address an authorization request came from, so that fetching
// new client ID metadata documents can be rate-limited per address (the consent flow sets
// it; without it there is no limit).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

func cimdError(id, why string) *AuthorizeError {
	return &AuthorizeError{Code: "invalid_client", Description: fmt.Sprintf(
		"The application identifies itself with the client ID metadata document %s, which cannot be used: %s.", httpx.Truncate(id, 200), why)}
}

// resolve returns the client a metadata document describes: from the cache while it is
// fresh, else fetched again; a failed fetch falls back to the cached copy, however old.
func (d *clientDocuments) resolve(ctx context.Context, id string) (*storage.Client, error) {
	if why := checkClientIDURL(id); why != "" {
		return nil, cimdError(id, why)
	}
	now := d.p.now()
	cached, err := d.p.store.ClientDocumentByURL(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if cached != nil && now.Before(cached.ExpiresAt) {
		if md, err := d.parse(id, cached.Body); err == nil {
			return d.upsert(ctx, id, md)
		}
		// Cached under older rules that it no longer passes: fetch it again.
	}
	if cached == nil {
		// A document never seen: fetching it stores a client, like a dynamic registration,
		// and anyone can name new URLs without end. Take it from the same per-address budget.
		if ip, ok := ctx.Value(clientIPKey{}).(string); ok {
			if allowed, wait := d.p.allowRegistration(ctx, ip); !allowed {
				d.p.log.InfoContext(ctx, "client metadata document refused: rate limit", "client_id", httpx.Truncate(id, 200), "ip", ip)
				return nil, cimdError(id, fmt.Sprintf("too many new applications came from this address; retry in %d seconds", int(math.Ceil(wait.Seconds()))))
			}
		}
	}
	v, ferr, _ := d.group.Do(id, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		defer cancel()
		return d.fetch(fctx, id)
	})
	if ferr != nil {
		var fe *fetchError
		errors.As(ferr, &fe)
		if cached != nil {
			if md, err := d.parse(id, cached.Body); err == nil {
				d.p.log.WarnContext(ctx, "client metadata document unreachable, using the cached copy",
					"client_id", id, "fetched_at", cached.FetchedAt, "err", ferr)
				cached.ExpiresAt = now.Add(cimdRetryAfter)
				if err := d.p.store.SaveClientDocument(ctx, cached); err != nil {
					d.p.log.WarnContext(ctx, "client metadata document: cache update failed", "client_id", id, "err", err)
				}
				return d.upsert(ctx, id, md)
			}
		}
		d.p.log.InfoContext(ctx, "client metadata document unusable", "client_id", id, "err", ferr)
		if fe != nil {
			return nil, cimdError(id, fe.reason)
		}
		return nil, cimdError(id, "it could not be fetched")
	}
	doc := v.(*fetchedDocument)
	md, err := d.parse(id, doc.body)
	if err != nil {
		d.p.log.InfoContext(ctx, "client metadata document invalid", "client_id", id, "err", err)
		return nil, cimdError(id, err.Error())
	}
	if err := d.p.store.SaveClientDocument(ctx, &storage.ClientDocument{
		URL: id, Body: doc.body, FetchedAt: now, ExpiresAt: now.Add(doc.ttl),
	}); err != nil {
		return nil, err
	}
	d.p.log.InfoContext(ctx, "client metadata document fetched", "client_id", id, "name", md.ClientName, "ttl", doc.ttl)
	return d.upsert(ctx, id, md)
}

// checkClientIDURL applies the draft's rules for a client identifier URL (section 3): https,
// a path, no fragment, no user info, no dot segments. It returns what is wrong, or "".
func checkClientIDURL(id string) string {
	if len(id) > maxClientIDURL {
		return fmt.Sprintf("the URL is longer than %d characters", maxClientIDURL)
	}
	u, err := url.Parse(id)
	switch {
	case err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.Opaque != "":
		return "it is not an absolute https URL"
	case strings.Contains(id, "#"):
		return "the URL must not contain a fragment"
	case u.User != nil:
		return "the URL must not contain user info"
	case u.Path == "" || u.Path == "/":
		return "the URL must have a path (the document cannot be the site's root)"
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." {
			return "the URL must not contain . or .. path segments"
		}
	}
	return ""
}

// parse validates a document: its client_id must be the URL it came from, byte for byte;
// it describes a public client (token_endpoint_auth_method none, or absent), whose other
// metadata must pass the rules of dynamic registration.
func (d *clientDocuments) parse(id string, body []byte) (ClientMetadata, error) {
	var doc struct {
		ClientMetadata
		ClientID     *string         `json:"client_id"`
		ClientSecret json.RawMessage `json:"client_secret"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return ClientMetadata{}, errors.New("the document is not a valid JSON object: " + strings.TrimSuffix(jsonProblem(err), "."))
	}
	switch {
	case doc.ClientID == nil:
		return ClientMetadata{}, errors.New("the document has no client_id")
	case *doc.ClientID != id:
		return ClientMetadata{}, fmt.Errorf("its client_id %q is not the URL it was fetched from", httpx.Truncate(*doc.ClientID, 200))
	case doc.ClientSecret != nil && string(doc.ClientSecret) != "null":
		return ClientMetadata{}, errors.New("a metadata document must not contain a client_secret")
	}
	switch doc.TokenEndpointAuthMethod {
	case "", "none":
		doc.TokenEndpointAuthMethod = "none"
	case "private_key_jwt":
		return ClientMetadata{}, errors.New("token_endpoint_auth_method private_key_jwt is not supported here; publish token_endpoint_auth_method none (a public client with PKCE)")
	default:
		return ClientMetadata{}, fmt.Errorf("token_endpoint_auth_method %q is not allowed in a metadata document; use none", httpx.Truncate(doc.TokenEndpointAuthMethod, 40))
	}
	md, oe := d.p.normalizeRegistration(doc.ClientMetadata)
	if oe != nil {
		return ClientMetadata{}, errors.New(strings.TrimSuffix(oe.Description, "."))
	}
	if md.ClientName == "" {
		u, _ := url.Parse(id)
		md.ClientName = u.Host
	}
	return md, nil
}

// upsert keeps the client row of a metadata document in step with the document. A client an
// operator revoked stays revoked.
func (d *clientDocuments) upsert(ctx context.Context, id string, md ClientMetadata) (*storage.Client, error) {
	raw, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	c := &storage.Client{
		ID:                      id,
		Name:                    md.ClientName,
		Public:                  true,
		Scopes:                  strings.Join(d.p.cfg.Scopes.Names(), " "),
		GrantTypes:              strings.Join(md.GrantTypes, " "),
		TokenEndpointAuthMethod: "none",
		Source:                  storage.ClientSourceMetadata,
		Metadata:                string(raw),
	}
	c.SetRedirectURIs(md.RedirectURIs)
	existing, err := d.p.store.ClientByID(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		err := d.p.store.CreateClient(ctx, c)
		if errors.Is(err, storage.ErrConflict) { // created concurrently (another replica)
			return d.p.store.ClientByID(ctx, id)
		}
		return c, err
	case err != nil:
		return nil, err
	case existing.Source != storage.ClientSourceMetadata:
		return nil, fmt.Errorf("client %s exists and is not a metadata document client", id)
	case existing.Name == c.Name && existing.Scopes == c.Scopes && existing.GrantTypes == c.GrantTypes &&
		existing.RedirectURIsJSON == c.RedirectURIsJSON && existing.Metadata == c.Metadata:
		return existing, nil
	}
	c.CreatedAt, c.RevokedAt = existing.CreatedAt, existing.RevokedAt
	if err := d.p.store.SaveClient(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}
