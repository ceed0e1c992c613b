package main

import (
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// Settings without a flag are read from the environment too.
func TestEnvOnlySettings(t *testing.T) {
	t.Setenv("CONEXOR_KEY_PUBLISH_DELAY", "30s")
	t.Setenv("CONEXOR_API_PRIVATE_UPSTREAMS", "true")
	t.Setenv("CONEXOR_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
	cfg, err := (&globals{}).loadConfig(&cobra.Command{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyPublishDelay != 30*time.Second || !cfg.APIPrivateUpstreams || len(cfg.TrustedProxies) != 2 {
		t.Errorf("got key_publish_delay %s, api_private_upstreams %t, trusted_proxies %v", cfg.KeyPublishDelay, cfg.APIPrivateUpstreams, cfg.TrustedProxies)
	}
}
