package storage

import (
	"context"

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
// included). It is for tests and diagnostics that count queries per request, and may be
// called while the store serves requests: GORM's callback chain is not safe to change
// concurrently, so the one callback that calls the observers is registered at Open and
// OnStatement only swaps the list it reads.
func (s *Store) OnStatement(fn func(Statement)) {
	s.observeMu.Lock()
	defer s.observeMu.Unlock()
	var fns []func(Statement)
	if old := s.observers.Load(); old != nil {
		fns = append(fns, *old...)
	}
	fns = append(fns, fn)
	s.observers.Store(&fns)
}

// observeStatements registers the callback OnStatement's functions hang off. Without
// observers it costs one atomic load per statement.
func (s *Store) observeStatements() {
	observe := func(db *gorm.DB) {
		fns := s.observers.Load()
		if fns == nil {
			return
		}
		st := Statement{Ctx: db.Statement.Context, Table: db.Statement.Table, SQL: db.Statement.SQL.String()}
		for _, fn := range *fns {
			fn(st)
		}
	}
	const name = "conexor:observe"
	cb := s.db.Callback()
	_ = cb.Create().After("gorm:create").Register(name, observe)
	_ = cb.Query().After("gorm:query").Register(name, observe)
	_ = cb.Update().After("gorm:update").Register(name, observe)
	_ = cb.Delete().After("gorm:delete").Register(name, observe)
	_ = cb.Row().After("gorm:row").Register(name, observe)
	_ = cb.Raw().After("gorm:raw").Register(name, observe)
}
