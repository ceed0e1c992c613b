package storage

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/pgtest"
)

// TestPostgresConnectionsRetireOneByOne: with pool_max_conn_lifetime in the URL, pooled
// connections are replaced once past their lifetime, and no query fails because of it.
func TestPostgresConnectionsRetireOneByOne(t *testing.T) {
	dsn := pgtest.Schema(t) + "&" + connLifetimeParam + "=200ms"
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	var (
		mu   sync.Mutex
		pids = map[int]bool{}
		wg   sync.WaitGroup
	)
	const workers = 4
	end := time.Now().Add(1500 * time.Millisecond)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				var pid int
				if err := s.db.WithContext(ctx).Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
					t.Errorf("query failed while connections were being retired: %v", err)
					return
				}
				mu.Lock()
				pids[pid] = true
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// 1.5 s of lifetimes between 150 and 200 ms: each of the (at most) four connections was
	// replaced several times.
	if len(pids) < 2*workers {
		t.Fatalf("%d server sessions served the queries; want at least %d, as connections are retired after 200ms", len(pids), 2*workers)
	}
}

// TestPostgresConnLifetimeParam: a bad pool_max_conn_lifetime is refused at start-up, naming it.
func TestPostgresConnLifetimeParam(t *testing.T) {
	_, err := postgresDialector("postgres://u@127.0.0.1/db?"+connLifetimeParam+"=soon", time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), connLifetimeParam) {
		t.Fatalf("postgresDialector(bad lifetime) = %v, want an error naming %s", err, connLifetimeParam)
	}
}

// TestJitteredLifetime: lifetimes fall between three quarters of the setting and the setting,
// and differ from one connection to the next.
func TestJitteredLifetime(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 100 {
		d := jitteredLifetime(DefaultConnLifetime)
		if d < DefaultConnLifetime*3/4 || d > DefaultConnLifetime {
			t.Fatalf("jitteredLifetime = %s, want between %s and %s", d, DefaultConnLifetime*3/4, DefaultConnLifetime)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("100 lifetimes took only %d values: not spread", len(seen))
	}
}
