package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// The compile-time contract: fosite's compose type-asserts these at start-up, so a missing
// method would otherwise be a panic in production.
var (
	_ fosite.ClientManager          = (*Store)(nil)
	_ fosite.Storage                = (*Store)(nil)
	_ oauth2.CoreStorage            = (*Store)(nil)
	_ oauth2.TokenRevocationStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage       = (*Store)(nil)
	_ fositestorage.Transactional   = (*Store)(nil)
	_ oauth2.AuthorizeCodeStorage   = (*Store)(nil)
	_ oauth2.AccessTokenStorage     = (*Store)(nil)
	_ oauth2.RefreshTokenStorage    = (*Store)(nil)
)

// SignatureHash is how a token signature is stored: hex SHA-256, so a database leak yields no
// usable token.
func SignatureHash(signature string) string {
	sum := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(sum[:])
}

func (s *Store) rowFromRequest(signature string, r fosite.Requester, kind fosite.TokenType) (tokenRow, error) {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return tokenRow{}, fmt.Errorf("storage: encode session: %w", err)
	}
	var subject string
	var expires time.Time
	if r.GetSession() != nil {
		subject = r.GetSession().GetSubject()
		expires = r.GetSession().GetExpiresAt(kind)
	}
	return tokenRow{
		Signature:         SignatureHash(signature),
		RequestID:         r.GetID(),
		RequestedAt:       r.GetRequestedAt().UTC(),
		ClientID:          r.GetClient().GetID(),
		Subject:           subject,
		Scopes:            strings.Join(r.GetRequestedScopes(), " "),
		GrantedScopes:     strings.Join(r.GetGrantedScopes(), " "),
		RequestedAudience: strings.Join(r.GetRequestedAudience(), " "),
		GrantedAudience:   strings.Join(r.GetGrantedAudience(), " "),
		Form:              r.GetRequestForm().Encode(),
		Session:           sess,
		Active:            true,
		ExpiresAt:         expires.UTC(),
	}, nil
}

func (s *Store) requestFromRow(ctx context.Context, row *tokenRow, session fosite.Session) (*fosite.Request, error) {
	if session != nil {
		if err := json.Unmarshal(row.Session, session); err != nil {
			return nil, fmt.Errorf("storage: decode session: %w", err)
		}
	}
	client, err := s.ClientByID(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(row.Form)
	if err != nil {
		return nil, fmt.Errorf("storage: decode form: %w", err)
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt,
		Client:            client,
		RequestedScope:    strings.Fields(row.Scopes),
		GrantedScope:      strings.Fields(row.GrantedScopes),
		RequestedAudience: strings.Fields(row.RequestedAudience),
		GrantedAudience:   strings.Fields(row.GrantedAudience),
		Form:              form,
		Session:           session,
	}, nil
}

// getToken loads one row by the hash of its signature into dst (a *…Row).
func (s *Store) getToken(ctx context.Context, dst any, signature string) error {
	err := s.conn(ctx).Where("signature = ?", SignatureHash(signature)).Take(dst).Error
	return notFound(err)
}

// getRequest loads a token row by signature into dst (whose tokenRow is row) and rebuilds
// its request. An inactive row returns the request together with inactiveErr: fosite needs
// both to revoke what a replayed code or refresh token issued.
func (s *Store) getRequest(ctx context.Context, dst any, row *tokenRow, signature string, session fosite.Session, inactiveErr error) (fosite.Requester, error) {
	if err := s.getToken(ctx, dst, signature); err != nil {
		return nil, err
	}
	req, err := s.requestFromRow(ctx, row, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, inactiveErr
	}
	return req, nil
}

// deactivate flips one token inactive; used marks it used up (a code redeemed, a refresh
// token rotated) rather than revoked, so presenting it again is known as a replay. Zero rows
// affected means it was already inactive (a lost race: fosite.ErrSerializationFailure) or
// never existed (fosite.ErrNotFound).
func (s *Store) deactivate(ctx context.Context, model any, signature string, used bool) error {
	hash := SignatureHash(signature)
	now := s.now().UTC()
	set := map[string]any{"active": false, "revoked_at": now}
	if used {
		set["used_at"] = now
	}
	res := s.conn(ctx).Model(model).Where("signature = ? AND active", hash).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := s.conn(ctx).Model(model).Where("signature = ?", hash).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return fosite.ErrNotFound
	}
	return fosite.ErrSerializationFailure
}

