package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/redistest"
	"github.com/conexor/conexor/internal/testenv"
)

// TestLoginLimitAcrossReplicas is issue 12's test of item 6: three replicas on one Postgres
// schema with one secret, behind a round-robin reverse proxy. Wrong passwords for one
// account through the proxy: the first 5 get 401, the 6th to 11th 429, whichever replica
// each hits (with per-process counters each replica would allow 5). Once counting in
// Postgres, once in Redis.
func TestLoginLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testLoginLimitAcrossReplicas(t, "")
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		redisURL, _ := redistest.URL(t)
		testLoginLimitAcrossReplicas(t, redisURL)
	})
}

// roundRobin forwards each request to the next backend and remembers which one served it.
type roundRobin struct {
	mu       sync.Mutex
	backends []*httputil.ReverseProxy
	next     int
	served   []int
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	i := p.next % len(p.backends)
	p.next++
	p.served = append(p.served, i)
	p.mu.Unlock()
	p.backends[i].ServeHTTP(w, r)
}

func (p *roundRobin) last() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[len(p.served)-1]
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func testLoginLimitAcrossReplicas(t *testing.T, redisURL string) {
	dsn := testenv.PostgresSchema(t)
	secret := testenv.NewSecret()
	rr := &roundRobin{}
	proxy := httptest.NewServer(rr)
	t.Cleanup(proxy.Close)
	for i := range 3 {
		e := testenv.New(t, testenv.Options{DatabaseURL: dsn, Secret: secret, Configure: func(c *config.Config) {
			c.Issuer = proxy.URL // the replicas' one public URL
			c.RedisURL = redisURL
		}})
		if i > 0 && e.Seeded != nil {
			t.Fatalf("replica %d seeded the shared database again", i+1)
		}
		u, _ := url.Parse(e.URL)
		rr.backends = append(rr.backends, httputil.NewSingleHostReverseProxy(u))
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(proxy.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /login: %d, csrf token found: %v", resp.StatusCode, m != nil)
	}
	form := url.Values{"csrf_token": {string(m[1])}, "email": {app.DemoAdminEmail}, "password": {"wrong"}}

	start := time.Now()
	throttledAt := map[int]bool{}
	for i := 1; i <= 11; i++ {
		resp, err := c.PostForm(proxy.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		replica := rr.last() + 1
		// The account earns a token back every 10 s: a slow machine may see one more 401.
		free := 5 + int(time.Since(start)/(10*time.Second))
		switch {
		case i <= 5 && resp.StatusCode != http.StatusUnauthorized:
			t.Fatalf("wrong password %d (replica %d): %d, want 401", i, replica, resp.StatusCode)
		case i > free && resp.StatusCode != http.StatusTooManyRequests:
			t.Fatalf("wrong password %d (replica %d): %d, want 429: the replicas do not share the limit", i, replica, resp.StatusCode)
		case resp.StatusCode == http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many failed attempts") {
				t.Fatalf("429 from replica %d without Retry-After or the throttled message", replica)
			}
			throttledAt[replica] = true
		}
	}
	if len(throttledAt) != 3 {
		t.Fatalf("throttled at replicas %v, want all three", throttledAt)
	}

	if redisURL != "" {
		// The buckets are in Redis, under the deployment's prefix, each with a TTL.
		opt, _ := redis.ParseURL(redisURL)
		rc := redis.NewClient(opt)
		defer rc.Close()
		keys, err := rc.Keys(context.Background(), fmt.Sprintf("conexor:limit:%s:*", proxy.URL)).Result()
		if err != nil || len(keys) < 2 {
			t.Fatalf("Redis keys under the deployment's prefix: %v, %v; want the account's and the address's", keys, err)
		}
		for _, k := range keys {
			if ttl := rc.PTTL(context.Background(), k).Val(); ttl <= 0 {
				t.Errorf("Redis key %s has no TTL (%s)", k, ttl)
			}
		}
	}
}
