package connect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// StateDirEnv overrides where the bridge keeps its state (tests, sandboxes).
const StateDirEnv = "CONEXOR_CONNECT_STATE_DIR"

// savedState is what one bridge start leaves the next for the same endpoint, so that a
// Claude Desktop launch is not a new registration and a new consent every time: the client
// it registered and the browser flow's refresh token. Never a client secret: those come
// from flags or the environment and stay there.
type savedState struct {
	Resource     string `json:"resource"`
	Issuer       string `json:"issuer"`
	ClientID     string `json:"client_id,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// stateFile is the state of one endpoint: <dir>/<sha256(endpoint) prefix>.json, the
// directory 0700 and the file 0600 (it holds a refresh token).
type stateFile struct{ path string }

// newStateFile places the endpoint's state in dir, else $CONEXOR_CONNECT_STATE_DIR, else
// os.UserConfigDir()/conexor/connect. It returns nil when there is nowhere to keep it.
func newStateFile(dir, endpoint string) *stateFile {
	if dir == "" {
		dir = os.Getenv(StateDirEnv)
	}
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "conexor", "connect")
	}
	sum := sha256.Sum256([]byte(endpoint))
	return &stateFile{path: filepath.Join(dir, hex.EncodeToString(sum[:])[:32]+".json")}
}

// load reads the saved state; a missing or unreadable file is an empty state.
func (s *stateFile) load() (savedState, error) {
	var st savedState
	if s == nil {
		return st, nil
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return savedState{}, err
	}
	return st, nil
}

// save replaces the state atomically (write a private temporary file, rename).
func (s *stateFile) save(st savedState) error {
	if s == nil {
		return nil
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".state-*") // mode 0600
	if err != nil {
		return err
	}
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), s.path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
