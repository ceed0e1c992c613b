package app

import (
	"encoding/hex"
	"testing"
)

// TestDerivedKeysUnchanged pins the bytes of every derived key: a change would invalidate
// every database's sealed signing keys and client-secret hashes, every live session and
// every outstanding code and refresh token. The values were derived by the key derivation
// this wiring replaced (provider.DeriveKey), with the same purpose strings.
func TestDerivedKeysUnchanged(t *testing.T) {
	k := deriveKeys("conexor-test-secret-0123456789-abcdefghijklmnop")
	for _, tt := range []struct {
		name string
		got  []byte
		want string
	}{
		{"fosite-hmac/v1", k.provider.FositeHMAC, "b806a4b8584a77583d1a039649de6f252a3acf9e589c8f4884dbe471ef566065"},
		{"client-secrets/v1", k.provider.ClientSecrets, "8ef6e89b32329132d3a815a6053f50af2cc7b6136813009537df7c5593303c64"},
		{"signing-keys/v1", k.provider.SigningKeys, "377c43c83c2dc0f7d074dd42d91bc754ea85f782e8b29cd0d7849fa42e6b3d49"},
		{"session-cookie/v1", k.sessionCookie, "93978c026064b20b90b60f03fcafbc03fbb44be30c4a1ae095d92c6a75f6ec02"},
		{"mcp-session-binding/v1", k.sessionBinding, "456233976695c5a794eaacca46bb82388f839c4c4947e3cdcdebdc24953f3e67"},
	} {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s key = %s, want %s", tt.name, got, tt.want)
		}
	}
}
