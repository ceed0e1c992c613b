package storagetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
)

// testTransactional: fosite's BeginTX/Commit/Rollback span every call made with the
// returned context, and calls inside see the transaction's own writes.
//
// Nothing here reads through the pool while a transaction is open: an in-memory SQLite
// store has exactly one connection, which the transaction holds.
func testTransactional(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	req := e.NewRequest(t, "req-tx", nil)

	// Rollback discards.
	txCtx, err := s.BeginTX(ctx)
	noErr(t, "BeginTX", err)
	if _, err := s.BeginTX(txCtx); err == nil {
		t.Fatal("BeginTX inside a transaction succeeded; want an error")
	}
	noErr(t, "CreateAccessTokenSession(tx)", s.CreateAccessTokenSession(txCtx, Sig("tx-rollback"), req))
	got, err := s.GetAccessTokenSession(txCtx, Sig("tx-rollback"), &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession inside tx", err)
	if diff := accessTokenDiff(req, got); diff != "" {
		t.Fatalf("read inside tx (-want +got):\n%s", diff)
	}
	_, err = s.GetClient(txCtx, e.Client.ID)
	noErr(t, "GetClient inside tx", err)
	noErr(t, "Rollback", s.Rollback(txCtx))
	_, err = s.GetAccessTokenSession(ctx, Sig("tx-rollback"), &fosite.DefaultSession{})
	wantErr(t, "GetAccessTokenSession after rollback", err, fosite.ErrNotFound)

	// Commit keeps.
	txCtx, err = s.BeginTX(ctx)
	noErr(t, "BeginTX", err)
	noErr(t, "CreateAccessTokenSession(tx)", s.CreateAccessTokenSession(txCtx, Sig("tx-commit"), req))
	noErr(t, "CreateRefreshTokenSession(tx)", s.CreateRefreshTokenSession(txCtx, Sig("tx-commit-rt"), Sig("tx-commit"), req))
	noErr(t, "Commit", s.Commit(txCtx))
	_, err = s.GetAccessTokenSession(ctx, Sig("tx-commit"), &fosite.DefaultSession{})
	noErr(t, "GetAccessTokenSession after commit", err)
	_, err = s.GetRefreshTokenSession(ctx, Sig("tx-commit-rt"), &fosite.DefaultSession{})
	noErr(t, "GetRefreshTokenSession after commit", err)

	// A failed statement inside a transaction can still be rolled back (fosite always does).
	txCtx, err = s.BeginTX(ctx)
	noErr(t, "BeginTX", err)
	if err := s.CreateAccessTokenSession(txCtx, Sig("tx-commit"), req); err == nil {
		t.Fatal("CreateAccessTokenSession with a duplicate signature succeeded")
	}
	noErr(t, "Rollback after failed statement", s.Rollback(txCtx))

	// Commit and Rollback need a transaction.
	if err := s.Commit(ctx); err == nil {
		t.Fatal("Commit without a transaction succeeded")
	}
	if err := s.Rollback(ctx); err == nil {
		t.Fatal("Rollback without a transaction succeeded")
	}
}

// race runs n copies of step at once, each in its own transaction as fosite's token
// endpoint does, committing on success and rolling back on error, and returns each result.
func race(t *testing.T, e *Env, n int, step func(ctx context.Context, i int) error) []error {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			txCtx, err := e.Store.BeginTX(e.Ctx)
			if err != nil {
				errs[i] = fmt.Errorf("BeginTX: %w", err)
				return
			}
			if err := step(txCtx, i); err != nil {
				if rbErr := e.Store.Rollback(txCtx); rbErr != nil {
					err = fmt.Errorf("%w (and Rollback: %v)", err, rbErr)
				}
				errs[i] = err
				return
			}
			errs[i] = e.Store.Commit(txCtx)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOneWinner fails t unless exactly one result is nil and every other is
// fosite.ErrSerializationFailure. It returns the winner's index.
func checkOneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("%s: goroutines %d and %d both succeeded", what, winner, i)
			}
			winner = i
		case isBusy(err):
			t.Fatalf("%s: goroutine %d: database busy instead of a serialization failure: %v", what, i, err)
		case !errors.Is(err, fosite.ErrSerializationFailure):
			t.Fatalf("%s: goroutine %d: got %v, want fosite.ErrSerializationFailure", what, i, errString(err))
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no goroutine succeeded", what)
	}
	return winner
}

// isBusy recognises SQLite's lock errors, which must never escape the store.
func isBusy(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "sqlite_busy") ||
		strings.Contains(msg, "database table is locked")
}

