package app

import (
	"context"

	"github.com/conexor/conexor/storage"
)

// listenForChanges has every change another process announces (on Postgres: a revocation,
// a key rotation by `conexor keys rotate`, a server edited at another replica) reach what
// caches it here at once, instead of at its next poll. Polling stays as it was: it is what
// holds when the listener is down (reconnecting, or behind a pooler that drops LISTEN).
func (a *App) listenForChanges(ctx context.Context) {
	a.listenDone = make(chan struct{})
	go func() {
		defer close(a.listenDone)
		a.Store.Listen(ctx, a.log, a.changed)
	}()
}

// changed routes one notification to its caches. The store's clients are dropped whole on
// any client or server change (a client carries its server's path) and when notifications
// may have been lost; their polling bound (storage's clientFreshFor) holds meanwhile.
func (a *App) changed(topic storage.Topic) {
	switch topic {
	case storage.TopicClients, storage.TopicServers, storage.TopicResync:
		a.Store.ForgetClients()
	}
	switch topic {
	case storage.TopicKeys, storage.TopicResync:
		a.Provider.Keys().Changed()
	}
	a.gateway.Changed(topic)
}
