package provider

import (
	"time"

	"github.com/ory/fosite"
)

// Session is what fosite stores with every code and token. It carries what the JWT needs
// and nothing the token holder should not see.
type Session struct {
	Subject string `json:"sub"`
	// UserID is set for tokens a person approved; empty for client_credentials.
	UserID    string                         `json:"uid,omitempty"`
	ExpiresAt map[fosite.TokenType]time.Time `json:"exp"`
}

var _ fosite.Session = (*Session)(nil)

// NewSession returns an empty session for a subject.
func NewSession(subject string) *Session {
	return &Session{Subject: subject, ExpiresAt: map[fosite.TokenType]time.Time{}}
}

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time {
	if s.ExpiresAt == nil {
		return time.Time{}
	}
	return s.ExpiresAt[key]
}

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return s.Subject }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
	for k, v := range s.ExpiresAt {
		c.ExpiresAt[k] = v
	}
	return &c
}
