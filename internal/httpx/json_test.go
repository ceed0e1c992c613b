package httpx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/conexor/conexor/internal/httpx"
)

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSON(w, http.StatusCreated, map[string]string{"a": "<b>"})
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if w.Code != http.StatusCreated || w.Body.String() != `{"a":"<b>"}`+"\n" {
		t.Errorf("status %d, body %q", w.Code, w.Body.String())
	}
}

func TestWriteDocument(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteDocument(w, "application/jwk-set+json", time.Minute, map[string]int{"n": 1})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/jwk-set+json" ||
		w.Header().Get("Cache-Control") != "public, max-age=60" || w.Header().Get("X-Content-Type-Options") != "nosniff" ||
		w.Body.String() != `{"n":1}`+"\n" {
		t.Errorf("status %d, headers %v, body %q", w.Code, w.Header(), w.Body.String())
	}
}

func TestWriteOAuthError(t *testing.T) {
	for _, tt := range []struct {
		name       string
		err        httpx.OAuthError
		basic      bool
		retryAfter string // set by the caller before
		wantHeader map[string]string
		wantBody   string
	}{
		{name: "bad request", err: httpx.OAuthError{Status: 400, Code: "invalid_request", Description: "Say more."},
			wantHeader: map[string]string{"WWW-Authenticate": "", "Retry-After": ""},
			wantBody:   `{"error":"invalid_request","error_description":"Say more."}`},
		{name: "no description", err: httpx.OAuthError{Status: 404, Code: "not_found"},
			wantBody: `{"error":"not_found"}`},
		{name: "scope", err: httpx.OAuthError{Status: 403, Code: "insufficient_scope", Scope: "tools:execute"},
			wantBody: `{"error":"insufficient_scope","scope":"tools:execute"}`},
		{name: "unavailable", err: httpx.OAuthError{Status: 503, Code: "temporarily_unavailable"},
			wantHeader: map[string]string{"Retry-After": "1"}, wantBody: `{"error":"temporarily_unavailable"}`},
		{name: "unavailable, caller's Retry-After", err: httpx.OAuthError{Status: 503, Code: "temporarily_unavailable"}, retryAfter: "30",
			wantHeader: map[string]string{"Retry-After": "30"}, wantBody: `{"error":"temporarily_unavailable"}`},
		{name: "invalid_client with Basic", err: httpx.OAuthError{Status: 401, Code: "invalid_client"}, basic: true,
			wantHeader: map[string]string{"WWW-Authenticate": `Basic realm="conexor", charset="UTF-8"`}, wantBody: `{"error":"invalid_client"}`},
		{name: "invalid_client in the form", err: httpx.OAuthError{Status: 401, Code: "invalid_client"},
			wantHeader: map[string]string{"WWW-Authenticate": ""}, wantBody: `{"error":"invalid_client"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/oauth/token", nil)
			if tt.basic {
				r.SetBasicAuth("client", "secret")
			}
			w := httptest.NewRecorder()
			if tt.retryAfter != "" {
				w.Header().Set("Retry-After", tt.retryAfter)
			}
			e := tt.err
			httpx.WriteOAuthError(w, r, &e)
			if w.Code != tt.err.Status || strings.TrimSpace(w.Body.String()) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body.String(), tt.err.Status, tt.wantBody)
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", w.Header())
			}
			for k, v := range tt.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	for _, tt := range []struct {
		name    string
		body    string
		length  int64 // Content-Length; -1 unknown
		limit   int64
		tooBig  bool
		partial bool // the body arrives one byte at a time
	}{
		{name: "empty", body: "", length: 0, limit: 10},
		{name: "at the limit", body: "0123456789", length: 10, limit: 10},
		{name: "unknown length at the limit", body: "0123456789", length: -1, limit: 10, partial: true},
		{name: "larger than a first guess", body: strings.Repeat("x", 5000), length: -1, limit: 10000, partial: true},
		{name: "declared too big", body: "01234567890", length: 11, limit: 10, tooBig: true},
		{name: "undeclared too big", body: "01234567890", length: -1, limit: 10, tooBig: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			var body = strings.NewReader(tt.body)
			if tt.partial {
				r.Body = readCloser{iotest.OneByteReader(body)}
			} else {
				r.Body = readCloser{body}
			}
			r.ContentLength = tt.length
			got, err := httpx.ReadBody(httptest.NewRecorder(), r, tt.limit)
			var mbe *http.MaxBytesError
			if tt.tooBig {
				if !errors.As(err, &mbe) || mbe.Limit != tt.limit {
					t.Fatalf("err = %v, want *http.MaxBytesError{%d}", err, tt.limit)
				}
				return
			}
			if err != nil || string(got) != tt.body {
				t.Errorf("got %q, %v; want %q", got, err, tt.body)
			}
		})
	}
}

type readCloser struct {
	r interface{ Read([]byte) (int, error) }
}

func (rc readCloser) Read(p []byte) (int, error) { return rc.r.Read(p) }
func (readCloser) Close() error                  { return nil }

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij…"},
		{"", 0, ""},
		{"abc", 0, "…"},
		{"héllo", 2, "h…"},  // é is 2 bytes: cutting at 2 would split it
		{"héllo", 3, "hé…"}, // the cut falls after é
		{"日本語", 4, "日…"},    // 3-byte runes
		{"日本語", 5, "日…"},
		{"日本語", 6, "日本…"},
		{"a😀b", 3, "a…"}, // 4-byte rune
		{"a😀b", 5, "a😀…"},
	} {
		got := httpx.Truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q is not valid UTF-8", tt.in, tt.n, got)
		}
	}
}

// FuzzTruncate: whatever the input and the limit, a valid string stays valid and the cut
// part is at most n bytes.
func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld 日本語 😀", 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := httpx.Truncate(s, n)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q: split a rune", s, n, got)
		}
		if cut := strings.TrimSuffix(got, "…"); len(cut) > n {
			t.Fatalf("Truncate(%q, %d) = %q: longer than %d bytes", s, n, got, n)
		}
	})
}