func (s *Store) revokeByRequest(ctx context.Context, model any, requestID, reason string) error {
	set := map[string]any{"active": false, "revoked_at": s.now().UTC()}
	if reason != "" {
		set["revoked_reason"] = reason
	}
	res := s.conn(ctx).Model(model).Where("request_id = ? AND active", requestID).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if _, access := model.(*accessTokenRow); access && res.RowsAffected > 0 {
		return s.notify(ctx, TopicRevoked)
	}
	return nil
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	row, err := s.rowFromRequest(code, r, fosite.AuthorizeCode)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&authorizeCodeRow{row}).Error
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A used code returns the
// request together with fosite.ErrInvalidatedAuthorizeCode so fosite can revoke what it issued.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	var row authorizeCodeRow
	return s.getRequest(ctx, &row, &row.Row, code, session, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage: exactly one of two
// concurrent redemptions wins; the other gets fosite.ErrSerializationFailure.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.deactivate(ctx, &authorizeCodeRow{}, code, true)
}

// AuthorizeCodeUsed reports whether the code with this signature was redeemed, as opposed to
// still active, revoked or unknown: only presenting a redeemed code again is a replay.
func (s *Store) AuthorizeCodeUsed(ctx context.Context, code string) (bool, error) {
	return s.tokenUsed(ctx, &authorizeCodeRow{}, code)
}

// RefreshTokenUsed reports whether the refresh token with this signature was rotated, as
// opposed to still active, revoked or unknown: only presenting a rotated one again is reuse.
func (s *Store) RefreshTokenUsed(ctx context.Context, signature string) (bool, error) {
	return s.tokenUsed(ctx, &refreshTokenRow{}, signature)
}

func (s *Store) tokenUsed(ctx context.Context, model any, signature string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(model).Where("signature = ? AND used_at IS NOT NULL", SignatureHash(signature)).Count(&n).Error
	return n > 0, err
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage. Outside a transaction (the
// client-credentials grant) the row is group-committed with the other requests' rows
// (groupcommit.go); inside one (code exchange, refresh) it stays in that transaction.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	row, err := s.rowFromRequest(signature, r, fosite.AccessToken)
	if err != nil {
		return err
	}
	slimAccessToken(&row)
	if ctx.Value(txKey{}) == nil && ctx.Value(longKey{}) == nil {
		return s.insertAccessToken(ctx, accessTokenRow{row})
	}
	return s.conn(ctx).Create(&accessTokenRow{row}).Error
}

// slimAccessToken drops from an access token's row what nothing reads back. An access token
// is a self-contained JWT: the gate and introspection take its scopes, subject and expiry
// from the verified token and ask the database only whether it is still active; RFC 7009
// revocation needs its client and request ID; the dashboard counts it by client and dates it
// by subject, client and audience; the purge needs its expiry. The request form (which for a
// code exchange or refresh holds the code, the verifier or the refresh token), the scopes and
// the session are kept only in the code and refresh-token rows that a later request rebuilds.
// This is about a quarter of each row, and the most of it that a database leak would expose.
func slimAccessToken(row *tokenRow) {
	row.Form = ""
	row.Scopes, row.GrantedScopes, row.RequestedAudience = "", "", ""
	row.Session = emptySession
}

// emptySession is the stored session of a slimmed access token: a JSON object that decodes
// into any session as "nothing set".
var emptySession = []byte("{}")

// GetAccessTokenSession implements oauth2.AccessTokenStorage. The request it returns holds
// what slimAccessToken kept (ID, client, requested-at, granted audience; the session is left
// as given). A revoked token returns the request and fosite.ErrInactiveToken.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row accessTokenRow
	return s.getRequest(ctx, &row, &row.Row, signature, session, fosite.ErrInactiveToken)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage. The row is kept, inactive,
// so resource servers polling for revocations see it.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	err := s.deactivate(ctx, &accessTokenRow{}, signature, false)
	if err == fosite.ErrSerializationFailure {
		return nil // already inactive: the goal is reached
	}
	if err != nil {
		return err
	}
	return s.notify(ctx, TopicRevoked)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	row, err := s.rowFromRequest(signature, r, fosite.RefreshToken)
	if err != nil {
		return err
	}
	var access string
	if accessSignature != "" {
		access = SignatureHash(accessSignature)
	}
	return s.conn(ctx).Create(&refreshTokenRow{Row: row, AccessSignature: access}).Error
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A used or revoked refresh
// token returns the request and fosite.ErrInactiveToken, which fosite treats as reuse.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row refreshTokenRow
	return s.getRequest(ctx, &row, &row.Row, signature, session, fosite.ErrInactiveToken)
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage by deactivating, so a
// later replay is still recognised as reuse.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	err := s.deactivate(ctx, &refreshTokenRow{}, signature, false)
	if err == fosite.ErrSerializationFailure {
		return nil
	}
	return err
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented refresh token is
// used up. Access tokens already issued stay valid until they expire (nothing that got a 200
// is silently lost); reuse of the old refresh token revokes the whole family.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	return s.deactivate(ctx, &refreshTokenRow{}, signature, true)
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage for every refresh token of
// a request (one grant's family).
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeByRequest(ctx, &refreshTokenRow{}, requestID, "")
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage for every access token of a request.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeByRequest(ctx, &accessTokenRow{}, requestID, "")
}

