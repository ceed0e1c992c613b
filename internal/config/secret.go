package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/conexor/conexor/internal/secret"
)

// SecretFile is where a generated secret is kept: beside the SQLite file, so the two travel
// together (a copy of the database without it cannot unseal its keys).
func SecretFile(sqlitePath string) string {
	return filepath.Join(filepath.Dir(sqlitePath), strings.TrimSuffix(filepath.Base(sqlitePath), filepath.Ext(sqlitePath))+".secret")
}

// EnsureSecret fills cfg.Secret when it is empty. With a SQLite file it reads the secret kept
// beside the file, or generates one and writes it there (mode 0600); with :memory: it
// generates a throwaway one. Postgres requires an explicit secret (Validate says so).
// It returns a sentence for the log when it did something. Without create, a missing secret
// file is an error instead: only serve and migrate may start a database and its secret, or
// an admin command run without CONEXOR_SECRET would leave a stray secret file beside a
// database sealed with another one.
func EnsureSecret(cfg *Config, create bool) (string, error) {
	if cfg.Secret != "" || !cfg.IsSQLite() {
		return "", nil
	}
	path := cfg.SQLitePath()
	if path == "" {
		cfg.Secret = newSecret()
		return "generated a temporary system secret for the in-memory database", nil
	}
	file := SecretFile(path)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		cfg.Secret = strings.TrimSpace(string(b))
		if len(cfg.Secret) < 32 {
			return "", fmt.Errorf("secret file %s holds fewer than 32 bytes", file)
		}
		return "", nil
	case errors.Is(err, fs.ErrNotExist) && !create:
		if abs, aerr := filepath.Abs(file); aerr == nil {
			file = abs
		}
		return "", fmt.Errorf("no CONEXOR_SECRET set and no secret file at %s: set CONEXOR_SECRET to the secret the server uses, or run this command in the server's directory (only serve and migrate create a secret)", file)
	case errors.Is(err, fs.ErrNotExist):
		secret := newSecret()
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return "", err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("write secret file: %w", err)
		}
		if _, err := f.WriteString(secret + "\n"); err != nil {
			f.Close()
			return "", err
		}
		if err := f.Close(); err != nil {
			return "", err
		}
		cfg.Secret = secret
		return "no CONEXOR_SECRET set: generated a system secret and saved it to " + file + " (keep it with the database; set CONEXOR_SECRET in production)", nil
	default:
		return "", fmt.Errorf("read secret file: %w", err)
	}
}

func newSecret() string { return secret.RandomToken(48) }
