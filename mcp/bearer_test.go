package mcp

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLength+1)
	for _, tc := range []struct {
		values []string
		token  string
		err    error
	}{
		{[]string{"Bearer abc.DEF-_~+/="}, "abc.DEF-_~+/=", nil},
		{[]string{"bearer abc"}, "abc", nil},
		{[]string{"BEARER   abc"}, "abc", nil},
		{[]string{"Bearer eyJ.eyJ.sig=="}, "eyJ.eyJ.sig==", nil},
		{nil, "", ErrNoToken},
		{[]string{""}, "", ErrNoToken},
		{[]string{"Basic YTpi"}, "", ErrNoToken},
		{[]string{"DPoP abc"}, "", ErrNoToken},
		{[]string{"Bearerabc"}, "", ErrNoToken},
		{[]string{"Bearer\tabc"}, "", ErrNoToken},
		{[]string{"Bearer"}, "", ErrMalformedHeader},
		{[]string{"Bearer "}, "", ErrMalformedHeader},
		{[]string{"Bearer a b"}, "", ErrMalformedHeader},
		{[]string{"Bearer a,b"}, "", ErrMalformedHeader},
		{[]string{"Bearer a=b"}, "", ErrMalformedHeader},
		{[]string{"Bearer =abc"}, "", ErrMalformedHeader},
		{[]string{`Bearer "abc"`}, "", ErrMalformedHeader},
		{[]string{"Bearer abc\x00"}, "", ErrMalformedHeader},
		{[]string{"Bearer tökén"}, "", ErrMalformedHeader},
		{[]string{"Bearer a", "Bearer a"}, "", ErrMultipleHeaders},
		{[]string{"Bearer " + long}, "", ErrTokenTooLong},
	} {
		token, err := ParseAuthorization(tc.values)
		if token != tc.token || !errors.Is(err, tc.err) {
			t.Errorf("ParseAuthorization(%q) = %q, %v; want %q, %v", tc.values, token, err, tc.token, tc.err)
		}
	}
}

func TestTokenInQuery(t *testing.T) {
	for query, want := range map[string]bool{
		"":                            false,
		"x=1":                         false,
		"access_token=abc":            true,
		"x=1&access_token=abc":        true,
		"ACCESS_TOKEN=abc":            true,
		"access%5Ftoken=abc":          true,
		"%61ccess_token=abc":          true,
		"access_token":                true,
		"x=1;access_token=abc":        true,
		"access_token=%zz":            true,
		"access_tokens=abc":           false,
		"token=abc":                   false,
		"redirect=access_token%3Dabc": false,
	} {
		r := httptest.NewRequest("POST", "/mcp/acme/sales-api?"+query, nil)
		if got := tokenInQuery(r); got != want {
			t.Errorf("tokenInQuery(%q) = %v, want %v", query, got, want)
		}
	}
}

// FuzzParseAuthorization: whatever the header, the parser returns either an error or a
// token that is a well-formed b64token, which formatting back as "Bearer <token>" parses
// to again. Run with go test -fuzz=FuzzParseAuthorization ./mcp/.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "bearer x", "Bearer", "Bearer  ", "Basic YTpi",
		"Bearer a b", "Bearer ====", "Bearer a===", "Bearer a=b", "Bearer \x00", "BeArEr tok", "Bearer\ttok",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := ParseAuthorization([]string{header})
		if err != nil {
			if token != "" {
				t.Fatalf("error %v with token %q", err, token)
			}
			return
		}
		if token == "" || len(token) > MaxTokenLength || !isB64Token(token) {
			t.Fatalf("ParseAuthorization(%q) = %q, not a b64token", header, token)
		}
		if !strings.HasSuffix(header, token) || strings.ContainsAny(token, " \t\r\n\"\\,") {
			t.Fatalf("token %q is not the tail of %q", token, header)
		}
		again, err := ParseAuthorization([]string{"Bearer " + token})
		if err != nil || again != token {
			t.Fatalf("round trip of %q: %q, %v", token, again, err)
		}
	})
}
