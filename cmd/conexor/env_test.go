package main

import (
	"testing"
	"time"
)

// Settings without a flag are read from the environment too, through the same table.
func TestEnvOnlySettings(t *testing.T) {
	cliEnv(t)
	t.Setenv("CONEXOR_KEY_PUBLISH_DELAY", "30s")
	t.Setenv("CONEXOR_API_PRIVATE_UPSTREAMS", "TRUE")
	t.Setenv("CONEXOR_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
	cmd := newRootCmd(nil, nil, nil)
	cfg, err := (&globals{}).loadConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyPublishDelay != 30*time.Second || !cfg.APIPrivateUpstreams || len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1] != "127.0.0.1" {
		t.Errorf("got key_publish_delay %s, api_private_upstreams %t, trusted_proxies %q", cfg.KeyPublishDelay, cfg.APIPrivateUpstreams, cfg.TrustedProxies)
	}
}

// A value that cannot be parsed stops every command that reads the configuration, naming
// the variable; all such values are reported at once, with the problems of the others.
func TestBadEnvironmentValues(t *testing.T) {
	cliEnv(t)
	t.Setenv("CONEXOR_API_PRIVATE_UPSTREAMS", "yes please")
	t.Setenv("CONEXOR_ACCESS_TOKEN_TTL", "an hour")
	t.Setenv("CONEXOR_TRUSTED_PROXIES", "10.0.0.0/8,,")
	t.Setenv("CONEXOR_LOG_LEVEL", "loud")
	want := "invalid configuration:\n" +
		`  - CONEXOR_ACCESS_TOKEN_TTL="an hour": want a duration such as 90s, 15m or 1h30m` + "\n" +
		`  - CONEXOR_API_PRIVATE_UPSTREAMS="yes please": want true or false` + "\n" +
		`  - CONEXOR_TRUSTED_PROXIES="10.0.0.0/8,,": want a comma-separated list with no empty entries` + "\n" +
		`  - log_level "loud" must be debug, info, warn or error`
	for _, args := range [][]string{{"servers", "list"}, {"serve", "--addr", "127.0.0.1:0"}, {"migrate"}} {
		if _, _, err := run(t, "", args...); err == nil || err.Error() != want {
			t.Errorf("conexor %v: err = %v, want\n%s", args, err, want)
		}
	}
}
