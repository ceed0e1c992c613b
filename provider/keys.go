package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/secret"
	"github.com/conexor/conexor/storage"
)

// Signing algorithms Conexor can issue access tokens with.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// KeyStore is the part of storage the keyring needs.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	AddSigningKey(ctx context.Context, k *storage.SigningKey) error
	DeleteSigningKey(ctx context.Context, kid string) error
}

// ErrUnknownKey means a token names a kid this server never had or has already dropped.
var ErrUnknownKey = errors.New("unknown signing key")

type signingKey struct {
	kid     string
	created time.Time
	alg     jose.SignatureAlgorithm
	verify  any // public key, or the HMAC secret for HS256
	public  *jose.JSONWebKey
	signer  jose.Signer
	// assertion signs identity assertions: the same key, typ IdentityAssertionType.
	assertion jose.Signer
}

// Keyring holds the JWT signing keys. Keys live in the database, the private half sealed
// with a key derived from the system secret, so every replica signs and verifies with the
// same keys and a restart loses none. A retired key stays published until every token it
// signed has expired (retirement + the longest access-token lifetime).
type Keyring struct {
	store  KeyStore
	alg    jose.SignatureAlgorithm
	sealer *sealer
	maxTTL time.Duration
	// publishDelay: a new key signs only once it is this old (see SetPublishDelay).
	publishDelay time.Duration
	now          func() time.Time
	log          *slog.Logger
	reloadMu     sync.Mutex

	mu         sync.RWMutex
	current    *signingKey
	newest     *signingKey // the last key added; current once published long enough
	byKID      map[string]*signingKey
	lastReload time.Time

	// changed wakes Run for a reload now (see Changed); one slot, so changes announced while
	// a reload runs cost one more reload, not one each.
	changed chan struct{}
}

// NewKeyring prepares a keyring; call Init before use. sealingKey (Keys.SigningKeys, 32
// bytes) encrypts the private keys at rest.
func NewKeyring(store KeyStore, alg string, sealingKey []byte, maxTokenTTL time.Duration, log *slog.Logger, now func() time.Time) (*Keyring, error) {
	switch alg {
	case AlgES256, AlgRS256, AlgHS256:
	default:
		return nil, fmt.Errorf("signing algorithm %q is not supported (use ES256, RS256 or HS256)", alg)
	}
	sealer, err := newSealer(sealingKey)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Keyring{store: store, alg: jose.SignatureAlgorithm(alg), sealer: sealer, maxTTL: maxTokenTTL, now: now, log: log, byKID: map[string]*signingKey{},
		changed: make(chan struct{}, 1)}, nil
}

// SetPublishDelay makes a rotated key sign only once it has been published for d. Every
// replica reloads keys every 30 s and the JWKS may be cached for 60 s, so a verifier outside
// Conexor that does not refetch on an unknown kid would refuse tokens signed with a key it
// has not seen yet; waiting d (2 minutes in production) closes that window. Until then the
// previous key goes on signing. A keyring with no key old enough (the very first key) signs
// with its newest at once.
func (k *Keyring) SetPublishDelay(d time.Duration) { k.publishDelay = d }

// Init loads the keys and creates the first one (or one of the configured algorithm) if
// there is no current key to sign with. created is the new key's ID, "" when none was made.
func (k *Keyring) Init(ctx context.Context) (created string, err error) {
	if err := k.Reload(ctx); err != nil {
		return "", err
	}
	k.mu.RLock()
	newest := k.newest
	k.mu.RUnlock()
	// The newest key, not the current one: a key of the configured algorithm that is still
	// waiting out its publish delay must not be joined by another at every restart.
	if newest != nil && newest.alg == k.alg {
		return "", nil
	}
	return k.Rotate(ctx)
}

// Rotate adds a new key; it becomes current after the publish delay. Older keys are retired
// but stay published until every token they signed has expired.
func (k *Keyring) Rotate(ctx context.Context) (string, error) {
	row, err := k.generate()
	if err != nil {
		return "", err
	}
	if err := k.store.AddSigningKey(ctx, row); err != nil {
		return "", fmt.Errorf("store signing key: %w", err)
	}
	k.log.Info("signing key created", "kid", row.KID, "alg", row.Alg)
	return row.KID, k.Reload(ctx)
}

