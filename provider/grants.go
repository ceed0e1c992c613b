package provider

import (
	"context"
	"errors"
)

// RevokeUserGrants ends every grant a user holds on the servers of an org: their
// remembered consents are deleted and every access and refresh token issued to them for
// those servers is revoked. It returns how many grants were ended. (Removing a member.)
func (p *Provider) RevokeUserGrants(ctx context.Context, userID, orgID string) (int, error) {
	return 0, errors.New("provider: RevokeUserGrants is not built yet")
}
