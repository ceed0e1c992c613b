package storage

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Statement is one SQL statement the store ran, as OnStatement reports it.
type Statement struct {
	// Ctx is the context the statement ran with (a request's, for the endpoints).
	Ctx context.Context
	// Table is the table the statement was built for ("clients", "oauth_access_tokens"),
	// empty for raw SQL.
	Table string
	// SQL is the statement with placeholders, never the values.
	SQL string
}

// OnStatement calls fn after every statement the store runs (transaction control not
// included). It is for tests and diagnostics that count queries per request; register it
// before the store serves requests, as GORM's callback chain is not safe to change
// concurrently.
func (s *Store) OnStatement(fn func(Statement)) {
	observe := func(db *gorm.DB) {
		fn(Statement{Ctx: db.Statement.Context, Table: db.Statement.Table, SQL: db.Statement.SQL.String()})
	}
	name := fmt.Sprintf("conexor:observe:%d", s.observers.Add(1)) // GORM keeps one callback per name
	cb := s.db.Callback()
	_ = cb.Create().After("gorm:create").Register(name, observe)
	_ = cb.Query().After("gorm:query").Register(name, observe)
	_ = cb.Update().After("gorm:update").Register(name, observe)
	_ = cb.Delete().After("gorm:delete").Register(name, observe)
	_ = cb.Row().After("gorm:row").Register(name, observe)
	_ = cb.Raw().After("gorm:raw").Register(name, observe)
}
