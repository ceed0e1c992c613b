package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
)

// Behind a trusted proxy, per-address limits count clients (X-Forwarded-For), not the proxy:
// 30 registrations from 30 clients through one proxy are all accepted, while the same 30
// from one client run into the registration limit (burst 20).
func TestTrustedProxiesReachHandlers(t *testing.T) {
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1", "::1"}
	}})
	register := func(xff string) int {
		body := `{"client_name":"x","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/oauth/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 30 {
		if code := register(fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusCreated {
			t.Fatalf("client %d through the proxy: status %d, want 201", i+1, code)
		}
	}
	limited := false
	for range 30 {
		if register("203.0.113.5") == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("one client registering 30 times through the proxy was never limited")
	}
}
