package storage

import (
	"context"
	"testing"
	"time"
)

// TestBoundStatementReused: a query chain run twice, the second time after the first one's
// deadline would have passed, runs under a fresh deadline, not the first one's spent (or
// cancelled) context.
func TestBoundStatementReused(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://:memory:", WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	q := s.conn(ctx).Model(&Org{}).Where("slug <> ?", "")
	var n int64
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	var orgs []Org
	if err := q.Find(&orgs).Error; err != nil {
		t.Fatalf("second run of the chain: %v", err)
	}
	rows, err := q.Rows()
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	time.Sleep(200 * time.Millisecond)
	if err := q.Count(&n).Error; err != nil {
		t.Fatalf("run after Rows: %v", err)
	}
}