// RevokedForReuse is the RevokedReason of tokens revoked because a refresh token of their
// grant was used twice.
const RevokedForReuse = "reuse"

// RevokeRefreshTokenForReuse is RevokeRefreshToken for reuse detection: the refresh tokens
// it revokes remember why (RefreshTokenState says RefreshRevokedForReuse).
func (s *Store) RevokeRefreshTokenForReuse(ctx context.Context, requestID string) error {
	return s.revokeByRequest(ctx, &refreshTokenRow{}, requestID, RevokedForReuse)
}

// RevokeAccessTokenForReuse is RevokeAccessToken for reuse detection.
func (s *Store) RevokeAccessTokenForReuse(ctx context.Context, requestID string) error {
	return s.revokeByRequest(ctx, &accessTokenRow{}, requestID, RevokedForReuse)
}

// RefreshState is what became of a refresh token, for the message that refuses it.
type RefreshState int

// The states of a refresh token.
const (
	RefreshUnknown         RefreshState = iota // never issued here, or purged
	RefreshActive                              // usable
	RefreshUsed                                // rotated: presenting it again is reuse
	RefreshRevokedForReuse                     // revoked with its grant when a sibling was reused
	RefreshRevoked                             // revoked by a user, an admin, RFC 7009 or a revoked client
)

// RefreshTokenState reports what became of the refresh token with this signature.
func (s *Store) RefreshTokenState(ctx context.Context, signature string) (RefreshState, error) {
	var row struct {
		Active        bool
		UsedAt        *time.Time
		RevokedReason string
	}
	err := s.conn(ctx).Model(&refreshTokenRow{}).Select("active, used_at, revoked_reason").
		Where("signature = ?", SignatureHash(signature)).Take(&row).Error
	switch {
	case isNotFound(err):
		return RefreshUnknown, nil
	case err != nil:
		return RefreshUnknown, err
	case row.Active:
		return RefreshActive, nil
	case row.UsedAt != nil:
		return RefreshUsed, nil
	case row.RevokedReason == RevokedForReuse:
		return RefreshRevokedForReuse, nil
	}
	return RefreshRevoked, nil
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	row, err := s.rowFromRequest(signature, r, fosite.AuthorizeCode)
	if err != nil {
		return err
	}
	return s.conn(ctx).Create(&pkceRow{row}).Error
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row pkceRow
	if err := s.getToken(ctx, &row, signature); err != nil {
		return nil, err
	}
	return s.requestFromRow(ctx, &row.Row, session)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.conn(ctx).Where("signature = ?", SignatureHash(signature)).Delete(&pkceRow{}).Error
}

// AccessTokenState reports, for a resource server, whether the access token with this
// signature is known and active. Unknown means never issued here (or purged after expiry).
func (s *Store) AccessTokenState(ctx context.Context, signature string) (known, active bool, err error) {
	var row struct{ Active bool }
	err = s.conn(ctx).Model(&accessTokenRow{}).Select("active").
		Where("signature = ?", SignatureHash(signature)).Take(&row).Error
	if isNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, row.Active, nil
}

// RevokedAccessTokensSince lists the signature hashes of access tokens revoked at or after t,
// with the latest revocation time seen, so a resource server can keep a revocation set fresh.
func (s *Store) RevokedAccessTokensSince(ctx context.Context, t time.Time) (hashes []string, latest time.Time, err error) {
	var rows []struct {
		Signature string
		RevokedAt time.Time
	}
	err = s.conn(ctx).Model(&accessTokenRow{}).Select("signature, revoked_at").
		Where("revoked_at >= ?", t.UTC()).Find(&rows).Error
	if err != nil {
		return nil, t, err
	}
	latest = t
	for _, r := range rows {
		hashes = append(hashes, r.Signature)
		if r.RevokedAt.After(latest) {
			latest = r.RevokedAt
		}
	}
	return hashes, latest, nil
}
