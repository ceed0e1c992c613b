package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/conexor/conexor/storage"
)

// Bounds of the upstream headers stored with a server.
const (
	MaxUpstreamHeaders         = 20
	MaxUpstreamHeaderValueSize = 4 << 10
)

// reservedUpstreamHeaders are names a stored header may not set: the request framing
// (Host, Content-Length, hop-by-hop headers), the MCP transport's own headers, which the
// gateway forwards from the client, and credentials of the client's side (Authorization,
// Cookie).
var reservedUpstreamHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Accept": true, "Last-Event-Id": true,
	"Authorization": true, "Cookie": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// validateUpstreamHeaders is the one rule for stored upstream headers; nil means not set.
// Names are canonicalised in place (x-api-key becomes X-Api-Key).
func validateUpstreamHeaders(headers *map[string]string) ServerProblems {
	if headers == nil || *headers == nil {
		return nil
	}
	var problems ServerProblems
	add := func(format string, args ...any) {
		problems = append(problems, ServerProblem{"headers", fmt.Sprintf(format, args...)})
	}
	if len(*headers) > MaxUpstreamHeaders {
		add("at most %d upstream headers", MaxUpstreamHeaders)
	}
	canonical := make(map[string]string, len(*headers))
	names := make([]string, 0, len(*headers))
	for name := range *headers {
		names = append(names, name)
	}
	slices.Sort(names) // problems in a stable order
	for _, name := range names {
		value := (*headers)[name]
		key := http.CanonicalHeaderKey(strings.TrimSpace(name))
		switch {
		case !httpguts.ValidHeaderFieldName(key):
			add("%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)", name)
			continue
		case reservedUpstreamHeaders[key] || strings.HasPrefix(key, "Mcp-"):
			add("the header %s cannot be set: the gateway sets it", key)
			continue
		}
		if _, dup := canonical[key]; dup {
			add("the header %s is given twice", key)
			continue
		}
		value = strings.TrimSpace(value)
		switch {
		case value == "":
			add("the header %s needs a value", key)
		case len(value) > MaxUpstreamHeaderValueSize:
			add("the value of %s is longer than %d bytes", key, MaxUpstreamHeaderValueSize)
		case !httpguts.ValidHeaderFieldValue(value):
			add("the value of %s must be one line without control characters", key)
		}
		canonical[key] = value
	}
	if len(problems) == 0 {
		*headers = canonical
	}
	return problems
}

// sealUpstreamHeaders encrypts a server's headers for its row; no headers is no value. The
// server's ID is the associated data, so a sealed value copied to another server's row
// does not open there.
func (p *Provider) sealUpstreamHeaders(serverID string, headers map[string]string) []byte {
	if len(headers) == 0 {
		return nil
	}
	plain, err := json.Marshal(headers)
	if err != nil {
		panic("provider: encode upstream headers: " + err.Error()) // a map of strings always encodes
	}
	return p.headers.seal(plain, []byte(serverID))
}

// UpstreamHeaders decrypts the headers stored with srv, for the gateway to send upstream
// (mcp.Options.StoredUpstreamHeaders). A server without any has none and no error.
func (p *Provider) UpstreamHeaders(srv *storage.Server) (http.Header, error) {
	if len(srv.UpstreamHeaders) == 0 {
		return nil, nil
	}
	plain, err := p.headers.open(srv.UpstreamHeaders, []byte(srv.ID))
	if err != nil {
		return nil, fmt.Errorf("open the upstream headers of %s (was the system secret changed?): %w", srv.Path(), err)
	}
	var stored map[string]string
	if err := json.Unmarshal(plain, &stored); err != nil {
		return nil, fmt.Errorf("decode the upstream headers of %s: %w", srv.Path(), err)
	}
	h := make(http.Header, len(stored))
	for name, value := range stored {
		h.Set(name, value)
	}
	return h, nil
}

// UpstreamHeaderNames lists the names of the headers stored with srv, sorted, so a page can
// show them as set; the values are write-only and never leave the provider but to the
// gateway. Headers that cannot be opened are logged and listed as none.
func (p *Provider) UpstreamHeaderNames(srv *storage.Server) []string {
	h, err := p.UpstreamHeaders(srv)
	if err != nil {
		p.log.Warn("upstream headers unreadable", "server", srv.Path(), "err", err)
		return nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
