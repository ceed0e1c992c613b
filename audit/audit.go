// Package audit records who did what: audit events (a login, a client revoked, a refresh
// token replayed) and hourly usage counters (tokens issued, MCP requests allowed and
// refused, per client). Every front end records through one Recorder, which writes in the
// background: recording never blocks or fails the request it records. A write that fails
// is logged and counted (conexor_audit_write_failures_total), and the action stands.
//
// Who acted travels in the request's context (WithActor), set once by the front end that
// knows (the dashboard's logged-in user, the CLI's operator), so the service layer records
// its own changes without every caller passing the actor along.
package audit

import (
	"context"
	"net"
	"net/http"
	"unicode/utf8"
)

// Actions, as stored and as shown (and filtered) on the activity page.
const (
	LoginSucceeded      = "login"
	LoginFailed         = "login.failed"
	Logout              = "logout"
	ClientCreated       = "client.created"
	ClientUpdated       = "client.updated"
	ClientSecretRotated = "client.secret_rotated"
	ClientRevoked       = "client.revoked"
	ClientRegistered    = "client.registered" // dynamic registration accepted
	RegistrationRefused = "client.registration_refused"
	ServerCreated       = "server.created"
	ServerUpdated       = "server.updated"
	MemberAdded         = "member.added"
	MemberRoleChanged   = "member.role_changed"
	MemberRemoved       = "member.removed"
	PasswordChanged     = "password.changed"
	PasswordSet         = "password.set" // through a set-password link or the CLI
	SessionsEnded       = "sessions.ended"
	ConsentGranted      = "consent.granted"
	ConsentRevoked      = "consent.revoked"
	RefreshTokenReuse   = "token.refresh_reuse" // the family was revoked
	CodeReplay          = "token.code_replay"   // what the code issued was revoked
	KeyRotated          = "key.rotated"
)

// Actions lists every action, in the order the activity page offers them as a filter.
var Actions = []string{
	LoginSucceeded, LoginFailed, Logout, PasswordChanged, PasswordSet, SessionsEnded,
	MemberAdded, MemberRoleChanged, MemberRemoved,
	ServerCreated, ServerUpdated,
	ClientCreated, ClientUpdated, ClientSecretRotated, ClientRevoked, ClientRegistered, RegistrationRefused,
	ConsentGranted, ConsentRevoked, RefreshTokenReuse, CodeReplay, KeyRotated,
}

// Results of an action.
const (
	OK      = "ok"
	Refused = "refused" // not allowed: a member trying an admin action, a wrong password
	Failed  = "failed"  // allowed but it did not happen (the database failed)
)

// Kinds of actor.
const (
	KindUser      = "user"
	KindClient    = "client"
	KindOperator  = "operator" // the command line, on the server's machine
	KindSystem    = "system"   // Conexor itself (a scheduled key rotation)
	KindAnonymous = "anonymous"
)

// Actor is who did something, and from where.
type Actor struct {
	Kind string
	// ID is the user's or client's ID; Name their email or client name.
	ID, Name string
	// IP and UserAgent are the request's, for actors behind a request.
	IP, UserAgent string
}

// Event is one thing that happened.
type Event struct {
	// Actor is who did it; the zero Actor means the context's (WithActor).
	Actor Actor
	// OrgID and ServerPath ("org/server") place it; both may be empty.
	OrgID, ServerPath string
	Action            string
	// Target is the ID of what it was done to, TargetName its readable name.
	Target, TargetName string
	// Result is OK when empty.
	Result string
	// Detail is a short sentence of what else matters (the fields changed, the reason of
	// a refusal). Never a secret.
	Detail string
}

type actorKey struct{}

// WithActor returns ctx carrying who acts in it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor put in ctx.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// FromRequest is an actor of kind with the request's address (already the client's behind
// trusted proxies) and user agent.
func FromRequest(r *http.Request, kind, id, name string) Actor {
	return Actor{Kind: kind, ID: id, Name: name, IP: RemoteIP(r), UserAgent: clip(r.UserAgent(), 512)}
}

// RemoteIP is the request's remote address without the port.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return clip(r.RemoteAddr, 64)
	}
	return clip(host, 64)
}

// Operator is the actor of a CLI command.
func Operator() Actor { return Actor{Kind: KindOperator, Name: "command line"} }

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
