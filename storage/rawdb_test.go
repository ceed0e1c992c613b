package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/storage/storagetest"
)

// checkOnlyHashesStored creates one token of every kind through s, then reads the token
// tables through raw, a second connection to the same database, and fails if any column of
// any row holds a raw signature: only storage.SignatureHash values may reach the disk.
func checkOnlyHashesStored(t *testing.T, s *storage.Store, raw *sql.DB) {
	t.Helper()
	ctx := context.Background()
	e := storagetest.NewEnv(t, s)
	req := e.NewRequest(t, "req-hashes", nil)
	sig := func(kind string) string { return "RAWSIG-" + kind + "-abcdefghijklmnopqrstuvwxyz0123456789" }

	steps := []struct {
		table, sig string
		create     func() error
	}{
		// Hex hashes are safe to inline in the SQL below.
		{"oauth_authorize_codes", sig("code"), func() error { return s.CreateAuthorizeCodeSession(ctx, sig("code"), req) }},
		{"oauth_access_tokens", sig("access"), func() error { return s.CreateAccessTokenSession(ctx, sig("access"), req) }},
		{"oauth_refresh_tokens", sig("refresh"), func() error { return s.CreateRefreshTokenSession(ctx, sig("refresh"), sig("access"), req) }},
		{"oauth_pkce_requests", sig("pkce"), func() error { return s.CreatePKCERequestSession(ctx, sig("pkce"), req) }},
	}
	for _, st := range steps {
		if err := st.create(); err != nil {
			t.Fatalf("create in %s: %v", st.table, err)
		}
	}
	// Revocation writes too; check its rows as well.
	if err := s.RevokeAccessToken(ctx, req.ID); err != nil {
		t.Fatalf("RevokeAccessToken: %v", err)
	}

	for _, st := range steps {
		var n int
		if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+st.table+" WHERE signature = '"+storage.SignatureHash(st.sig)+"'").Scan(&n); err != nil {
			t.Fatalf("count hashed rows in %s: %v", st.table, err)
		}
		if n != 1 {
			t.Fatalf("%s: %d rows keyed by the signature hash, want 1", st.table, n)
		}
		cells := dumpTable(t, raw, st.table)
		if cells == 0 {
			t.Fatalf("%s: read no cells", st.table)
		}
	}
	if _, err := s.GetAccessTokenSession(ctx, sig("access"), &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("revoked access token: err = %v, want fosite.ErrInactiveToken", err)
	}
}

// dumpTable scans every cell of table and fails t if one contains "RAWSIG". It returns how
// many cells it read.
func dumpTable(t *testing.T, raw *sql.DB, table string) int {
	t.Helper()
	rows, err := raw.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatalf("select from %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	cells := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for i, v := range vals {
			cells++
			var text string
			switch v := v.(type) {
			case []byte:
				text = string(v)
			default:
				text = fmt.Sprint(v)
			}
			if strings.Contains(text, "RAWSIG") {
				t.Errorf("%s.%s holds a raw token signature: %q", table, cols[i], text)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return cells
}