// testConcurrentCodeRedemption: of n concurrent redemptions of one code, exactly one issues
// a token; the others lose with ErrSerializationFailure and leave nothing behind.
func testConcurrentCodeRedemption(t *testing.T, e *Env) {
	for _, n := range []int{2, 16, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := e.Store
			req := e.NewRequest(t, fmt.Sprintf("req-race-code-%d", n), nil)
			code := Sig(fmt.Sprintf("race-code-%d", n))
			at := func(i int) string { return Sig(fmt.Sprintf("race-code-%d-at-%d", n, i)) }
			noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(e.Ctx, code, req))

			errs := race(t, e, n, func(ctx context.Context, i int) error {
				if err := s.InvalidateAuthorizeCodeSession(ctx, code); err != nil {
					return err
				}
				return s.CreateAccessTokenSession(ctx, at(i), req)
			})
			winner := checkOneWinner(t, "InvalidateAuthorizeCodeSession race", errs)

			for i := range n {
				_, err := s.GetAccessTokenSession(e.Ctx, at(i), &fosite.DefaultSession{})
				if i == winner {
					noErr(t, "winner's access token", err)
				} else {
					wantErr(t, fmt.Sprintf("loser %d's access token", i), err, fosite.ErrNotFound)
				}
			}
			_, err := s.GetAuthorizeCodeSession(e.Ctx, code, &fosite.DefaultSession{})
			wantErr(t, "GetAuthorizeCodeSession after race", err, fosite.ErrInvalidatedAuthorizeCode)
		})
	}
}

// testConcurrentRefreshRotation: of n concurrent refreshes with one refresh token, exactly one
// rotates it and issues new tokens; the others lose with ErrSerializationFailure.
func testConcurrentRefreshRotation(t *testing.T, e *Env) {
	for _, n := range []int{2, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := e.Store
			req := e.NewRequest(t, fmt.Sprintf("req-race-refresh-%d", n), nil)
			rt := Sig(fmt.Sprintf("race-rt-%d", n))
			newAT := func(i int) string { return Sig(fmt.Sprintf("race-rt-%d-at-%d", n, i)) }
			newRT := func(i int) string { return Sig(fmt.Sprintf("race-rt-%d-rt-%d", n, i)) }
			noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(e.Ctx, rt, "", req))

			errs := race(t, e, n, func(ctx context.Context, i int) error {
				if err := s.RotateRefreshToken(ctx, req.ID, rt); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(ctx, newAT(i), req); err != nil {
					return err
				}
				return s.CreateRefreshTokenSession(ctx, newRT(i), newAT(i), req)
			})
			winner := checkOneWinner(t, "RotateRefreshToken race", errs)

			for i := range n {
				_, err := s.GetRefreshTokenSession(e.Ctx, newRT(i), &fosite.DefaultSession{})
				if i == winner {
					noErr(t, "winner's refresh token", err)
				} else {
					wantErr(t, fmt.Sprintf("loser %d's refresh token", i), err, fosite.ErrNotFound)
				}
			}
			_, err := s.GetRefreshTokenSession(e.Ctx, rt, &fosite.DefaultSession{})
			wantErr(t, "GetRefreshTokenSession(rotated) after race", err, fosite.ErrInactiveToken)
		})
	}
}

// testConcurrentCreateBurst: many concurrent writers outside transactions all succeed (on
// SQLite, the busy timeout queues them instead of failing with "database is locked").
func testConcurrentCreateBurst(t *testing.T, e *Env) {
	const workers, total = 32, 200
	s := e.Store
	req := e.NewRequest(t, "req-burst", nil)
	jobs := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := s.CreateAccessTokenSession(e.Ctx, Sig(fmt.Sprint("burst-", i)), req); err != nil {
					errs <- fmt.Errorf("token %d: %w", i, err)
				}
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("CreateAccessTokenSession under load: %v", err)
	}
	if t.Failed() {
		return
	}
	for i := range total {
		if _, err := s.GetAccessTokenSession(e.Ctx, Sig(fmt.Sprint("burst-", i)), &fosite.DefaultSession{}); err != nil {
			t.Fatalf("token %d missing after burst: %v", i, errString(err))
		}
	}
}

