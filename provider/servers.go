package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// Server field bounds (the columns' sizes).
const (
	MaxServerNameLength        = 200
	MaxServerDescriptionLength = 2000
)

// ServerSpec describes an MCP server to create.
type ServerSpec struct {
	Org, Slug   string
	Name        string
	Description string
	// Upstream is the Streamable HTTP MCP endpoint to proxy to; "" serves the built-in demo.
	Upstream string
	// Headers are sealed with the server, as ServerChange.Headers.
	Headers map[string]string
	// ByAPI: a token holder (the dashboard) creates the server, so its upstream is dialed on
	// public addresses only (ServerChange.ByAPI). Set at creation, in the same transaction:
	// a server must never exist, even briefly, with a token holder's upstream marked as an
	// operator's.
	ByAPI bool
	// IdentityHeader names the header that carries an identity assertion to the upstream
	// (AssertIdentity); "" sends none.
	IdentityHeader string
}

// ServerChange is a change to an MCP server: nil fields stay as they are, Upstream ""
// switches the server to the built-in demo.
type ServerChange struct {
	Name        *string
	Description *string
	Upstream    *string
	Enabled     *bool
	// Headers are sent to the upstream with every request (an API key, say), sealed at rest
	// and never shown again: nil leaves them as they are, a non-nil map replaces them all,
	// an empty one removes them. The config file's upstreams: headers win on a name clash.
	Headers map[string]string
	// ByAPI marks a change made by a token holder (the server API, the dashboard) rather
	// than an operator (the CLI): an upstream it sets is dialed on public addresses only
	// (storage.Server.UpstreamByAPI), so it cannot turn the gateway against the network
	// Conexor runs in.
	ByAPI bool
	// IdentityHeader names the header that carries an identity assertion to the upstream:
	// nil leaves it as it is, "" turns assertions off.
	IdentityHeader *string
	// Check, when set, runs inside the transaction on the stored server before the change;
	// an error aborts the change and is returned as is.
	Check func(current *storage.Server) error
}

// ErrInvalidServer is matched (errors.Is) by ServerProblems.
var ErrInvalidServer = errors.New("invalid server")

// ServerProblem is one thing wrong with a server's fields: the form field it is about
// ("slug", "name", "description", "upstream", "headers") and how to fix it.
type ServerProblem struct {
	Field   string
	Message string
}

// ServerProblems lists what is wrong with a server's fields, each saying how to fix it.
type ServerProblems []ServerProblem

func (p ServerProblems) Error() string {
	msgs := make([]string, len(p))
	for i, problem := range p {
		msgs[i] = problem.Message
	}
	return strings.Join(msgs, "; ")
}

// ByField groups the problems' messages by form field, so a form can show each next to its
// input.
func (p ServerProblems) ByField() map[string][]string {
	out := make(map[string][]string)
	for _, problem := range p {
		out[problem.Field] = append(out[problem.Field], problem.Message)
	}
	return out
}

// Fields names the fields with a problem, each once, in order: what an audit event may
// say of a refused change (never the values sent).
func (p ServerProblems) Fields() []string {
	fields := make([]string, 0, len(p))
	for _, pr := range p {
		if !slices.Contains(fields, pr.Field) {
			fields = append(fields, pr.Field)
		}
	}
	return fields
}

// Is makes errors.Is(err, ErrInvalidServer) true.
func (p ServerProblems) Is(target error) bool { return target == ErrInvalidServer }

// CreateServer validates spec and creates the server enabled, and its org if missing. A
// server that exists already is storage.ErrConflict.
func (p *Provider) CreateServer(ctx context.Context, spec ServerSpec) (*storage.Server, error) {
	var problems ServerProblems
	if !urls.ValidSlug(spec.Org) || !urls.ValidSlug(spec.Slug) {
		problems = append(problems, ServerProblem{"slug", fmt.Sprintf("%q must be ORG/SERVER, each %s", spec.Org+"/"+spec.Slug, urls.SlugRule)})
	}
	problems = append(problems, validateServerFields(&spec.Name, &spec.Description, &spec.Upstream)...)
	problems = append(problems, validateUpstreamHeaders(&spec.Headers)...)
	problems = append(problems, validateIdentityHeader(&spec.IdentityHeader)...)
	if len(problems) == 0 {
		problems = append(identityHeaderClash(spec.IdentityHeader, headerOf(spec.Headers)), p.identityKeyProblems(spec.IdentityHeader)...)
	}
	if len(problems) > 0 {
		p.serverRefused(ctx, audit.ServerCreated, spec.Org, spec.Slug, nil, problems)
		return nil, problems
	}
	srv := &storage.Server{ID: secret.NewID("srv_"), Slug: spec.Slug, Name: spec.Name, Description: spec.Description,
		Upstream: spec.Upstream, UpstreamByAPI: spec.ByAPI && spec.Upstream != "", Enabled: true, IdentityHeader: spec.IdentityHeader}
	if len(spec.Headers) > 0 {
		srv.UpstreamHeaders = p.sealUpstreamHeaders(srv.ID, spec.Headers) // bound to the ID
	}
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		org, err := p.store.EnsureOrg(ctx, spec.Org, spec.Org)
		if err != nil {
			return err
		}
		srv.OrgID, srv.OrgSlug = org.ID, org.Slug
		return p.store.CreateServer(ctx, srv)
	})
	if err != nil {
		return nil, err
	}
	p.log.InfoContext(ctx, "server created", "server", srv.Path(), "proxy", srv.Upstream != "")
	p.audit.Record(ctx, audit.Event{Action: audit.ServerCreated, OrgID: srv.OrgID, ServerPath: srv.Path(),
		Target: srv.ID, TargetName: srv.Name})
	return srv, nil
}

