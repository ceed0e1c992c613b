package floor_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/conexor/conexor/bench/floor"
	"github.com/conexor/conexor/storage"
)

// The floor issues a verifiable ES256 token, typed at+jwt, and one row, per request with the
// right secret, and refuses everything else as a token endpoint would.
func TestFloor(t *testing.T) {
	db, err := storage.OpenSQLiteDB(filepath.Join(t.TempDir(), "floor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := floor.New("client_x", "s3cret", db)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f)
	defer ts.Close()
	post := func(form url.Values) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(ts.URL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_x"}, "client_secret": {"s3cret"}}
	for range 2 {
		resp, body := post(good)
		tok, _ := body["access_token"].(string)
		if resp.StatusCode != http.StatusOK || tok == "" {
			t.Fatalf("good request: %d %v", resp.StatusCode, body)
		}
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify(f.PublicKey()); err != nil || jws.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
			t.Fatalf("token does not verify as an at+jwt: %v %v", err, jws.Signatures[0].Header.ExtraHeaders)
		}
	}
	var rows int
	if err := db.QueryRow(`SELECT COUNT(*) FROM floor_tokens`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("rows = %d, %v; want 2", rows, err)
	}
	for _, tc := range []struct {
		form url.Values
		want int
		code string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_x"}, "client_secret": {"wrong"}}, http.StatusUnauthorized, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"s3cret"}}, http.StatusUnauthorized, "invalid_client"},
		{url.Values{"grant_type": {"password"}, "client_id": {"client_x"}, "client_secret": {"s3cret"}}, http.StatusBadRequest, "unsupported_grant_type"},
	} {
		if resp, body := post(tc.form); resp.StatusCode != tc.want || body["error"] != tc.code {
			t.Errorf("%v: %d %v, want %d %s", tc.form, resp.StatusCode, body, tc.want, tc.code)
		}
	}
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}