func (k *Keyring) generate() (*storage.SigningKey, error) {
	kid := secret.RandomToken(12)
	var priv any
	var err error
	switch k.alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.HS256:
		b := make([]byte, 32)
		_, err = rand.Read(b)
		priv = b
	}
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(k.alg), Use: "sig"}
	privJSON, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	row := &storage.SigningKey{KID: kid, Alg: string(k.alg), Sealed: k.sealer.seal(privJSON, []byte(kid))}
	if k.alg != jose.HS256 {
		pubJSON, err := jwk.Public().MarshalJSON()
		if err != nil {
			return nil, err
		}
		row.PublicJWK = string(pubJSON)
	}
	return row, nil
}

// Reload reads the keys from the database (other replicas or `conexor keys rotate` may have
// added one) and deletes retired keys no token can still need.
func (k *Keyring) Reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.reloadLocked(ctx)
}

func (k *Keyring) reloadLocked(ctx context.Context) error {
	rows, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := k.now()
	byKID := map[string]*signingKey{}
	var current *signingKey
	for _, row := range rows {
		if row.RetiredAt != nil && now.Sub(*row.RetiredAt) > k.maxTTL+k.publishDelay+time.Minute {
			if err := k.store.DeleteSigningKey(ctx, row.KID); err != nil {
				k.log.Warn("could not delete expired signing key", "kid", row.KID, "err", err)
			}
			continue
		}
		sk, err := k.decode(row)
		if err != nil {
			// A key sealed with another secret: refuse loudly rather than sign with nothing.
			return fmt.Errorf("signing key %s: %w (was CONEXOR_SECRET changed?)", row.KID, err)
		}
		byKID[sk.kid] = sk
		// Rows come newest first: the newest key published long enough signs.
		if current == nil && now.Sub(row.CreatedAt) >= k.publishDelay {
			current = sk
		}
	}
	if current == nil && len(rows) > 0 {
		current = byKID[rows[0].KID] // no key old enough yet: the newest one
	}
	k.mu.Lock()
	var newest *signingKey
	if len(rows) > 0 {
		newest = byKID[rows[0].KID]
	}
	k.byKID, k.current, k.newest, k.lastReload = byKID, current, newest, now
	k.mu.Unlock()
	return nil
}

func (k *Keyring) decode(row storage.SigningKey) (*signingKey, error) {
	plain, err := k.sealer.open(row.Sealed, []byte(row.KID))
	if err != nil {
		return nil, errors.New("cannot unseal private key")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(plain); err != nil {
		return nil, err
	}
	sk := &signingKey{kid: row.KID, alg: jose.SignatureAlgorithm(row.Alg), created: row.CreatedAt}
	if sk.alg == jose.HS256 {
		sk.verify = jwk.Key
	} else {
		pub := jwk.Public()
		sk.public = &pub
		sk.verify = pub.Key
	}
	// kid explicitly: go-jose derives it only from a public key, so HS256 tokens would carry
	// none and never verify.
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), sk.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.alg, Key: jwk}, opts)
	if err != nil {
		return nil, err
	}
	sk.signer = signer
	aopts := (&jose.SignerOptions{}).WithType(IdentityAssertionType).WithHeader(jose.HeaderKey("kid"), sk.kid)
	if sk.assertion, err = jose.NewSigner(jose.SigningKey{Algorithm: sk.alg, Key: jwk}, aopts); err != nil {
		return nil, err
	}
	return sk, nil
}

// Run reloads the keys every interval, and whenever Changed is called, until ctx ends, so
// a rotation made elsewhere (another replica, `conexor keys rotate`) is used and published.
func (k *Keyring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	// published fires when a new key waiting out its publish delay becomes current, a known
	// time: reloading then makes every replica switch to it together rather than at its next
	// tick. One timer, reset after each reload.
	published := time.NewTimer(time.Hour)
	published.Stop()
	defer published.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.changed:
		case <-published.C:
		}
		if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("reload signing keys", "err", err)
		}
		if wait := k.untilPublished(); wait > 0 && wait < interval {
			published.Reset(wait + 10*time.Millisecond)
		}
	}
}

// untilPublished is how long until the newest key has been published for the publish
// delay and so signs; 0 when it already does.
func (k *Keyring) untilPublished() time.Duration {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.newest == nil || k.newest == k.current {
		return 0
	}
	return k.newest.created.Add(k.publishDelay).Sub(k.now())
}

