package mcp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// MaxTokenLength bounds the bearer token the gate will look at. Conexor's access tokens are
// well under 2 KiB; anything much longer is not one of them.
const MaxTokenLength = 8 << 10

// Why a request carries no usable bearer token. ErrNoToken is answered with a bare challenge
// (RFC 6750 section 3.1: no error code when the client sent no credentials, so it starts
// discovery); the others are invalid_request.
var (
	ErrNoToken         = errors.New("no bearer token in the Authorization header")
	ErrMalformedHeader = errors.New("the Authorization header must be exactly: Bearer <token>")
	ErrMultipleHeaders = errors.New("more than one Authorization header")
	ErrTokenTooLong    = errors.New("the bearer token is too long")
	ErrTokenInQuery    = errors.New("access tokens are accepted only in the Authorization header, never in the URL query (RFC 9700 section 2.5)")
)

// ParseAuthorization extracts the token from the values of a request's Authorization header
// (RFC 6750 section 2.1): `Bearer` (any case), one or more spaces, then a b64token and
// nothing else. Another scheme, or no header, is ErrNoToken.
func ParseAuthorization(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", ErrMultipleHeaders
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", ErrMalformedHeader
	}
	if len(token) > MaxTokenLength {
		return "", ErrTokenTooLong
	}
	if !isB64Token(token) {
		return "", ErrMalformedHeader
	}
	return token, nil
}

// isB64Token reports whether s is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// tokenInQuery reports whether the URL query names an access token (RFC 6750 section 2.3).
// Conexor never accepts one there: URLs end up in logs, proxies and Referer headers.
func tokenInQuery(r *http.Request) bool {
	q := r.URL.RawQuery
	if q == "" {
		return false
	}
	for _, pair := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		raw, _, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(raw)
		if err != nil {
			k = raw // undecodable: judge the raw key
		}
		if strings.EqualFold(k, "access_token") {
			return true
		}
	}
	return false
}

// bearerToken returns the request's token, refusing a token in the URL query even when the
// header carries one too (RFC 6750 section 2: one method per request).
func bearerToken(r *http.Request) (string, error) {
	if tokenInQuery(r) {
		return "", ErrTokenInQuery
	}
	return ParseAuthorization(r.Header.Values("Authorization"))
}
