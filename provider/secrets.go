package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"

	"github.com/conexor/conexor/internal/secret"
)

// NewClientID returns "client_" and 128 random bits.
func NewClientID() string { return "client_" + secret.RandomToken(16) }

// NewClientSecret returns "secret_" and 256 random bits.
func NewClientSecret() string { return "secret_" + secret.RandomToken(32) }

const hmacPrefix = "hmac-sha256$"

// SecretHasher is fosite's ClientSecretsHasher for server-generated secrets: a keyed
// HMAC-SHA256 compared in constant time. Server-generated 256-bit secrets need no key
// stretching, and bcrypt at cost 12 would add ~250 ms to every token request. Hashes that
// start with "$2" are still verified as bcrypt, for secrets imported from elsewhere.
type SecretHasher struct {
	key []byte
}

var _ fosite.Hasher = (*SecretHasher)(nil)

// NewSecretHasher hashes with key (Keys.ClientSecrets).
func NewSecretHasher(key []byte) *SecretHasher {
	return &SecretHasher{key: key}
}

// Hash implements fosite.Hasher.
func (h *SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write(data)
	return []byte(hmacPrefix + hex.EncodeToString(m.Sum(nil))), nil
}

// HashString is Hash for callers outside fosite.
func (h *SecretHasher) HashString(secret string) string {
	out, _ := h.Hash(context.Background(), []byte(secret))
	return string(out)
}

var errSecretMismatch = errors.New("client secret does not match")

// Compare implements fosite.Hasher in constant time.
func (h *SecretHasher) Compare(ctx context.Context, hash, data []byte) error {
	switch {
	case strings.HasPrefix(string(hash), hmacPrefix):
		want, _ := h.Hash(ctx, data)
		if subtle.ConstantTimeCompare(hash, want) == 1 {
			return nil
		}
		return errSecretMismatch
	case strings.HasPrefix(string(hash), "$2"):
		return bcrypt.CompareHashAndPassword(hash, data)
	default:
		// Still spend the HMAC so an unusable hash is not distinguishable by time.
		_, _ = h.Hash(ctx, data)
		return errSecretMismatch
	}
}
