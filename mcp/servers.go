package mcp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/conexor/conexor/internal/netguard"
	"github.com/conexor/conexor/internal/urls"
	"github.com/conexor/conexor/storage"
)

// ServerStore is what the gateway asks storage about MCP servers (it changes them through
// the ServerEditor).
type ServerStore interface {
	ServerByPath(ctx context.Context, org, server string) (*storage.Server, error)
}

// serverTTL is how long a server's row (or its absence) is trusted without asking the
// database again. A change made through this process's API is seen at once (the entry is
// dropped); one made elsewhere (another replica, the CLI) within serverTTL.
const serverTTL = time.Second

// maxNegativeServers bounds how many unknown paths are remembered: they come from the
// request line, so anyone can make up as many as they like.
const maxNegativeServers = 4096

// serverInfo is one MCP server as the gate needs it, with everything derived from the row
// computed once.
type serverInfo struct {
	srv         *storage.Server // nil: no server at this path
	path        string          // "org/server"
	resource    string          // canonical URL, the tokens' aud
	metadataURL string          // RFC 9728 document
	upstream    *url.URL        // nil for the built-in demo
	upstreamErr error           // the stored upstream URL breaks netguard.ParseUpstream (a row from before it)
	headers     http.Header     // upstream headers: the stored ones with the configured ones on top
	fetched     time.Time
}

// serverCache is a read-through cache of serverInfo by path.
type serverCache struct {
	store     ServerStore
	issuer    string
	upstreams func(path string) http.Header
	stored    func(*storage.Server) (http.Header, error)
	entries   sync.Map // "org/server" -> *serverInfo
	negative  atomic.Int64
	loads     singleflight.Group
	// gen counts forgetAll calls: a load that started before one may have read the row
	// as it was before the change that was announced, so what it read is not kept as fresh.
	gen atomic.Int64
}

func (c *serverCache) lookup(ctx context.Context, org, name string) (*serverInfo, error) {
	path := org + "/" + name
	if v, ok := c.entries.Load(path); ok {
		info := v.(*serverInfo)
		if time.Since(info.fetched) < serverTTL {
			return info, nil
		}
	}
	v, err, _ := c.loads.Do(path, func() (any, error) {
		return c.load(context.WithoutCancel(ctx), org, name)
	})
	if err != nil {
		return nil, err
	}
	return v.(*serverInfo), nil
}

// load reads a server's row. ctx has no deadline (lookup detaches it for the singleflight),
// so the store bounds the read by storage_timeout: a silent database costs the gate's
// requests no more than it costs the token endpoint.
func (c *serverCache) load(ctx context.Context, org, name string) (*serverInfo, error) {
	path := org + "/" + name
	gen := c.gen.Load()
	srv, err := c.store.ServerByPath(ctx, org, name)
	if errors.Is(err, storage.ErrNotFound) {
		info := &serverInfo{path: path, fetched: time.Now()}
		if _, had := c.entries.Load(path); had || c.negative.Load() < maxNegativeServers {
			c.keep(path, info, gen)
		}
		return info, nil
	}
	if err != nil {
		return nil, err
	}
	info := c.describe(srv)
	c.keep(path, info, gen)
	return info, nil
}

// keep caches info, read when gen was current. A forgetAll since then means the row may
// predate the change it announced: info answers the request that read it but is not kept.
// gen is checked again after the put, since forgetAll may have run in between and then
// found nothing yet to forget.
func (c *serverCache) keep(path string, info *serverInfo, gen int64) {
	if c.gen.Load() != gen {
		return
	}
	c.put(path, info)
	if c.gen.Load() != gen && c.entries.CompareAndDelete(path, info) && info.srv == nil {
		c.negative.Add(-1)
	}
}

// put caches info for path, keeping negative (the number of cached unknown paths) exact
// so the bound on them frees up when a path starts to exist or is forgotten.
func (c *serverCache) put(path string, info *serverInfo) {
	old, had := c.entries.Swap(path, info)
	wasNegative := had && old.(*serverInfo).srv == nil
	switch isNegative := info.srv == nil; {
	case isNegative && !wasNegative:
		c.negative.Add(1)
	case !isNegative && wasNegative:
		c.negative.Add(-1)
	}
}

func (c *serverCache) describe(srv *storage.Server) *serverInfo {
	info := &serverInfo{
		srv:         srv,
		path:        srv.Path(),
		resource:    urls.Resource(c.issuer, srv.OrgSlug, srv.Slug),
		metadataURL: urls.ResourceMetadata(c.issuer, srv.OrgSlug, srv.Slug),
		fetched:     time.Now(),
	}
	if srv.Upstream != "" {
		info.upstream, info.upstreamErr = netguard.ParseUpstream(srv.Upstream)
	}
	// Also for a server that is the demo right now: the API must know that headers wait to
	// be sent wherever its upstream is set (errUpstreamLocked).
	if c.stored != nil {
		h, err := c.stored(srv)
		if err != nil && info.upstream != nil && info.upstreamErr == nil {
			info.upstreamErr = err // never call the upstream without its credentials
		}
		info.headers = h
	}
	if c.upstreams != nil {
		if configured := c.upstreams(info.path); len(configured) > 0 {
			if info.headers == nil {
				info.headers = make(http.Header, len(configured))
			}
			for name, values := range configured {
				info.headers[name] = values
			}
		}
	}
	return info
}

// forget drops a path, so the next request reads the database (after this process changed
// the server).
func (c *serverCache) forget(path string) {
	if old, had := c.entries.LoadAndDelete(path); had && old.(*serverInfo).srv == nil {
		c.negative.Add(-1)
	}
}

// forgetAll drops every path, so the next request for any server reads the database: a
// server was created or changed elsewhere (another replica, the CLI, the dashboard).
func (c *serverCache) forgetAll() {
	c.gen.Add(1)
	c.entries.Range(func(k, _ any) bool {
		c.forget(k.(string))
		return true
	})
}