// Changed tells Run that the keys in the database changed (storage announces it on
// Postgres): Run reloads at once instead of at its next tick. It never blocks.
func (k *Keyring) Changed() {
	select {
	case k.changed <- struct{}{}:
	default: // a reload is already due
	}
}

// Sign serialises claims (any JSON-encodable value) as a compact JWS with the current key,
// header typ "at+jwt" and kid.
func (k *Keyring) Sign(claims any) (token, kid string, err error) {
	k.mu.RLock()
	cur := k.current
	k.mu.RUnlock()
	if cur == nil {
		return "", "", errors.New("no current signing key")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	jws, err := cur.signer.Sign(payload)
	if err != nil {
		return "", "", err
	}
	token, err = jws.CompactSerialize()
	return token, cur.kid, err
}

// Verified is a token whose signature checked out.
type Verified struct {
	KID     string
	Type    string
	Payload []byte
}

// Verify checks a compact JWS against the key its kid names. The algorithm must be the
// key's own: a token cannot pick HS256 and be "verified" with a public key as HMAC secret,
// and "none" is never accepted. An unknown kid triggers at most one reload per second.
func (k *Keyring) Verify(ctx context.Context, token string) (*Verified, error) {
	// Compact serialization only: go-jose's ParseSigned also takes the JSON serialization,
	// whose unprotected headers and shape break the rule that a token's third segment is its
	// signature (what storage and revocation key it by).
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.HS256})
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("malformed token: want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	sk := k.key(h.KeyID)
	if sk == nil && h.KeyID != "" {
		if err := k.reloadIfStale(ctx); err != nil {
			return nil, err
		}
		sk = k.key(h.KeyID)
	}
	if sk == nil {
		return nil, ErrUnknownKey
	}
	if jose.SignatureAlgorithm(h.Algorithm) != sk.alg {
		return nil, fmt.Errorf("token algorithm %q does not match key %s", h.Algorithm, sk.kid)
	}
	payload, err := jws.Verify(sk.verify)
	if err != nil {
		return nil, errors.New("signature invalid")
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return &Verified{KID: sk.kid, Type: typ, Payload: payload}, nil
}

// reloadIfStale reloads the keys unless that happened within the last second. Staleness is
// checked again under the reload lock: tokens with made-up kids cost nothing to send, and a
// check outside it let every request that arrived during one reload queue up its own.
func (k *Keyring) reloadIfStale(ctx context.Context) error {
	stale := func() bool {
		k.mu.RLock()
		defer k.mu.RUnlock()
		return k.now().Sub(k.lastReload) > time.Second
	}
	if !stale() {
		return nil
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if !stale() {
		return nil // reloaded while this request waited
	}
	return k.reloadLocked(ctx)
}

func (k *Keyring) key(kid string) *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.byKID[kid]
}

// JWKS returns the public keys to publish: the current key and retired keys whose tokens
// may not have expired yet. HS256 keys are secret and never published.
func (k *Keyring) JWKS() jose.JSONWebKeySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	if k.current != nil && k.current.public != nil {
		set.Keys = append(set.Keys, *k.current.public)
	}
	for _, sk := range k.byKID {
		if sk == k.current || sk.public == nil {
			continue
		}
		set.Keys = append(set.Keys, *sk.public)
	}
	return set
}

// CurrentKID names the key new tokens are signed with.
func (k *Keyring) CurrentKID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.current == nil {
		return ""
	}
	return k.current.kid
}

// RotateSigningKey rotates the signing keys (Keyring.Rotate) and records it as the
// context's actor: the operator for `conexor keys rotate`, Conexor itself (audit.KindSystem)
// when nobody is in the context.
func (p *Provider) RotateSigningKey(ctx context.Context) (string, error) {
	kid, err := p.keys.Rotate(ctx)
	if err != nil {
		return "", err
	}
	p.recordKeyRotated(ctx, kid, "")
	return kid, nil
}

// recordKeyRotated records a new signing key, as the context's actor or else Conexor
// itself (the first key, or a key of a newly configured algorithm, made at start).
func (p *Provider) recordKeyRotated(ctx context.Context, kid, detail string) {
	e := audit.Event{Action: audit.KeyRotated, Target: kid, TargetName: p.cfg.SigningAlg, Detail: detail}
	if _, ok := audit.ActorFrom(ctx); !ok {
		e.Actor = audit.Actor{Kind: audit.KindSystem, Name: "Conexor"}
	}
	p.audit.Record(ctx, e)
}
