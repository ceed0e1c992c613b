package storage

import (
	"time"
)

// Org is a customer organisation; its slug is the first path segment of /mcp/{org}/{server}.
type Org struct {
	ID        string `gorm:"primaryKey;size:40"`
	Slug      string `gorm:"uniqueIndex;size:64;not null"`
	Name      string `gorm:"size:200;not null"`
	CreatedAt time.Time
}

// User is a person who logs in to approve applications. Email is stored lower-case.
type User struct {
	ID    string `gorm:"primaryKey;size:40"`
	Email string `gorm:"uniqueIndex;size:320;not null"`
	// PasswordHash is empty for a user added by an admin who has not yet set a password
	// through their one-time link: no password verifies against it.
	PasswordHash string `gorm:"size:255;not null"`
	CreatedAt    time.Time
	// LastLoginAt is when the user last logged in successfully (nil: never).
	LastLoginAt *time.Time
}

// Membership ties a user to an org; only members may approve access to the org's servers.
type Membership struct {
	OrgID     string `gorm:"primaryKey;size:40"`
	UserID    string `gorm:"primaryKey;size:40;index"`
	Role      string `gorm:"size:20;not null"`
	CreatedAt time.Time
}

// Roles a member can hold.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Server is one hosted MCP server, reachable at /mcp/{OrgSlug}/{Slug}.
type Server struct {
	ID          string `gorm:"primaryKey;size:40"`
	OrgID       string `gorm:"uniqueIndex:idx_servers_org_slug;size:40;not null"`
	OrgSlug     string `gorm:"size:64;not null"` // denormalised: slugs never change, and every MCP request needs it
	Slug        string `gorm:"uniqueIndex:idx_servers_org_slug;size:64;not null"`
	Name        string `gorm:"size:200;not null"`
	Description string `gorm:"size:2000"`
	// Upstream is the Streamable HTTP MCP endpoint this server proxies to; empty means the
	// built-in demo server.
	Upstream string `gorm:"size:2000"`
	// UpstreamByAPI records that a token holder (the server API, the dashboard), not an
	// operator (the CLI), named Upstream: the proxy then connects to public addresses only,
	// unless api_private_upstreams is on. Rows from before the column read false, as set by
	// an operator: an upstream set through the API before then passed only the check of its
	// name when it was entered. Setting it again through the API marks it.
	UpstreamByAPI bool `gorm:"column:upstream_by_api;not null;default:false"`
	// UpstreamHeaders holds headers sent upstream (API keys), sealed with the system secret.
	UpstreamHeaders []byte
	// IdentityHeader names the request header that carries an identity assertion (a
	// short-lived JWT saying who is calling) to the upstream; empty sends none. Rows from
	// before the column read empty: nothing is sent until an operator or admin turns it on.
	IdentityHeader string `gorm:"column:identity_header;size:100;not null;default:''"`
	Enabled        bool   `gorm:"not null"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Path returns "org/server".
func (s *Server) Path() string { return s.OrgSlug + "/" + s.Slug }

// Consent remembers that a user approved a client for a server with some scopes, so the
// consent page can be skipped when a later request asks for no more.
type Consent struct {
	UserID    string `gorm:"primaryKey;size:40"`
	ClientID  string `gorm:"primaryKey;size:2100"`
	ServerID  string `gorm:"primaryKey;size:40"`
	Scopes    string `gorm:"size:2000;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SigningKey is one JWT signing key. The private half is sealed with the system secret; the
// public half stays published until every token it signed has expired (the keyring prunes it).
type SigningKey struct {
	KID       string `gorm:"column:kid;primaryKey;size:64"`
	Alg       string `gorm:"size:10;not null"`
	Sealed    []byte `gorm:"not null"`
	PublicJWK string `gorm:"type:text"`
	CreatedAt time.Time
	// RetiredAt is set when a newer key is added; the retired key may still sign until the
	// newer one has been published for the publish delay.
	RetiredAt *time.Time
}

// HTTPSession is a browser session (gorilla/sessions), kept in the database so logout ends it
// everywhere and any replica can serve the next request.
type HTTPSession struct {
	ID        string    `gorm:"primaryKey;size:64"`
	Data      []byte    `gorm:"not null"`
	ExpiresAt time.Time `gorm:"index;not null"`
	// UserID is the logged-in user ("" before login), so a user's sessions can be listed
	// and ended at once; IP and UserAgent are the browser's as last saved.
	UserID    string `gorm:"size:40;index;not null;default:''"`
	IP        string `gorm:"column:ip;size:64;not null;default:''"`
	UserAgent string `gorm:"size:512;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClientDocument caches a fetched client ID metadata document.
type ClientDocument struct {
	URL       string `gorm:"primaryKey;size:2048"`
	Body      []byte `gorm:"not null"`
	FetchedAt time.Time
	ExpiresAt time.Time
}

// tokenRow is the shape shared by every token kind fosite stores: a hash of the token's
// signature as key, the request it belongs to, and the session as JSON. Each token table
// holds it as the exported field Row tagged embedded: GORM ignores unexported fields, so an
// anonymous tokenRow would contribute no columns at all.
type tokenRow struct {
	Signature   string    `gorm:"primaryKey;size:64"`
	RequestID   string    `gorm:"index;size:64;not null"`
	RequestedAt time.Time `gorm:"index:,composite:client_requested,priority:2;not null"`
	// ClientID leads the (client_id, requested_at) index: revoking a client finds its tokens
	// by it, and the dashboard counts and dates each client's recent tokens with it.
	ClientID          string    `gorm:"index:,composite:client_requested,priority:1;size:2100;not null"`
	Subject           string    `gorm:"size:255"`
	Scopes            string    `gorm:"size:2000"`
	GrantedScopes     string    `gorm:"size:2000"`
	RequestedAudience string    `gorm:"size:4000"`
	GrantedAudience   string    `gorm:"size:4000"`
	Form              string    `gorm:"type:text"`
	Session           []byte    `gorm:"not null"`
	Active            bool      `gorm:"not null"`
	ExpiresAt         time.Time `gorm:"index"`
	// RevokedAt lets resource servers poll for revocations since a moment.
	RevokedAt *time.Time `gorm:"index"`
	// UsedAt is set when a code was redeemed or a refresh token rotated: presenting it again
	// is a replay. An inactive row without it was revoked (by the user, an admin, RFC 7009,
	// a revoked client), which is no attack. Nullable so rows from before the column read as
	// revoked: a missed replay event leaves fosite's refusal and family revocation intact,
	// whereas a false one would accuse a client of an attack it did not make.
	UsedAt *time.Time
	// RevokedReason says why an inactive row was revoked when that is not obvious from the
	// row alone: RevokedForReuse when fosite revoked the grant's whole family because one of
	// its refresh tokens was used twice, so the refusal of a sibling can say so. Empty for
	// every other revocation.
	RevokedReason string `gorm:"size:16;not null;default:''"`
}

type authorizeCodeRow struct {
	Row tokenRow `gorm:"embedded"`
}

func (authorizeCodeRow) TableName() string { return "oauth_authorize_codes" }

type accessTokenRow struct {
	Row tokenRow `gorm:"embedded"`
}

func (accessTokenRow) TableName() string { return "oauth_access_tokens" }

type refreshTokenRow struct {
	Row             tokenRow `gorm:"embedded"`
	AccessSignature string   `gorm:"size:64"`
}

func (refreshTokenRow) TableName() string { return "oauth_refresh_tokens" }

type pkceRow struct {
	Row tokenRow `gorm:"embedded"`
}

func (pkceRow) TableName() string { return "oauth_pkce_requests" }

// GatewayTask is a task an upstream MCP server created for a task-augmented request that
// came through the gateway (MCP 2025-11-25 tasks). The gateway alone knows who asked: the
// upstream sees no token, so it cannot bind the task to its creator as the specification
// requires. The gateway does it with this row: tasks/get, tasks/result and tasks/cancel
// reach the upstream only for the caller that created the task (ClientID and Subject, the
// same across renewed tokens), while its token still allows the call that created it
// (Method and Name or URI); tasks/list answers show only such tasks. Rows are kept for the
// task's ttl, at most a day (ExpiresAt), then PurgeTasks deletes them.
type GatewayTask struct {
	ServerID string `gorm:"primaryKey;size:40"`
	// TaskKey is the hex SHA-256 of TaskID: the upstream chooses task IDs, of any length,
	// and an index needs a bounded key.
	TaskKey   string `gorm:"primaryKey;size:64"`
	TaskID    string `gorm:"type:text;not null"`
	ClientID  string `gorm:"size:2100;not null"`
	Subject   string `gorm:"size:255;not null"`
	Method    string `gorm:"size:256;not null"`
	Name      string `gorm:"type:text;not null;default:''"`
	URI       string `gorm:"column:uri;type:text;not null;default:''"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"index;not null"`
}

// TableName is gateway_tasks.
func (GatewayTask) TableName() string { return "gateway_tasks" }

func allModels() []any {
	return []any{
		&Org{}, &User{}, &Membership{}, &Server{}, &Client{}, &Consent{}, &SigningKey{},
		&HTTPSession{}, &ClientDocument{}, &AuditEvent{}, &UsageCount{},
		&PasswordReset{}, &limitBucket{},
		&authorizeCodeRow{}, &accessTokenRow{}, &refreshTokenRow{}, &pkceRow{},
		&GatewayTask{}, &lease{},
	}
}
