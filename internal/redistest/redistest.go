// Package redistest gives tests the Redis named by CONEXOR_TEST_REDIS_URL. Like pgtest it
// depends on nothing of Conexor's, so any package's tests can use it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URLEnv names the variable holding the Redis URL. .ci/run sets it.
const URLEnv = "CONEXOR_TEST_REDIS_URL"

// URL returns the test Redis's URL after checking that it answers, and a random key prefix
// for this test, whose keys are deleted when tb ends. Without the variable it skips tb,
// except in CI (CI=true), where every suite must run and a missing Redis is a failure.
func URL(tb testing.TB) (url, prefix string) {
	tb.Helper()
	url = os.Getenv(URLEnv)
	if url == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s is not set: .ci/run points it at the local Redis", URLEnv)
		}
		tb.Skipf("Redis variant skipped: set %s (e.g. %s=redis://127.0.0.1:6379/0)", URLEnv, URLEnv)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: %s: %v", URLEnv, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		tb.Fatalf("redistest: Redis at %s unreachable: %v", URLEnv, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix = "conexor-test-" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return url, prefix
}
