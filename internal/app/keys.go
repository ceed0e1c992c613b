package app

import (
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/provider"
)

// keys are every key Conexor derives from the system secret, one per purpose, each handed
// only to the package that uses it. The purpose strings fix the derived bytes: changing one
// invalidates what that key signed or sealed (sessions, stored signing keys, codes).
type keys struct {
	provider       provider.Keys
	sessionCookie  []byte // consent: signs the browser session cookie
	sessionBinding []byte // mcp: binds proxied MCP session IDs to their principal
}

func deriveKeys(systemSecret string) keys {
	s := []byte(systemSecret)
	return keys{
		provider: provider.Keys{
			FositeHMAC:      secret.DeriveKey(s, secret.PurposeFositeHMAC),
			ClientSecrets:   secret.DeriveKey(s, secret.PurposeClientSecrets),
			SigningKeys:     secret.DeriveKey(s, secret.PurposeSigningKeys),
			UpstreamHeaders: secret.DeriveKey(s, secret.PurposeUpstreamHeaders),
		},
		sessionCookie:  secret.DeriveKey(s, secret.PurposeSessionCookie),
		sessionBinding: secret.DeriveKey(s, secret.PurposeSessionBinding),
	}
}