// UpdateServer validates change and applies it to the server at org/slug, in one
// transaction; storage.ErrNotFound if there is none.
func (p *Provider) UpdateServer(ctx context.Context, org, slug string, change ServerChange) (*storage.Server, error) {
	if problems := change.Validate(); len(problems) > 0 {
		p.serverRefused(ctx, audit.ServerUpdated, org, slug, nil, problems)
		return nil, problems
	}
	var updated *storage.Server
	var changed []string
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		srv, err := p.store.ServerByPath(ctx, org, slug)
		if err != nil {
			return err
		}
		if change.Check != nil {
			if err := change.Check(srv); err != nil {
				p.serverRefused(ctx, audit.ServerUpdated, org, slug, srv, err)
				return err
			}
		}
		if change.ByAPI && change.Upstream != nil && change.Headers == nil && len(srv.UpstreamHeaders) > 0 &&
			!netguard.SameOrigin(srv.Upstream, *change.Upstream) {
			// The stored headers (an API key) go wherever the upstream points: a token holder
			// who could move it to their own host would receive a value that is write-only.
			problems := ServerProblems{{"upstream", "this server sends stored upstream headers (API keys) to its upstream: " +
				"to move it to another origin, replace or remove the headers in the same change"}}
			p.serverRefused(ctx, audit.ServerUpdated, org, slug, srv, problems)
			return problems
		}
		if problems := p.identityProblems(srv, &change); len(problems) > 0 {
			p.serverRefused(ctx, audit.ServerUpdated, org, slug, srv, problems)
			return problems
		}
		before := *srv
		change.apply(srv)
		if change.Headers != nil {
			srv.UpstreamHeaders = p.sealUpstreamHeaders(srv.ID, change.Headers)
		}
		if err := p.store.UpdateServer(ctx, srv); err != nil {
			return err
		}
		updated = srv
		changed = changedServerFields(&before, srv, change.Headers != nil)
		return nil
	})
	if err == nil {
		detail := "nothing changed"
		if len(changed) > 0 {
			detail = "changed " + strings.Join(changed, ", ")
		}
		p.audit.Record(ctx, audit.Event{Action: audit.ServerUpdated, OrgID: updated.OrgID, ServerPath: updated.Path(),
			Target: updated.ID, TargetName: updated.Name, Detail: detail})
	}
	return updated, err
}

// changedServerFields names the fields a change made differ, never their values (an
// upstream's query or a header may hold a key).
func changedServerFields(before, after *storage.Server, headers bool) []string {
	var f []string
	for _, c := range []struct {
		name    string
		changed bool
	}{
		{"name", before.Name != after.Name}, {"description", before.Description != after.Description},
		{"enabled", before.Enabled != after.Enabled}, {"upstream", before.Upstream != after.Upstream}, {"headers", headers},
		{"identity_header", before.IdentityHeader != after.IdentityHeader},
	} {
		if c.changed {
			f = append(f, c.name)
		}
	}
	return f
}

// serverRefused records a refused creation or change of the server org/slug (srv when it
// was read already, nil to look it up): the problems' fields (or the refusal's reason),
// never the values sent.
func (p *Provider) serverRefused(ctx context.Context, action, org, slug string, srv *storage.Server, err error) {
	if p.audit == nil {
		return
	}
	e := audit.Event{Action: action, Result: audit.Refused}
	if urls.ValidSlug(org) && urls.ValidSlug(slug) {
		e.ServerPath = urls.ServerPath(org, slug)
		if srv == nil {
			srv, _ = p.store.ServerByPath(ctx, org, slug)
		}
		if srv != nil {
			e.OrgID, e.Target, e.TargetName = srv.OrgID, srv.ID, srv.Name
		} else if o, lerr := p.store.OrgBySlug(ctx, org); lerr == nil {
			// A server that does not exist yet is placed in its org, if that exists.
			e.OrgID = o.ID
		}
	}
	var problems ServerProblems
	if errors.As(err, &problems) {
		e.Detail = "invalid " + strings.Join(problems.Fields(), ", ")
	} else {
		e.Detail = err.Error()
	}
	p.audit.Record(ctx, e)
}

