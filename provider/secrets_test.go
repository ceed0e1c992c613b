package provider_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// secretRE is a generated client secret: the prefix and at least 256 bits as RFC 3986
// unreserved characters (43 base64url characters carry 258 bits).
var secretRE = regexp.MustCompile(`^secret_[A-Za-z0-9._~-]{43,}$`)

var clientIDRE = regexp.MustCompile(`^client_[A-Za-z0-9._~-]{22,}$`)

// TestClientSecretStorage: a secret is shown once, well formed, and stored only as a keyed
// HMAC-SHA256 hash.
func TestClientSecretStorage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.New(t, testenv.Options{})
	srv := e.ServerByPath("acme/sales-api")
	a, secretA := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "A", Scopes: []string{"mcp:tools:read"}})
	b, secretB := e.CreateClient(provider.ClientSpec{ServerID: srv.ID, Name: "B", Scopes: []string{"mcp:tools:read"}})

	for _, c := range []struct {
		id, secret string
	}{{a.ID, secretA}, {b.ID, secretB}, {e.ClientID, e.ClientSecret}} {
		if !secretRE.MatchString(c.secret) {
			t.Errorf("secret %q does not look like secret_ + 43 or more unreserved characters", c.secret)
		}
		if !clientIDRE.MatchString(c.id) {
			t.Errorf("client ID %q does not look like client_<random>", c.id)
		}
		row, err := e.Store.ClientByID(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(row.SecretHash, "hmac-sha256$") || len(row.SecretHash) != len("hmac-sha256$")+64 {
			t.Errorf("secret_hash = %q, want hmac-sha256$ and 64 hex digits", row.SecretHash)
		}
		if row.SecretHash == c.secret || strings.Contains(row.SecretHash, strings.TrimPrefix(c.secret, "secret_")) {
			t.Errorf("secret_hash holds the secret itself")
		}
		if got := e.Provider.Hasher().HashString(c.secret); got != row.SecretHash {
			t.Errorf("the stored hash is not this server's HMAC of the secret")
		}
		// Keyed: the same secret under another system secret hashes differently.
		if other := provider.NewSecretHasher([]byte(testenv.NewSecret())).HashString(c.secret); other == row.SecretHash {
			t.Errorf("the hash does not depend on the system secret")
		}
	}
	if secretA == secretB || a.ID == b.ID {
		t.Errorf("two clients got the same ID or secret")
	}

	// Nowhere in the database files (main file and write-ahead log) is a secret in clear.
	dbPath, _ := strings.CutPrefix(e.Config.DatabaseURL, "sqlite://")
	files, _ := filepath.Glob(dbPath + "*")
	if len(files) == 0 {
		t.Fatalf("no database files at %s", dbPath)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{secretA, secretB, e.ClientSecret} {
			if bytes.Contains(raw, []byte(strings.TrimPrefix(s, "secret_"))) {
				t.Errorf("%s contains a client secret in clear", filepath.Base(f))
			}
		}
	}

	h := e.Provider.Hasher()
	hash := []byte(h.HashString(secretA))
	if err := h.Compare(ctx, hash, []byte(secretA)); err != nil {
		t.Errorf("Compare(right secret) = %v", err)
	}
	for _, wrong := range []string{secretB, secretA + "x", secretA[:len(secretA)-1], "", strings.ToUpper(secretA)} {
		if err := h.Compare(ctx, hash, []byte(wrong)); err == nil {
			t.Errorf("Compare(%.12q…) accepted a wrong secret", wrong)
		}
	}
	if err := h.Compare(ctx, []byte(secretA), []byte(secretA)); err == nil {
		t.Error("Compare accepted a plain-text 'hash'")
	}
}

// TestRotateSecret: after rotation the old secret is refused and the new one works, at
// once: the store's cached clients never expire here, so only invalidation can refuse it.
func TestRotateSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.New(t, testenv.Options{})
	storage.WithClientFreshness(time.Hour)(e.Store)
	id, old := e.CreateServerClient("acme/sales-api", "mcp:tools:read")
	e.Token(id, old)

	fresh, err := e.Provider.RotateSecret(ctx, id)
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	if fresh == old || !secretRE.MatchString(fresh) {
		t.Fatalf("new secret %q (old %q)", fresh, old)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	for _, basic := range []bool{false, true} {
		r := e.PostForm("/api/oauth/token", form, &testenv.Auth{ID: id, Secret: old, Basic: basic})
		if r.StatusCode != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
			t.Errorf("old secret (basic=%v): %d %s, want 401 invalid_client", basic, r.StatusCode, r.Body)
		}
		if r := e.PostForm("/api/oauth/token", form, &testenv.Auth{ID: id, Secret: fresh, Basic: basic}); r.StatusCode != http.StatusOK {
			t.Errorf("new secret (basic=%v): %d %s, want 200", basic, r.StatusCode, r.Body)
		}
	}

	if _, err := e.Provider.RotateSecret(ctx, e.PublicClientID); !errors.Is(err, provider.ErrInvalidClientSpec) {
		t.Errorf("RotateSecret(public client) = %v, want ErrInvalidClientSpec", err)
	}
	if _, err := e.Provider.RotateSecret(ctx, "client_nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateSecret(unknown) = %v, want storage.ErrNotFound", err)
	}
	// A revoked client gets no new secret.
	if err := e.Store.RevokeClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Provider.RotateSecret(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateSecret(revoked) = %v, want storage.ErrNotFound", err)
	}
	if r := e.PostForm("/api/oauth/token", form, &testenv.Auth{ID: id, Secret: fresh}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked client: %d %s, want 401", r.StatusCode, r.Body)
	}
}
