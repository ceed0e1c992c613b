// Package secret derives purpose-bound keys from the system secret and makes random
// identifiers and tokens. It imports nothing of Conexor's, so every package can use it and
// the wiring can derive each key once and hand a package only the key it needs.
package secret

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// MinLength is the shortest system secret accepted, in bytes.
const MinLength = 32

// Purposes of the keys derived from the system secret. Each names one use, so one leaked
// derived key exposes one use; the version lets a purpose's key change without touching
// the others.
const (
	PurposeFositeHMAC     = "fosite-hmac/v1"
	PurposeClientSecrets  = "client-secrets/v1"
	PurposeSigningKeys    = "signing-keys/v1"
	PurposeSessionCookie  = "session-cookie/v1"
	PurposeSessionBinding = "mcp-session-binding/v1"
	// PurposeUpstreamHeaders seals the upstream headers (API keys) stored with a server.
	PurposeUpstreamHeaders = "upstream-headers/v1"
)

// DeriveKey derives a purpose-bound 32-byte key from the system secret (HKDF-SHA256), so the
// secret itself never signs, encrypts or hashes anything directly.
func DeriveKey(systemSecret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, systemSecret, nil, "conexor/"+purpose, 32)
	if err != nil {
		panic("hkdf: " + err.Error()) // only fails for absurd lengths
	}
	return key
}

// RandomToken returns n random bytes as unpadded base64url: only RFC 3986 unreserved
// characters, so it survives form- and Basic-auth URL-decoding unchanged.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewID returns a random identifier with a prefix, e.g. "org_3k…": 128 bits in lower-case
// base32, so IDs are URL- and filename-safe and sort nowhere in particular.
func NewID(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 26)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return prefix + string(b)
}
