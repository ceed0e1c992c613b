package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/net/http/httpguts"

	"github.com/conexor/conexor/internal/secret"
)

// IdentityAssertionType is the JWT typ header of an identity assertion. It differs from an
// access token's at+jwt, and VerifyAccessToken accepts nothing else, so an assertion an
// upstream received can never be replayed to Conexor (or to another server of it) as a
// token (RFC 8725 section 3.11: explicit typing keeps one kind of JWT from passing as another).
const IdentityAssertionType = "conexor-identity+jwt"

// IdentityAssertionLifetime is how long an identity assertion is valid: long enough for a
// slow upstream to check it, short enough that one that leaks from an upstream's logs is
// of no use.
const IdentityAssertionLifetime = 60 * time.Second

// MaxIdentityHeaderLength bounds the name of the identity header (the column's size).
const MaxIdentityHeaderLength = 100

// IdentityClaims are the claims of an identity assertion: who is calling an upstream.
type IdentityClaims struct {
	Issuer string `json:"iss"`
	// Audience is the upstream URL exactly as configured: an assertion is for one upstream.
	Audience string `json:"aud"`
	// Subject is the user the access token was issued to, or the client for client
	// credentials (the access token's sub).
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
	// Org is the slug of the server's organization.
	Org string `json:"org"`
	// Resource is the canonical URL of the Conexor server the call went through
	// (issuer/mcp/{org}/{server}: the access tokens' audience, RFC 8707). The audience
	// alone proves nothing to an upstream: anyone who administers a server on this Conexor
	// can point it at any upstream URL and turn assertions on, so aud and iss would match
	// for every org's server. Only one server has this URL (slugs never change or come
	// back), and the upstream checks it against the server it trusts. Named after the
	// RFC 8707 resource indicator and the RFC 9728 metadata member that carry the same
	// value, so it reads as what the dashboard and MCP clients call the server's URL.
	Resource string `json:"resource"`
	// Scope is the access token's granted scopes, space-separated.
	Scope string `json:"scope"`
	// Act (RFC 8693 section 4.1) names the client acting for the user; absent when the
	// client calls as itself (client credentials).
	Act      *Actor `json:"act,omitempty"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	JTI      string `json:"jti"`
}

// Actor is the RFC 8693 act claim.
type Actor struct {
	Subject string `json:"sub"`
}

// SignedAssertion is a signed identity assertion and its validity, for a cache to know
// when to sign a new one.
type SignedAssertion struct {
	Token             string
	IssuedAt, Expires time.Time
}

// ErrAssertionKey means the current signing key cannot sign identity assertions that an
// upstream could verify: an HS256 key is secret and never in the JWKS.
var ErrAssertionKey = errors.New("identity assertions need a published signing key (signing_algorithm ES256 or RS256, not HS256)")

// AssertIdentity signs an identity assertion saying that the holder of the access token
// with claims caller is calling upstream through the server org/server. It expires
// IdentityAssertionLifetime after issue, or with the access token if that is sooner: the
// upstream must not believe in a caller longer than Conexor does.
func (p *Provider) AssertIdentity(upstream, org, server string, caller *Claims) (SignedAssertion, error) {
	iat := p.now().UTC().Truncate(time.Second)
	exp := iat.Add(IdentityAssertionLifetime)
	if tokenExp := time.Unix(caller.Expiry, 0); caller.Expiry != 0 && tokenExp.Before(exp) {
		exp = tokenExp
	}
	c := IdentityClaims{
		Issuer: p.cfg.Issuer, Audience: upstream, Subject: caller.Subject, ClientID: caller.ClientID, Org: org,
		Resource: p.ResourceURL(org, server), Scope: caller.Scope, IssuedAt: iat.Unix(), Expiry: exp.Unix(), JTI: secret.RandomToken(16),
	}
	if caller.Subject != caller.ClientID {
		c.Act = &Actor{Subject: caller.ClientID}
	}
	token, err := p.keys.signAssertion(c)
	if err != nil {
		return SignedAssertion{}, err
	}
	return SignedAssertion{Token: token, IssuedAt: iat, Expires: exp}, nil
}

// signAssertion signs claims as an identity assertion with the current key.
func (k *Keyring) signAssertion(claims any) (string, error) {
	k.mu.RLock()
	cur := k.current
	k.mu.RUnlock()
	switch {
	case cur == nil:
		return "", errors.New("no current signing key")
	case cur.alg == jose.HS256:
		return "", ErrAssertionKey
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := cur.assertion.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// identityReservedPrefixes start header names the identity header may not have: the MCP
// transport's own (forwarded from the client), the body's framing, and what proxies
// between Conexor and the upstream add or rewrite (X-Forwarded-For and kin).
var identityReservedPrefixes = []string{"Mcp-", "Content-", "Accept", "X-Forwarded-", "Sec-"}

// identityReservedHeaders are names the identity header may not have beyond the stored
// headers' reserved ones (reservedUpstreamHeaders: framing, hop-by-hop, Authorization,
// Cookie): the gateway sets User-Agent; Forwarded and X-Real-Ip are a proxy's to set.
// Authorization is refused on purpose: the assertion is a bare JWT, not "Bearer ...", an
// upstream's OAuth middleware would take it for an access token of its own, and an
// upstream's API key is often sent in Authorization (a stored header).
var identityReservedHeaders = map[string]bool{
	"User-Agent": true, "Forwarded": true, "X-Real-Ip": true, "Origin": true, "Referer": true, "Set-Cookie": true,
}

// validateIdentityHeader is the one rule for a server's identity header; nil means not set,
// "" turns it off. The name is trimmed and canonicalised in place (x-conexor-identity
// becomes X-Conexor-Identity).
func validateIdentityHeader(name *string) ServerProblems {
	if name == nil {
		return nil
	}
	*name = strings.TrimSpace(*name)
	if *name == "" {
		return nil
	}
	bad := func(format string, args ...any) ServerProblems {
		return ServerProblems{{"identity_header", fmt.Sprintf(format, args...)}}
	}
	if len(*name) > MaxIdentityHeaderLength || !httpguts.ValidHeaderFieldName(*name) {
		return bad("%q is not a valid header name: at most %d letters, digits and !#$%%&'*+-.^_`|~", *name, MaxIdentityHeaderLength)
	}
	key := http.CanonicalHeaderKey(*name)
	if reservedUpstreamHeaders[key] || identityReservedHeaders[key] || hasAnyPrefix(key, identityReservedPrefixes) {
		return bad("the identity cannot be sent in %s: the gateway, the client or a proxy sets that header; choose a name of your own such as X-Conexor-Identity", key)
	}
	*name = key
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// identityHeaderClash refuses an identity header named like one of the server's stored
// upstream headers: one of the two values would be lost on the way.
func identityHeaderClash(identity string, headers http.Header) ServerProblems {
	if identity == "" || headers.Get(identity) == "" {
		return nil
	}
	return ServerProblems{{"identity_header", fmt.Sprintf("the upstream header %s is already set for this server; "+
		"send the identity in another header, or remove that upstream header", identity)}}
}

// identityKeyProblems refuses turning identity assertions on when the signing algorithm
// would make them unverifiable by the upstream.
func (p *Provider) identityKeyProblems(identity string) ServerProblems {
	if identity == "" || !strings.EqualFold(p.cfg.SigningAlg, AlgHS256) {
		return nil
	}
	return ServerProblems{{"identity_header", "identity assertions are verified with the public JWKS, and this Conexor signs with HS256, " +
		"whose key is secret: set signing_algorithm to ES256 or RS256 first"}}
}
