package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/app"
	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	sort.Strings(out)
	return out
}

// TestKeysSurviveRestart restarts the App on the same database and secret: the JWKS is
// unchanged, the old token still verifies with it and is still active.
func TestKeysSurviveRestart(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testKeysSurviveRestart)
}

func testKeysSurviveRestart(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	tok := e.Token(e.ClientID, e.ClientSecret)
	before := e.JWKS()
	if len(before.Keys) != 1 {
		t.Fatalf("JWKS has %d keys before restart, want 1", len(before.Keys))
	}
	oldKID := before.Keys[0].KeyID

	e.Restart()

	after := e.JWKS()
	if diff := cmp.Diff(kids(before), kids(after)); diff != "" {
		t.Fatalf("JWKS kids changed across a restart (-before +after):\n%s", diff)
	}
	if got := e.Provider.Keys().CurrentKID(); got != oldKID {
		t.Errorf("current kid after restart = %q, want %q", got, oldKID)
	}
	if _, err := testenv.VerifyWithJWKS(tok, after); err != nil {
		t.Errorf("old token with the new JWKS: %v", err)
	}
	if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != true {
		t.Errorf("old token after restart: active = %v, want true", got)
	}
	if kid := e.VerifyJWT(e.Token(e.ClientID, e.ClientSecret)).Header.KeyID; kid != oldKID {
		t.Errorf("new token after restart signed with %q, want the same key %q", kid, oldKID)
	}

	// The keys are sealed with the system secret: another secret cannot start on this
	// database, and says why.
	cfg := e.Config
	cfg.Secret = testenv.NewSecret()
	a, err := app.New(context.Background(), cfg, nil, app.Options{})
	if err == nil {
		a.Close()
		t.Fatal("app.New with another secret succeeded on a database whose keys it cannot unseal")
	}
	if !strings.Contains(err.Error(), "CONEXOR_SECRET") {
		t.Errorf("error %q does not point at CONEXOR_SECRET", err)
	}
}

// TestKeyRotation: after a rotation new tokens use the new kid, and old tokens still verify
// with the published JWKS and introspect active.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testKeyRotation)
}

func testKeyRotation(t *testing.T, opts testenv.Options) {
	ctx := context.Background()
	e := testenv.New(t, opts)
	old := e.Token(e.ClientID, e.ClientSecret)
	oldKID := e.VerifyJWT(old).Header.KeyID

	newKID, err := e.Provider.Keys().Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if newKID == oldKID || newKID == "" {
		t.Fatalf("Rotate returned kid %q (old %q)", newKID, oldKID)
	}
	if got := e.Provider.Keys().CurrentKID(); got != newKID {
		t.Errorf("CurrentKID = %q, want %q", got, newKID)
	}

	set := e.JWKS()
	if diff := cmp.Diff(kids(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: oldKID}, {KeyID: newKID}}}), kids(set)); diff != "" {
		t.Errorf("JWKS kids after rotation (-want +got):\n%s", diff)
	}
	if _, err := testenv.VerifyWithJWKS(old, set); err != nil {
		t.Errorf("old token with the JWKS after rotation: %v", err)
	}
	if got := e.Introspect(e.ClientID, e.ClientSecret, old)["active"]; got != true {
		t.Errorf("old token after rotation: active = %v, want true", got)
	}

	fresh := e.Token(e.ClientID, e.ClientSecret)
	if kid := e.VerifyJWT(fresh).Header.KeyID; kid != newKID {
		t.Errorf("new token kid = %q, want the new key %q", kid, newKID)
	}
	if got := e.Introspect(e.ClientID, e.ClientSecret, fresh)["active"]; got != true {
		t.Errorf("new token: active = %v, want true", got)
	}

	// After a restart both keys are still there, the new one current.
	e.Restart()
	if got := e.Provider.Keys().CurrentKID(); got != newKID {
		t.Errorf("CurrentKID after restart = %q, want %q", got, newKID)
	}
	if diff := cmp.Diff(kids(set), kids(e.JWKS())); diff != "" {
		t.Errorf("JWKS after rotation and restart (-want +got):\n%s", diff)
	}
}

// TestKeyRotationByAnotherReplica: a key added by another process sharing the database (a
// second replica, or `conexor keys rotate`) is picked up when a token names it.
func TestKeyRotationByAnotherReplica(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Time{})
	e := testenv.New(t, testenv.Options{Now: clock.Now})
	replica := testenv.New(t, testenv.Options{
		DatabaseURL: e.Config.DatabaseURL, Secret: e.Config.Secret,
		Configure: func(c *config.Config) { c.Issuer = e.URL }, // one public URL in front of both
	})
	newKID, err := replica.Provider.Keys().Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok := replica.Token(e.ClientID, e.ClientSecret)
	if kid := replica.VerifyJWT(tok).Header.KeyID; kid != newKID {
		t.Fatalf("replica signed with %q, want %q", kid, newKID)
	}
	// Reloads on an unknown kid are rate-limited to one a second. The replica stamped its key
	// with the real time, which under load may be seconds past this instance's frozen clock:
	// move the clock past both.
	clock.Set(time.Now().Add(2 * time.Second))
	if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != true {
		t.Errorf("token signed by the replica's new key: active = %v, want true", got)
	}
	if set := e.JWKS(); len(set.Key(newKID)) != 1 {
		t.Errorf("the replica's new key %s is not in this instance's JWKS after reload", newKID)
	}
	if got := e.Provider.Keys().CurrentKID(); got != newKID {
		t.Errorf("CurrentKID after reload = %q, want the replica's new key %q", got, newKID)
	}
}

