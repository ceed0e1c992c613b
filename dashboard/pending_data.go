package dashboard

// This file stands in for what part DATA of issue 9 adds to storage and provider (see the
// work split): the lead deletes it at merge, passes the *storage.Store as Store, and turns
// the names below into the real ones (OrgRole = storage.OrgRole, ServerStats =
// storage.ServerStats, fieldErrors = the ByField of provider.SpecError and
// provider.ServerProblems, setHeaders = ServerChange.Headers, headerNames =
// Provider.UpstreamHeaderNames).

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/conexor/conexor/provider"
	"github.com/conexor/conexor/storage"
)

// OrgRole is an org and the user's role in it (storage.OrgRole).
type OrgRole struct {
	Org  storage.Org
	Role string
}

// ServerStats are a server's numbers on the dashboard (storage.ServerStats).
type ServerStats struct {
	Clients       int
	ActiveClients int
	TokensLast24h int
}

// PendingStore adds the contract's storage methods to a *storage.Store on top of the
// methods it has today.
type PendingStore struct{ *storage.Store }

// OrgsOfUser finds the orgs of the user among the orgs that have servers.
func (s PendingStore) OrgsOfUser(ctx context.Context, userID string) ([]OrgRole, error) {
	servers, err := s.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	var out []OrgRole
	seen := map[string]bool{}
	for _, srv := range servers {
		if seen[srv.OrgSlug] {
			continue
		}
		seen[srv.OrgSlug] = true
		org, err := s.OrgBySlug(ctx, srv.OrgSlug)
		if err != nil {
			return nil, err
		}
		m, err := s.Membership(ctx, org.ID, userID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, OrgRole{Org: *org, Role: m.Role})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Org.Slug < out[j].Org.Slug })
	return out, nil
}

// ServersOfOrg filters every server by org.
func (s PendingStore) ServersOfOrg(ctx context.Context, orgID string) ([]storage.Server, error) {
	all, err := s.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	var out []storage.Server
	for _, srv := range all {
		if srv.OrgID == orgID {
			out = append(out, srv)
		}
	}
	return out, nil
}

// ServerStats counts clients; tokens are not counted yet (zero).
func (s PendingStore) ServerStats(ctx context.Context, serverIDs []string, _ time.Time) (map[string]ServerStats, error) {
	out := make(map[string]ServerStats, len(serverIDs))
	for _, id := range serverIDs {
		clients, err := s.ListClients(ctx, id)
		if err != nil {
			return nil, err
		}
		st := ServerStats{Clients: len(clients)}
		for _, c := range clients {
			if !c.Revoked() {
				st.ActiveClients++
			}
		}
		out[id] = st
	}
	return out, nil
}

// ClientsLastUsed knows no last use yet.
func (s PendingStore) ClientsLastUsed(context.Context, []string) (map[string]time.Time, error) {
	return map[string]time.Time{}, nil
}

// fieldErrors sorts a validation error of the provider by form field; until ByField
// exists, all of it is a problem of the form as a whole ("").
func fieldErrors(err error) map[string][]string {
	var spec *provider.SpecError
	if errors.As(err, &spec) {
		return map[string][]string{"": spec.Problems}
	}
	var sp provider.ServerProblems
	if errors.As(err, &sp) {
		return map[string][]string{"": sp}
	}
	return map[string][]string{"": {err.Error()}}
}

// setHeaders puts the upstream headers an admin typed into a change (ServerChange.Headers):
// not stored yet.
func setHeaders(_ *provider.ServerChange, _ map[string]string) {}

// headerNames lists the names of a server's stored upstream headers: none yet.
func (h *Handler) headerNames(_ *storage.Server) []string { return nil }