// testConcurrentReadWriteTx: transactions that read before they write (load the client, then
// store a token) all succeed side by side. On SQLite this needs the write lock taken at BEGIN;
// a deferred transaction would fail its upgrade with "database is locked".
func testConcurrentReadWriteTx(t *testing.T, e *Env) {
	const n = 16
	s := e.Store
	req := e.NewRequest(t, "req-rw", nil)
	errs := race(t, e, n, func(ctx context.Context, i int) error {
		if _, err := s.GetClient(ctx, e.Client.ID); err != nil {
			return err
		}
		if _, err := s.GetAccessTokenSession(ctx, Sig("rw-missing"), &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
			return fmt.Errorf("GetAccessTokenSession(missing) = %v, want ErrNotFound", err)
		}
		return s.CreateAccessTokenSession(ctx, Sig(fmt.Sprint("rw-", i)), req)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, errString(err))
		}
	}
}

// testRevokeRacesRefresh: a grant or a client revoked while its refresh tokens are being
// rotated, each rotation in a transaction as fosite's refresh does it (RotateRefreshToken,
// then a new access and refresh token of the same request), leaves no token of the grant
// active: every refresh either committed before the revocation saw its tokens, or fails.
// On Postgres a revocation under READ COMMITTED misses the tokens of a refresh that commits
// while it waits on the rotated row.
func testRevokeRacesRefresh(t *testing.T, e *Env) {
	const rounds, chains, maxSteps = 24, 3, 1000
	s, ctx := e.Store, e.Ctx
	user, err := s.CreateUser(ctx, "racer@example.com", "hash")
	noErr(t, "CreateUser", err)
	for round := range rounds {
		byClient := round%2 == 1
		c := e.NewClient(t, fmt.Sprintf("client-revoke-race-%d", round))
		fc, err := s.GetClient(ctx, c.ID)
		noErr(t, "GetClient", err)
		noErr(t, "SaveConsent", s.SaveConsent(ctx, &storage.Consent{UserID: user.ID, ClientID: c.ID, ServerID: e.Server.ID, Scopes: "mcp"}))
		sig := func(k, i int, kind string) string { return Sig(fmt.Sprintf("rr-%d-%d-%d-%s", round, k, i, kind)) }

		var (
			mu        sync.Mutex
			issued    [][2]string // access and refresh signatures that committed
			commits   atomic.Int64
			wg        sync.WaitGroup
			chainErrs = make([]error, chains)
			steps     = make([]int, chains)
		)
		for k := range chains {
			req := e.NewRequest(t, fmt.Sprintf("req-rr-%d-%d", round, k), fc)
			req.Session.(*fosite.DefaultSession).Subject = user.ID
			noErr(t, "CreateAccessTokenSession", s.CreateAccessTokenSession(ctx, sig(k, 0, "at"), req))
			noErr(t, "CreateRefreshTokenSession", s.CreateRefreshTokenSession(ctx, sig(k, 0, "rt"), sig(k, 0, "at"), req))
			mu.Lock()
			issued = append(issued, [2]string{sig(k, 0, "at"), sig(k, 0, "rt")})
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= maxSteps; i++ {
					steps[k] = i
					err := refreshOnce(ctx, s, req, sig(k, i-1, "rt"), sig(k, i, "at"), sig(k, i, "rt"))
					if err != nil {
						chainErrs[k] = err
						return
					}
					mu.Lock()
					issued = append(issued, [2]string{sig(k, i, "at"), sig(k, i, "rt")})
					mu.Unlock()
					commits.Add(1)
					// A client's next refresh comes a round trip later; without the pause,
					// SQLite's busy handler could leave the revocation waiting for long.
					time.Sleep(100 * time.Microsecond)
				}
			}()
		}
		// Revoke once a few refreshes went through, while the chains go on.
		for commits.Load() < int64(1+round%4) {
			runtime.Gosched()
		}
		if byClient {
			err = s.RevokeClient(ctx, c.ID)
		} else {
			err = s.RevokeGrant(ctx, user.ID, c.ID, e.Server.ID, e.Audience())
		}
		wg.Wait()
		what := fmt.Sprintf("round %d (revoke client %v)", round, byClient)
		noErr(t, what+": revoke", err)
		for k, err := range chainErrs {
			switch {
			case err == nil:
				t.Fatalf("%s: chain %d refreshed %d times after the revocation", what, k, steps[k])
			case errors.Is(err, fosite.ErrSerializationFailure), errors.Is(err, fosite.ErrInactiveToken):
			default:
				t.Fatalf("%s: chain %d failed with %v, want an inactive token or a lost race", what, k, errString(err))
			}
		}
		for _, p := range issued {
			known, active, err := s.AccessTokenState(ctx, p[0])
			noErr(t, "AccessTokenState", err)
			if !known || active {
				t.Fatalf("%s: access token %s known %v, active %v after the revocation; want known and inactive", what, p[0], known, active)
			}
			_, err = s.GetRefreshTokenSession(ctx, p[1], &fosite.DefaultSession{})
			if !errors.Is(err, fosite.ErrInactiveToken) {
				t.Fatalf("%s: refresh token %s after the revocation: %v, want fosite.ErrInactiveToken", what, p[1], errString(err))
			}
		}
	}
}

