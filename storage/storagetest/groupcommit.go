package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/conexor/conexor/storage"
)

// testGroupCommit: access tokens created concurrently outside a transaction are committed in
// batches, each row with its own request's data; a row that cannot be inserted (a duplicate
// signature) fails its own request only, and a request whose context ends while it waits
// gets its context's error.
//
// The writer is held on a first row while the others queue: a transaction inserts the
// signature "held" without committing, and a request outside it inserts "held" too, which
// waits (on SQLite for the write lock, on Postgres for the uncommitted unique key). Once
// all other requests wait behind it, the transaction commits: the held request then fails
// as a duplicate and the queued rows go in as a batch.
func testGroupCommit(t *testing.T, e *Env) {
	t.Run("AllNew", func(t *testing.T) { groupCommit(t, e, "gc-new-", false) })
	t.Run("DuplicateAndCancelled", func(t *testing.T) { groupCommit(t, e, "gc-dup-", true) })
}

// groupCommit runs n requests behind a held one; with bad, request 0 repeats a committed
// signature and request 1 gives up while it waits.
func groupCommit(t *testing.T, e *Env, prefix string, bad bool) {
	const n = 32 // requests besides the held one
	s, ctx := e.Store, e.Ctx
	sig := func(name string) string { return Sig(prefix + name) }
	noErr(t, "CreateAccessTokenSession(committed)", s.CreateAccessTokenSession(ctx, sig("committed"), e.NewRequest(t, prefix+"req-committed", nil)))

	// Each token has its own request ID and subject.
	duplicate, cancelled := -1, -1
	if bad {
		duplicate, cancelled = 0, 1
	}
	reqs := make([]*fosite.Request, n)
	sigs := make([]string, n)
	errs := make([]chan error, n)
	cancelCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range n {
		reqs[i], sigs[i], errs[i] = e.NewRequest(t, fmt.Sprint(prefix, "req-", i), nil), sig(fmt.Sprint(i)), make(chan error, 1)
	}
	if bad {
		sigs[duplicate] = sig("committed")
	}
	heldReq, txReq := e.NewRequest(t, prefix+"req-held", nil), e.NewRequest(t, prefix+"req-tx", nil)
	txCtx, err := s.BeginTX(ctx)
	noErr(t, "BeginTX", err)
	noErr(t, "CreateAccessTokenSession(tx)", s.CreateAccessTokenSession(txCtx, sig("held"), txReq))
	base := s.PoolStats()
	held := make(chan error, 1)
	go func() { held <- s.CreateAccessTokenSession(ctx, sig("held"), heldReq) }()
	// The held row is with the writer once its insert holds a second connection (file
	// SQLite, Postgres) or waits for the only one (in-memory SQLite).
	waitFor(t, "the held insert to block", func() bool {
		st := s.PoolStats()
		return st.InUse > base.InUse || st.WaitCount > base.WaitCount
	}, func() { _ = s.Rollback(txCtx) })

	for i := range n {
		rctx := ctx
		if i == cancelled {
			rctx = cancelCtx
		}
		go func() { errs[i] <- s.CreateAccessTokenSession(rctx, sigs[i], reqs[i]) }()
	}
	waitFor(t, fmt.Sprintf("%d requests queued behind the held row", n), func() bool { return s.InsertsWaiting() == n },
		func() { _ = s.Rollback(txCtx) })
	if bad {
		cancel()
		wantErr(t, "CreateAccessTokenSession with a context cancelled while waiting", <-errs[cancelled], context.Canceled)
	}
	noErr(t, "Commit", s.Commit(txCtx))

	wantErr(t, "held CreateAccessTokenSession of a signature committed meanwhile", <-held, gorm.ErrDuplicatedKey)
	for i := range n {
		if i == cancelled {
			continue // its row may or may not be committed: either is harmless
		}
		err := <-errs[i]
		if i == duplicate {
			wantErr(t, "CreateAccessTokenSession of a committed signature in a batch", err, gorm.ErrDuplicatedKey)
			if errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("duplicate signature reported as unavailable: %v", err)
			}
			continue
		}
		noErr(t, fmt.Sprintf("CreateAccessTokenSession %d in a batch with a duplicate", i), err)
		got, err := s.GetAccessTokenSession(ctx, sigs[i], &fosite.DefaultSession{})
		noErr(t, fmt.Sprintf("GetAccessTokenSession %d", i), err)
		if diff := accessTokenDiff(reqs[i], got); diff != "" {
			t.Errorf("token %d read back (-want +got):\n%s", i, diff)
		}
	}
	got, err := s.GetAccessTokenSession(ctx, sig("committed"), &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession(committed)", err)
	if got.GetID() != prefix+"req-committed" {
		t.Errorf("committed token's request = %q after a duplicate insert, want %s", got.GetID(), prefix+"req-committed")
	}
}

// waitFor polls cond until it holds; after 10 s it calls undo and fails t. It waits for a
// state, it does not time anything.
func waitFor(t *testing.T, what string, cond func() bool, undo func()) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			undo()
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
