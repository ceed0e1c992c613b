package storage

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/conexor/conexor/internal/pgtest"
)

// BenchmarkBatchInsert compares ways to write a batch of access-token rows in one
// transaction, per row (ns/op is per row):
//
//	go test -run '^$' -bench BatchInsert ./storage
//
// gorm-multirow is one GORM Create of the batch; gorm-each runs one GORM Create per row;
// sql-prepared, what the writer does, executes one statement prepared once per connection
// N times; sql-multirow is one multi-row INSERT through database/sql, without GORM.
func BenchmarkBatchInsert(b *testing.B) {
	dbs := []string{"sqlite"}
	if os.Getenv("CONEXOR_TEST_POSTGRES_DSN") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		for _, size := range []int{1, 8, 64} {
			for _, way := range []string{"gorm-multirow", "gorm-each", "sql-prepared", "sql-multirow"} {
				b.Run(fmt.Sprintf("%s/%d/%s", db, size, way), func(b *testing.B) {
					s := benchStore(b, db)
					benchBatches(b, s, size, way)
				})
			}
		}
	}
}

func benchStore(b *testing.B, db string) *Store {
	url := "sqlite://" + filepath.Join(b.TempDir(), "b.db")
	if db == "postgres" {
		url = pgtest.Schema(b)
	}
	s, err := Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchBatches(b *testing.B, s *Store, size int, way string) {
	ctx := context.Background()
	sqlDB, _ := s.db.DB()
	one := insertSQL(s.dialect, 1)
	stmt, err := sqlDB.Prepare(one)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	rows := make([]accessTokenRow, size)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += size {
		for i := range rows {
			rows[i] = benchRow(n)
			n++
		}
		var err error
		switch way {
		case "gorm-multirow":
			err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return tx.Create(&rows).Error })
		case "gorm-each":
			err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				for i := range rows {
					if err := tx.Create(&rows[i]).Error; err != nil {
						return err
					}
				}
				return nil
			})
		case "sql-prepared":
			err = inSQLTx(ctx, sqlDB, func(tx *sql.Tx) error { // what the writer does
				st := tx.StmtContext(ctx, stmt)
				for i := range rows {
					if _, err := st.ExecContext(ctx, rowArgs(&rows[i].Row)...); err != nil {
						return err
					}
				}
				return nil
			})
		case "sql-multirow":
			err = inSQLTx(ctx, sqlDB, func(tx *sql.Tx) error {
				args := make([]any, 0, size*16)
				for i := range rows {
					args = append(args, rowArgs(&rows[i].Row)...)
				}
				_, err := tx.ExecContext(ctx, insertSQL(s.dialect, size), args...)
				return err
			})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func inSQLTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func benchRow(i int) accessTokenRow {
	now := time.Now().UTC()
	return accessTokenRow{tokenRow{
		Signature: SignatureHash(fmt.Sprint("bench-", i, "-", now.UnixNano())), RequestID: fmt.Sprint("req-", i),
		RequestedAt: now, ClientID: "client-bench", Subject: "client-bench", Scopes: "mcp:tools:read mcp:tools:execute",
		GrantedScopes: "mcp:tools:read mcp:tools:execute", GrantedAudience: "https://auth.example/mcp/acme/demo",
		Form:    "grant_type=client_credentials&scope=mcp%3Atools%3Aread+mcp%3Atools%3Aexecute",
		Session: []byte(`{"subject":"client-bench","expires_at":{"access_token":"2026-12-01T10:00:00Z"},"extra":{}}`),
		Active:  true, ExpiresAt: now.Add(time.Hour),
	}}
}

// insertSQL is a multi-row INSERT of tokenRow, for the comparison only.
func insertSQL(dialect string, rows int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO oauth_access_tokens (signature, request_id, requested_at, client_id, subject, scopes, granted_scopes, requested_audience, granted_audience, form, session, active, expires_at, revoked_at, used_at, revoked_reason) VALUES `)
	p := 0
	for r := range rows {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for c := range 16 {
			if c > 0 {
				sb.WriteByte(',')
			}
			p++
			if dialect == "postgres" {
				fmt.Fprintf(&sb, "$%d", p)
			} else {
				sb.WriteByte('?')
			}
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// TestAccessTokenInsertColumns: the writer's hand-written INSERT names every column of
// tokenRow, as GORM would, so a new column cannot be silently left out.
func TestAccessTokenInsertColumns(t *testing.T) {
	s, err := Open(context.Background(), "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stmt := &gorm.Statement{DB: s.db}
	if err := stmt.Parse(&accessTokenRow{}); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(stmt.Schema.DBNames, ", ")
	cols, _, _ := strings.Cut(strings.TrimPrefix(accessTokenInsert, "INSERT INTO oauth_access_tokens ("), ")")
	if cols != want {
		t.Errorf("accessTokenInsert columns\n got %s\nwant %s", cols, want)
	}
	if n := len(rowArgs(&tokenRow{})); n != len(stmt.Schema.DBNames) || n != tokenColumns || strings.Count(accessTokenInsert, "?") != n {
		t.Errorf("rowArgs has %d values, accessTokenInsert %d placeholders, tokenRow %d columns", n, strings.Count(accessTokenInsert, "?"), len(stmt.Schema.DBNames))
	}
}