// TestSigningAlgorithms issues a token with each supported algorithm. Public keys are
// published; HS256 keys are secret and never appear in the JWKS.
func TestSigningAlgorithms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		alg, kty string
	}{
		{provider.AlgES256, "EC"},
		{provider.AlgRS256, "RSA"},
		{provider.AlgHS256, ""},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, testenv.Options{SigningAlg: tc.alg})
			tok := e.Token(e.ClientID, e.ClientSecret)
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.HS256})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.Algorithm != tc.alg || h.KeyID != e.Provider.Keys().CurrentKID() {
				t.Errorf("header alg %q kid %q, want %s and the current kid", h.Algorithm, h.KeyID, tc.alg)
			}
			if got := e.Introspect(e.ClientID, e.ClientSecret, tok)["active"]; got != true {
				t.Errorf("introspection: active = %v, want true", got)
			}
			if _, err := e.Provider.VerifyAccessToken(context.Background(), tok); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}

			r := e.Get("/.well-known/jwks.json")
			var raw struct{ Keys []map[string]any }
			if err := json.Unmarshal(r.Body, &raw); err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("JWKS: %d %s", r.StatusCode, r.Body)
			}
			for _, k := range raw.Keys {
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS key %v publishes private member %q", k["kid"], private)
					}
				}
			}
			if tc.alg == provider.AlgHS256 {
				if len(raw.Keys) != 0 {
					t.Errorf("JWKS with HS256 = %s, want no keys", r.Body)
				}
				if _, err := testenv.VerifyWithJWKS(tok, e.JWKS()); err == nil {
					t.Error("an HS256 token verified with the public JWKS")
				}
				return
			}
			if len(raw.Keys) != 1 || raw.Keys[0]["kty"] != tc.kty || raw.Keys[0]["alg"] != tc.alg || raw.Keys[0]["use"] != "sig" {
				t.Errorf("JWKS = %s, want one %s key for %s", r.Body, tc.kty, tc.alg)
			}
			if got := e.VerifyJWT(tok); got.Typ != "at+jwt" {
				t.Errorf("typ = %q", got.Typ)
			}
		})
	}
}

// countingKeys counts how often the keyring reads the keys table.
type countingKeys struct {
	provider.KeyStore
	reads atomic.Int64
}

func (c *countingKeys) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	c.reads.Add(1)
	time.Sleep(20 * time.Millisecond) // a database round trip, during which more tokens arrive
	return c.KeyStore.SigningKeys(ctx)
}

// TestUnknownKIDReloadsOnce: a token naming an unknown kid makes the keyring re-read the keys
// (another replica may have rotated), at most once a second. Anyone can send such tokens to
// any MCP endpoint, all at once: the bound must hold for concurrent requests too, or each of
// them is one more database query.
func TestUnknownKIDReloadsOnce(t *testing.T) {
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	keys := &countingKeys{KeyStore: st}
	now := time.Unix(1_700_000_000, 0)
	kr, err := provider.NewKeyring(keys, provider.AlgES256, secret.DeriveKey([]byte(testenv.NewSecret()), secret.PurposeSigningKeys), time.Hour, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Init(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // the last reload is long past
	before := keys.reads.Load()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"nope` + strconv.Itoa(i) + `"}`))
			tok := hdr + ".e30." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
			if _, err := kr.Verify(ctx, tok); !errors.Is(err, provider.ErrUnknownKey) {
				t.Errorf("unknown kid: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := keys.reads.Load() - before; n != 1 {
		t.Errorf("50 concurrent tokens with unknown kids read the keys %d times, want 1", n)
	}
}

// TestVerifyCompactOnly: access tokens are compact JWS (RFC 9068). The same signature in
// JWS JSON serialization, which can carry unprotected headers and whose "third segment" is
// not its signature, is not an access token.
func TestVerifyCompactOnly(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.Token(e.ClientID, e.ClientSecret)
	if _, err := e.Provider.VerifyAccessToken(context.Background(), tok); err != nil {
		t.Fatalf("compact token: %v", err)
	}
	parts := strings.Split(tok, ".")
	asJSON := `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `","header":{"x":"a.b"}}`
	if _, err := e.Provider.VerifyAccessToken(context.Background(), asJSON); err == nil {
		t.Error("a JWS in JSON serialization verified as an access token")
	}
}
