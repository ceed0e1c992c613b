package provider

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// clientEvent records action on c as the context's actor (the dashboard's user, the CLI's
// operator, a token's client), placed in the org and at the server c belongs to.
func (p *Provider) clientEvent(ctx context.Context, action string, c *storage.Client, detail string) {
	if p.audit == nil {
		return
	}
	e := audit.Event{Action: action, Target: c.ID, TargetName: c.Name, Detail: detail}
	if c.ServerID != nil {
		// The client was just read or written: the server it is bound to exists. A failed
		// lookup only leaves the event without a place.
		if srv, err := p.store.ServerByID(ctx, *c.ServerID); err == nil {
			e.OrgID, e.ServerPath = srv.OrgID, srv.Path()
		}
	}
	p.audit.Record(ctx, e)
}

// changedClientFields names what an update changed, for the event's Detail: "name, scopes".
func changedClientFields(before, after *storage.Client) string {
	var f []string
	if before.Name != after.Name {
		f = append(f, "name")
	}
	if before.Scopes != after.Scopes {
		f = append(f, "scopes")
	}
	if before.RedirectURIsJSON != after.RedirectURIsJSON {
		f = append(f, "redirect URIs")
	}
	if len(f) == 0 {
		return "nothing changed"
	}
	return "changed " + strings.Join(f, ", ")
}

// countToken counts an issued access token for the server its audience names.
func (p *Provider) countToken(ar fosite.AccessRequester) {
	if p.audit == nil {
		return
	}
	for _, aud := range ar.GetGrantedAudience() {
		if path, ok := urls.ServerPathOfResource(p.cfg.Issuer, aud); ok {
			p.audit.CountToken(path, ar.GetClient().GetID())
			return
		}
	}
}

// The hint fosite gives a replayed code, after revoking what it issued. (A reused refresh
// token's is hintRefreshReuse, grant_refresh.go's.)
const (
	hintCodeReplay = "The authorization code has already been used."
)

// recordReplay records a refresh token presented again (fosite revoked its whole family) or
// an authorization code redeemed twice (fosite revoked what it issued), as the client that
// presented it. fosite refuses a revoked token with the same hint as a used one, so the store
// is asked whether the token was in fact used (rotated, redeemed): presenting a token the
// user or an admin revoked is no attack and is not recorded. Only these refusals read the
// database again, to tell the two apart and name the family and the server it was for.
func (p *Provider) recordReplay(r *http.Request, err error) {
	if p.audit == nil {
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField != fosite.ErrInvalidGrant.ErrorField {
		return
	}
	ctx := r.Context()
	var (
		action string
		req    fosite.Requester
	)
	switch {
	case rfc.HintField == hintRefreshReuse && errors.Is(err, fosite.ErrInactiveToken):
		action = audit.RefreshTokenReuse
		sig := p.strategy.RefreshTokenSignature(ctx, r.PostForm.Get("refresh_token"))
		if used, err := p.store.RefreshTokenUsed(ctx, sig); err != nil || !used {
			return
		}
		req, _ = p.store.GetRefreshTokenSession(ctx, sig, NewSession(""))
	case strings.HasPrefix(rfc.HintField, hintCodeReplay):
		action = audit.CodeReplay
		sig := p.strategy.AuthorizeCodeSignature(ctx, r.PostForm.Get("code"))
		if used, err := p.store.AuthorizeCodeUsed(ctx, sig); err != nil || !used {
			return
		}
		req, _ = p.store.GetAuthorizeCodeSession(ctx, sig, NewSession(""))
	default:
		return
	}
	clientID := clientIDForLog(r)
	e := audit.Event{Actor: audit.FromRequest(r, audit.KindClient, clientID, ""), Action: action, Result: audit.Refused}
	if req != nil && req.GetID() != "" {
		e.Target = req.GetID()
		if c := storageClient(req.GetClient()); c != nil {
			if e.Actor.ID == "" {
				e.Actor.ID = c.ID
			}
			if e.Actor.ID == c.ID {
				e.Actor.Name = c.Name
			}
		}
		aud := req.GetGrantedAudience()
		if len(aud) == 0 {
			aud = req.GetRequestedAudience()
		}
		for _, a := range aud {
			if path, ok := urls.ServerPathOfResource(p.cfg.Issuer, a); ok {
				e.ServerPath = path
				org, server, _ := urls.SplitServerPath(path)
				if srv, err := p.store.ServerByPath(ctx, org, server); err == nil {
					e.OrgID = srv.OrgID
				}
				break
			}
		}
		if s := req.GetSession(); s != nil && s.GetSubject() != "" {
			e.Detail = "granted to user " + s.GetSubject() + "; every token of the grant was revoked"
		} else {
			e.Detail = "every token of the grant was revoked"
		}
	}
	p.audit.Record(ctx, e)
}
