package storagetest

import (
	"testing"
	"time"

	"github.com/conexor/conexor/storage"
)

// testUnavailable: once the database is gone (here: the store closed, as at shutdown), every
// kind of method reports storage.ErrUnavailable, never a bare driver error a caller would
// mistake for a missing row or answer with a 500.
func testUnavailable(t *testing.T, e *Env) {
	s, ctx := e.Store, e.Ctx
	req := e.NewRequest(t, "req-down", nil)
	noErr(t, "Close", s.Close())

	checks := map[string]error{
		"Ping":       s.Ping(ctx),
		"BeginTX":    func() error { _, err := s.BeginTX(ctx); return err }(),
		"GetClient":  func() error { _, err := s.GetClient(ctx, e.Client.ID); return err }(),
		"ClientByID": func() error { _, err := s.ClientByID(ctx, e.Client.ID); return err }(),
		"GetAccessTokenSession": func() error {
			_, err := s.GetAccessTokenSession(ctx, Sig("down"), nil)
			return err
		}(),
		"CreateAccessTokenSession": s.CreateAccessTokenSession(ctx, Sig("down"), req),
		"RevokeRefreshToken":       s.RevokeRefreshToken(ctx, "req-down"),
		"DeleteAccessTokenSession": s.DeleteAccessTokenSession(ctx, Sig("down")),
		"OrgBySlug":                func() error { _, err := s.OrgBySlug(ctx, "acme"); return err }(),
		"ListServers":              func() error { _, err := s.ListServers(ctx); return err }(),
		"CountUsers":               func() error { _, err := s.CountUsers(ctx); return err }(),
		"SaveSession": s.SaveSession(ctx, &storage.HTTPSession{ID: "down", Data: []byte("x"),
			ExpiresAt: e.Clock.Now().Add(time.Hour)}),
		"PurgeExpired": func() error { _, err := s.PurgeExpired(ctx, e.Clock.Now()); return err }(),
		"RevokeClient": s.RevokeClient(ctx, e.Client.ID),
		"RecordTask": func() error {
			_, err := s.RecordTask(ctx, &storage.GatewayTask{ServerID: e.Server.ID, TaskID: "down", ClientID: "c",
				Subject: "s", Method: "tools/call", ExpiresAt: e.Clock.Now().Add(time.Hour)})
			return err
		}(),
		"GatewayTasks": func() error { _, err := s.GatewayTasks(ctx, e.Server.ID, []string{"down"}); return err }(),
		"PurgeTasks":   func() error { _, err := s.PurgeTasks(ctx, e.Clock.Now()); return err }(),
		"AccessTokenState": func() error {
			_, _, err := s.AccessTokenState(ctx, Sig("down"))
			return err
		}(),
	}
	for name, err := range checks {
		wantErr(t, name+" on a closed store", err, storage.ErrUnavailable)
	}
}