// Validate checks the fields change sets (and trims the name, canonicalises header names),
// so a front end can answer before doing more work; UpdateServer calls it too.
func (c *ServerChange) Validate() ServerProblems {
	problems := append(validateServerFields(c.Name, c.Description, c.Upstream), validateUpstreamHeaders(&c.Headers)...)
	return append(problems, validateIdentityHeader(c.IdentityHeader)...)
}

// Fields names the fields change sets, for logs.
func (c *ServerChange) Fields() []string {
	var f []string
	for _, s := range []struct {
		name string
		set  bool
	}{{"name", c.Name != nil}, {"description", c.Description != nil}, {"enabled", c.Enabled != nil}, {"upstream", c.Upstream != nil}, {"headers", c.Headers != nil},
		{"identity_header", c.IdentityHeader != nil}} {
		if s.set {
			f = append(f, s.name)
		}
	}
	return f
}

func (c *ServerChange) apply(srv *storage.Server) {
	if c.Name != nil {
		srv.Name = *c.Name
	}
	if c.Description != nil {
		srv.Description = *c.Description
	}
	if c.Enabled != nil {
		srv.Enabled = *c.Enabled
	}
	if c.Upstream != nil {
		srv.Upstream = *c.Upstream
		srv.UpstreamByAPI = c.ByAPI && srv.Upstream != ""
	}
	if c.IdentityHeader != nil {
		srv.IdentityHeader = *c.IdentityHeader
	}
}

// identityProblems checks the identity header srv will have after change against the
// upstream headers it will have then (the change's, or the stored ones) and the signing
// key. It runs in the update's transaction, so a header stored meanwhile is seen.
func (p *Provider) identityProblems(srv *storage.Server, change *ServerChange) ServerProblems {
	identity := srv.IdentityHeader
	if change.IdentityHeader != nil {
		identity = *change.IdentityHeader
	}
	if identity == "" || (change.IdentityHeader == nil && change.Headers == nil) {
		return nil // nothing that could clash changes
	}
	headers := headerOf(change.Headers)
	if change.Headers == nil {
		stored, err := p.UpstreamHeaders(srv)
		if err != nil {
			p.log.Warn("upstream headers unreadable", "server", srv.Path(), "err", err)
		}
		headers = stored
	}
	problems := identityHeaderClash(identity, headers)
	if change.IdentityHeader != nil {
		problems = append(problems, p.identityKeyProblems(identity)...)
	}
	return problems
}

// headerOf is validated upstream headers as an http.Header, for lookups by name.
func headerOf(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// validateServerFields is the one rule for a server's editable fields; nil means not set.
// The name is trimmed in place. The upstream rule is netguard.ParseUpstream, which the
// gateway applies again to what it reads from the database.
func validateServerFields(name, description, upstream *string) ServerProblems {
	var problems ServerProblems
	if name != nil {
		*name = strings.TrimSpace(*name)
		if *name == "" || utf8.RuneCountInString(*name) > MaxServerNameLength || hasControl(*name, false) {
			problems = append(problems, ServerProblem{"name", fmt.Sprintf("name must be 1-%d characters without control characters", MaxServerNameLength)})
		}
	}
	if description != nil && (utf8.RuneCountInString(*description) > MaxServerDescriptionLength || hasControl(*description, true)) {
		problems = append(problems, ServerProblem{"description", fmt.Sprintf("description must be at most %d characters without control characters other than newlines and tabs", MaxServerDescriptionLength)})
	}
	if upstream != nil && *upstream != "" {
		if _, err := netguard.ParseUpstream(*upstream); err != nil {
			problems = append(problems, ServerProblem{"upstream", err.Error()})
		}
	}
	return problems
}

// hasControl reports control characters (newlines and tabs allowed when allowWhitespace)
// or invalid UTF-8.
func hasControl(s string, allowWhitespace bool) bool {
	for _, r := range s {
		if unicode.IsControl(r) && !(allowWhitespace && (r == '\n' || r == '\t' || r == '\r')) {
			return true
		}
	}
	return !utf8.ValidString(s)
}