// refreshOnce does what fosite's refresh does with the store, in one transaction: read the
// presented refresh token, use it up, store the new access and refresh tokens.
func refreshOnce(ctx context.Context, s *storage.Store, req fosite.Requester, old, at, rt string) error {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	err = func() error {
		if _, err := s.GetRefreshTokenSession(txCtx, old, &fosite.DefaultSession{}); err != nil {
			return err
		}
		if err := s.RotateRefreshToken(txCtx, req.GetID(), old); err != nil {
			return err
		}
		if err := s.CreateAccessTokenSession(txCtx, at, req); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(txCtx, rt, at, req)
	}()
	if err != nil {
		_ = s.Rollback(txCtx)
		return err
	}
	return s.Commit(txCtx)
}

// testConcurrentCodeExchange: n concurrent exchanges of one code in the order of fosite's
// token endpoint: read the code (outside a transaction), then in one transaction read it
// again, invalidate it and store the access token. Exactly one succeeds; every other loser
// fails with one of the two errors fosite's caller can recognise as a replay, the used code
// (with its request, so what it issued can be revoked) or a serialization failure, never
// with "database is locked" or another error (issue 12, item 2).
func testConcurrentCodeExchange(t *testing.T, e *Env) {
	for _, n := range []int{16, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := e.Store
			req := e.NewRequest(t, fmt.Sprintf("req-exchange-%d", n), nil)
			code := Sig(fmt.Sprintf("exchange-code-%d", n))
			at := func(i int) string { return Sig(fmt.Sprintf("exchange-code-%d-at-%d", n, i)) }
			noErr(t, "CreateAuthorizeCodeSession", s.CreateAuthorizeCodeSession(e.Ctx, code, req))

			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					got, err := s.GetAuthorizeCodeSession(e.Ctx, code, &fosite.DefaultSession{})
					if err != nil {
						if got == nil || got.GetID() != req.ID {
							err = fmt.Errorf("%w (without the code's request)", err)
						}
						errs[i] = err
						return
					}
					errs[i] = s.InTx(e.Ctx, func(ctx context.Context) error {
						if _, err := s.GetAuthorizeCodeSession(ctx, code, &fosite.DefaultSession{}); err != nil {
							return err
						}
						if err := s.InvalidateAuthorizeCodeSession(ctx, code); err != nil {
							return err
						}
						return s.CreateAccessTokenSession(ctx, at(i), req)
					})
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for i, err := range errs {
				switch {
				case err == nil:
					winners++
				case isBusy(err):
					t.Errorf("exchange %d: database busy: %v", i, err)
				case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) && !strings.Contains(err.Error(), "without the code's request"),
					errors.Is(err, fosite.ErrSerializationFailure):
				default:
					t.Errorf("exchange %d: %v, want fosite.ErrInvalidatedAuthorizeCode with the request or fosite.ErrSerializationFailure", i, errString(err))
				}
			}
			if winners != 1 {
				t.Fatalf("%d of %d exchanges of one code succeeded, want exactly 1", winners, n)
			}
			var tokens int
			for i := range n {
				if _, err := s.GetAccessTokenSession(e.Ctx, at(i), &fosite.DefaultSession{}); err == nil {
					tokens++
				}
			}
			if tokens != 1 {
				t.Errorf("%d access tokens stored, want the winner's only", tokens)
			}
		})
	}
}

// testSchemaCurrent: a migrated store passes CheckSchema, and migrating it again finds
// nothing missing, also from several goroutines at once (the startup lock nests per call).
func testSchemaCurrent(t *testing.T, e *Env) {
	noErr(t, "CheckSchema", e.Store.CheckSchema(e.Ctx))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	changes := make([][]string, 4)
	for i := range errs {
		wg.Go(func() { changes[i], errs[i] = e.Store.MigrateChanges(e.Ctx) })
	}
	wg.Wait()
	for i := range errs {
		noErr(t, "MigrateChanges", errs[i])
		if len(changes[i]) > 0 {
			t.Errorf("MigrateChanges on a migrated store reports %v missing", changes[i])
		}
	}
}
