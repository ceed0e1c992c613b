package mcp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// sessionBinder ties the MCP session IDs of proxied servers to the principal that opened the
// session. The upstream never sees who calls (the client's token is not passed through), so
// it cannot do this itself: without it, anyone with any token for the server who learned a
// session ID (a log line, a shared proxy) could read that session's stream, post into it or
// end it (MCP security best practices, "Session Hijacking": bind session IDs to the user).
//
// Stateless, so every replica agrees: the ID a client sees is the upstream's ID, a dot and
// an HMAC of the principal (subject, client and server) and that ID. A renewed token of the
// same principal keeps working; any other principal's request is answered as for a session
// that does not exist.
type sessionBinder struct {
	key []byte
}

func newSessionBinder(key []byte) *sessionBinder {
	if len(key) == 0 {
		// One process only: sessions bound here are unknown to other replicas.
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &sessionBinder{key: key}
}

func (b *sessionBinder) mac(p *principal, upstreamID string) string {
	m := hmac.New(sha256.New, b.key)
	for _, s := range []string{p.Claims.Subject, p.Claims.ClientID, strings.Join(p.Claims.Audience, " "), upstreamID} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// wrap turns the upstream's session ID into the one the client sees.
func (b *sessionBinder) wrap(p *principal, upstreamID string) string {
	return upstreamID + "." + b.mac(p, upstreamID)
}

// unwrap returns the upstream's session ID from a client's, if p is the principal it was
// issued to.
func (b *sessionBinder) unwrap(p *principal, clientID string) (string, bool) {
	i := strings.LastIndexByte(clientID, '.')
	if i <= 0 {
		return "", false
	}
	id, mac := clientID[:i], clientID[i+1:]
	if !hmac.Equal([]byte(mac), []byte(b.mac(p, id))) {
		return "", false
	}
	return id, true
}
