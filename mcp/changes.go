package mcp

import "github.com/conexor/conexor/storage"

// Changed tells the gateway that another process (or this one) changed what it caches, as
// announced by storage's change notifications: revoked access tokens are re-read at once
// instead of within the revocation set's bounds, and server rows instead of within
// serverTTL. Both bounds stay as they are: notifications are a shortcut, not the guarantee,
// and a listener that lost its connection reports storage.TopicResync when it is back.
//
// It returns at once (the re-read runs in the background), as a listener's callback must.
func (g *Gateway) Changed(topic storage.Topic) {
	switch topic {
	case storage.TopicRevoked:
		g.revoked.poke()
	case storage.TopicServers:
		g.servers.forgetAll()
	case storage.TopicResync:
		g.revoked.poke()
		g.servers.forgetAll()
	}
}
