package provider_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// TestUpstreamHeadersValidate: the rule for stored upstream headers, each refusal filed
// under the form field "headers".
func TestUpstreamHeadersValidate(t *testing.T) {
	many := map[string]string{}
	for i := range provider.MaxUpstreamHeaders + 1 {
		many["X-H"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string // "" accepted
	}{
		{"api key", map[string]string{"X-Api-Key": "k"}, ""},
		{"lower-case name", map[string]string{"x-api-key": "k"}, ""},
		{"value with tab", map[string]string{"X-A": "a\tb"}, ""},
		{"longest value", map[string]string{"X-A": strings.Repeat("v", provider.MaxUpstreamHeaderValueSize)}, ""},
		{"twenty", func() map[string]string {
			m := map[string]string{}
			for i := range provider.MaxUpstreamHeaders {
				m["X-H"+strings.Repeat("x", i)] = "v"
			}
			return m
		}(), ""},
		{"too many", many, "at most 20 upstream headers"},
		{"space in name", map[string]string{"X Api": "k"}, "is not a valid header name"},
		{"colon in name", map[string]string{"X-Api:": "k"}, "is not a valid header name"},
		{"empty name", map[string]string{"": "k"}, "is not a valid header name"},
		{"host", map[string]string{"host": "evil.example"}, "the header Host cannot be set"},
		{"authorization", map[string]string{"Authorization": "Bearer x"}, "the header Authorization cannot be set"},
		{"cookie", map[string]string{"Cookie": "a=b"}, "the header Cookie cannot be set"},
		{"content-length", map[string]string{"Content-Length": "1"}, "the header Content-Length cannot be set"},
		{"hop-by-hop", map[string]string{"Transfer-Encoding": "chunked"}, "the header Transfer-Encoding cannot be set"},
		{"connection", map[string]string{"connection": "close"}, "the header Connection cannot be set"},
		{"mcp session", map[string]string{"Mcp-Session-Id": "s"}, "the header Mcp-Session-Id cannot be set"},
		{"same name twice", map[string]string{"X-A": "1", "x-a": "2"}, "the header X-A is given twice"},
		{"CR LF in value", map[string]string{"X-A": "a\r\nX-Injected: 1"}, "the value of X-A must be one line"},
		{"LF in value", map[string]string{"X-A": "a\nb"}, "the value of X-A must be one line"},
		{"NUL in value", map[string]string{"X-A": "a\x00b"}, "the value of X-A must be one line"},
		{"empty value", map[string]string{"X-A": "  "}, "the header X-A needs a value"},
		{"value too long", map[string]string{"X-A": strings.Repeat("v", provider.MaxUpstreamHeaderValueSize+1)}, "the value of X-A is longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := provider.ServerChange{Headers: tc.headers}
			problems := c.Validate()
			if tc.want == "" {
				if problems != nil {
					t.Fatalf("refused: %v", problems)
				}
				return
			}
			byField := problems.ByField()
			if !errors.Is(problems, provider.ErrInvalidServer) || len(byField) != 1 || len(byField["headers"]) != 1 ||
				!strings.Contains(byField["headers"][0], tc.want) {
				t.Fatalf("problems %q, want one under \"headers\" containing %q", byField, tc.want)
			}
		})
	}
}

// TestUpstreamHeadersSealed: headers set through UpdateServer are stored sealed (no value
// readable in the row), open back to what was set with canonical names, are listed by name
// only, stay when a change does not name them, are removed by an empty map, and a sealed
// value copied to another server's row does not open there.
func TestUpstreamHeadersSealed(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testUpstreamHeadersSealed)
}

func testUpstreamHeadersSealed(t *testing.T, opts testenv.Options) {
	e := testenv.New(t, opts)
	ctx := context.Background()
	p := e.Provider
	e.CreateServer("acme/crm")
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{
		Headers: map[string]string{"x-api-key": "sk-live-123", "X-Tenant": " t42 "},
	}); err != nil {
		t.Fatal(err)
	}
	srv := e.ServerByPath("acme/crm")
	for _, plain := range []string{"sk-live-123", "t42", "X-Api-Key", "X-Tenant"} {
		if bytes.Contains(srv.UpstreamHeaders, []byte(plain)) {
			t.Fatalf("the stored row holds %q in the clear", plain)
		}
	}
	h, err := p.UpstreamHeaders(srv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(http.Header{"X-Api-Key": {"sk-live-123"}, "X-Tenant": {"t42"}}, h); diff != "" {
		t.Fatalf("UpstreamHeaders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"X-Api-Key", "X-Tenant"}, p.UpstreamHeaderNames(srv)); diff != "" {
		t.Fatalf("UpstreamHeaderNames (-want +got):\n%s", diff)
	}

	// A change that does not name the headers keeps them.
	name := "CRM"
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got := p.UpstreamHeaderNames(e.ServerByPath("acme/crm")); len(got) != 2 {
		t.Fatalf("after a rename, headers %q, want both kept", got)
	}

	// Copied to another server's row, the sealed value does not open.
	other := e.CreateServer("acme/other")
	other.UpstreamHeaders = srv.UpstreamHeaders
	if _, err := p.UpstreamHeaders(other); err == nil {
		t.Fatal("headers sealed for acme/crm opened for acme/other")
	}
	if got := p.UpstreamHeaderNames(other); got != nil {
		t.Fatalf("UpstreamHeaderNames of unreadable headers = %q, want none", got)
	}

	// A refused change stores nothing.
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Headers: map[string]string{"Host": "x"}}); !errors.Is(err, provider.ErrInvalidServer) {
		t.Fatalf("UpdateServer with a Host header: %v, want ErrInvalidServer", err)
	}
	if got := p.UpstreamHeaderNames(e.ServerByPath("acme/crm")); len(got) != 2 {
		t.Fatalf("after a refused change, headers %q", got)
	}

	// An empty map removes them all.
	if _, err := p.UpdateServer(ctx, "acme", "crm", provider.ServerChange{Headers: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	srv = e.ServerByPath("acme/crm")
	if len(srv.UpstreamHeaders) != 0 || len(p.UpstreamHeaderNames(srv)) != 0 {
		t.Fatalf("after removing: row %x, names %q", srv.UpstreamHeaders, p.UpstreamHeaderNames(srv))
	}
}
