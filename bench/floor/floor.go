// Package floor is the floor of a client-credentials token endpoint: a server that does only
// what answering a token request cannot avoid. It reads the form, checks the client secret
// (an HMAC-SHA256 of it, compared in constant time), signs an ES256 JWT and, given a
// database, inserts one row per token. `conexor bench token --floor` drives it with the same
// load as Conexor, in the same run, so Conexor's throughput is reported as a fraction of
// what the machine can do rather than remembered from another day.
package floor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// tokenLifetime is the issued tokens' lifetime, Conexor's default access-token TTL.
const tokenLifetime = time.Hour

// Server answers POST requests with client_credentials tokens for one client.
type Server struct {
	clientID  string
	key       []byte // HMAC key of the secret check
	secretMAC []byte
	signer    jose.Signer
	public    *ecdsa.PublicKey
	insert    *sql.Stmt // nil: no storage
}

// New builds the floor for one client. With db, each token is also inserted into a table
// floor_tokens (jti, client_id, expires_at) that New creates.
func New(clientID, clientSecret string, db *sql.DB) (*Server, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "floor"))
	if err != nil {
		return nil, err
	}
	s := &Server{clientID: clientID, key: make([]byte, 32), signer: signer, public: &priv.PublicKey}
	if _, err := rand.Read(s.key); err != nil {
		return nil, err
	}
	s.secretMAC = s.mac(clientSecret)
	if db != nil {
		if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS floor_tokens (jti TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at INTEGER NOT NULL)`); err != nil {
			return nil, err
		}
		if s.insert, err = db.Prepare(`INSERT INTO floor_tokens (jti, client_id, expires_at) VALUES (?, ?, ?)`); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// PublicKey verifies the tokens the floor signs.
func (s *Server) PublicKey() *ecdsa.PublicKey { return s.public }

func (s *Server) mac(secret string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// ServeHTTP is the token endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.clientID || !hmac.Equal(s.mac(secret), s.secretMAC) {
		writeError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "floor", "sub": id, "client_id": id, "aud": "floor", "scope": r.PostForm.Get("scope"),
		"iat": now.Unix(), "exp": now.Add(tokenLifetime).Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	jws, err := s.signer.Sign(claims)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error")
		return
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error")
		return
	}
	if s.insert != nil {
		if _, err := s.insert.ExecContext(r.Context(), base64.RawURLEncoding.EncodeToString(jti[:]), id, now.Add(tokenLifetime).Unix()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds())})
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
