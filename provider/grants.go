package provider

import (
	"context"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/storage"
)

// A grant is a remembered consent and the tokens issued under it: the user's tokens of
// that client whose audience is the server's resource URL. Storage finds those tokens by
// the URL, which only the provider can build (it knows the issuer); these entry points are
// what every front end uses to list and end grants, and they record the audit events.

// GrantsOfUser lists every app a user approved, on every server, with its last use.
func (p *Provider) GrantsOfUser(ctx context.Context, userID string) ([]storage.Grant, error) {
	return p.store.Grants(ctx, storage.GrantFilter{UserID: userID}, p.ResourceURL)
}

// GrantsOfServer lists the grants of every user for one server.
func (p *Provider) GrantsOfServer(ctx context.Context, serverID string) ([]storage.Grant, error) {
	return p.store.Grants(ctx, storage.GrantFilter{ServerID: serverID}, p.ResourceURL)
}

// RevokeGrant ends the grant of a user to a client on a server: the remembered consent is
// deleted, so the next authorization shows the consent page again, and every access and
// refresh token (and unused code) of that user and client for that server is revoked, in
// one transaction. storage.ErrNotFound when the user holds no such grant. The actor is the
// context's (audit.WithActor).
func (p *Provider) RevokeGrant(ctx context.Context, userID, clientID, serverID string) error {
	if userID == "" || clientID == "" || serverID == "" {
		return storage.ErrNotFound // an empty field of the filter below would select any grant
	}
	grants, err := p.store.Grants(ctx, storage.GrantFilter{UserID: userID, ClientID: clientID, ServerID: serverID}, p.ResourceURL)
	if err != nil {
		return err
	}
	if len(grants) == 0 {
		return storage.ErrNotFound
	}
	g := &grants[0]
	err = p.store.RevokeGrant(ctx, userID, clientID, serverID, p.ResourceURL(g.OrgSlug, g.ServerSlug))
	p.recordGrantRevoked(ctx, g, err)
	return err
}

// RevokeUserGrants ends every grant a user holds on the servers of an org: their
// remembered consents are deleted and every access and refresh token issued to them for
// those servers is revoked, whichever client holds it. It returns how many grants were
// ended. (Removing a member.)
func (p *Provider) RevokeUserGrants(ctx context.Context, userID, orgID string) (int, error) {
	servers, err := p.store.ServersOfOrg(ctx, orgID)
	if err != nil {
		return 0, err
	}
	grants, err := p.store.Grants(ctx, storage.GrantFilter{UserID: userID, OrgID: orgID}, p.ResourceURL)
	if err != nil {
		return 0, err
	}
	audiences := make(map[string]string, len(servers))
	for _, s := range servers {
		audiences[s.ID] = p.ResourceURL(s.OrgSlug, s.Slug)
	}
	n, err := p.store.RevokeUserGrants(ctx, userID, audiences)
	for i := range grants {
		p.recordGrantRevoked(ctx, &grants[i], err)
	}
	return n, err
}

func (p *Provider) recordGrantRevoked(ctx context.Context, g *storage.Grant, err error) {
	e := audit.Event{OrgID: g.OrgID, ServerPath: g.ServerPath(), Action: audit.ConsentRevoked,
		Target: g.ClientID, TargetName: g.ClientName, Detail: "grant of " + g.UserEmail + " (" + g.Scopes + ")"}
	if err != nil {
		e.Result = audit.Failed
	}
	p.audit.Record(ctx, e)
}
