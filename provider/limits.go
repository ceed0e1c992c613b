package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/storage"
)

// Limiter counts attempts in token buckets (internal/limit.Limiter). With Postgres or
// Redis its buckets are shared by every replica, so N replicas do not allow N times the
// attempts.
type Limiter interface {
	// Take charges one attempt to every bucket, all or none: zero when charged, else how
	// long until one is allowed.
	Take(ctx context.Context, charges ...limit.Charge) time.Duration
	// Wait reports how long until every bucket holds a token, charging nothing.
	Wait(ctx context.Context, charges ...limit.Charge) time.Duration
	// Spend charges a failed attempt to every bucket.
	Spend(ctx context.Context, charges ...limit.Charge)
}

// Budgets of failed client authentications at the token, revocation and introspection
// endpoints: per client_id 10, then one a second; per address 60, then five a second.
// Client secrets are 256 random bits, so the limit is not what keeps them from being
// guessed; it stops a flood of wrong secrets from costing a hash each without end, and
// gives the operator a 429 to notice. The window is short on purpose: a client_id is
// public, and while its budget is empty every request naming it gets 429, the right secret
// included (checking the secret first would answer the attacker's guesses). An attacker
// can hold a real client back only while it keeps failing, one guess a second, and the
// client is through a second after the attack stops.
//
// The per-client budget is what protects a client. The address budget only caps a flood of
// failures from one address spread over many client_ids, and it is checked before every
// request from that address, good ones included: many legitimate clients share an egress
// address (hosted connectors such as Claude's and ChatGPT's, corporate NAT), so it is large
// enough that a few misconfigured clients failing about once a second each (a stale secret
// retried on a timer) never empty it and 429 everyone else behind that address.
var (
	clientAuthRule     = limit.Rule{Name: "client-auth", Burst: 10, Every: time.Second}
	clientAuthAddrRule = limit.Rule{Name: "client-auth-ip", Burst: 60, Every: time.Second / 5}
)

// beginClientAuth checks the named client's and the address's budgets before the secret
// is checked: when either is empty it answers 429 itself (RFC 6749 JSON, invalid_client,
// Retry-After) and returns ok false. Otherwise the caller must call done once it knows
// whether the client authenticated, and only a failure is charged. Unlike logins, nothing
// is charged up front: a client sends dozens of good token requests at once, and charging
// each while in flight would throttle them. The cost is that failures racing within one
// instant may exceed the burst once; the rate over time is bounded all the same. On
// Postgres the check is one SELECT, the charge of a failure one UPSERT.
func (p *Provider) beginClientAuth(w http.ResponseWriter, r *http.Request) (done func(failed bool), ok bool) {
	ctx := r.Context()
	id, ip := clientIDOf(r), httpx.ClientIP(r)
	charges := []limit.Charge{{Rule: clientAuthRule, Subject: id}, {Rule: clientAuthAddrRule, Subject: ip}}
	if wait := p.limits.Wait(ctx, charges...); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		p.log.WarnContext(ctx, "client authentication throttled", "client_id", id, "ip", ip, "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		WriteOAuthError(w, r, oauthErr(http.StatusTooManyRequests, "invalid_client",
			fmt.Sprintf("Too many failed authentications for this client or from this address; retry after %d seconds.", secs)))
		return nil, false
	}
	return func(failed bool) {
		if failed {
			p.limits.Spend(context.WithoutCancel(ctx), charges...)
		}
	}, true
}

// clientAuthFailed reports whether err is a failed client authentication: fosite's
// invalid_client, but not a database failure it wrapped as one (that proves nothing
// against the client).
func clientAuthFailed(err error) bool {
	return errors.Is(err, fosite.ErrInvalidClient) && !errors.Is(err, storage.ErrUnavailable)
}
