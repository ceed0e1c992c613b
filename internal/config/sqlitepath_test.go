package config

import "testing"

// The secret file sits beside the database file, whatever options the URL carries.
func TestSQLitePathIgnoresOptions(t *testing.T) {
	for url, want := range map[string]string{
		"sqlite://data/c.db":                  "data/c.db",
		"sqlite://data/c.db?synchronous=full": "data/c.db",
		"sqlite://:memory:":                   "",
		"postgres://h/db":                     "",
	} {
		c := Config{DatabaseURL: url}
		if got := c.SQLitePath(); got != want {
			t.Errorf("SQLitePath(%q) = %q, want %q", url, got, want)
		}
	}
}

// trusted_proxies must be addresses or CIDR prefixes.
func TestValidateTrustedProxies(t *testing.T) {
	c := Defaults()
	c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid prefixes refused: %v", err)
	}
	c.TrustedProxies = []string{"10.0.0.0/99"}
	if err := c.Validate(); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}
