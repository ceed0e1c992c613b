package mcp

import (
	"testing"

	"github.com/conexor/conexor/storage"
)

// The count of cached unknown paths follows the cache: a path that starts to exist, or is
// forgotten, frees its place under maxNegativeServers.
func TestServerCacheNegativeCount(t *testing.T) {
	c := &serverCache{}
	unknown := &serverInfo{path: "acme/x"}
	known := &serverInfo{path: "acme/x", srv: &storage.Server{}}
	steps := []struct {
		do   func()
		want int64
	}{
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.put("acme/x", known) }, 0},
		{func() { c.put("acme/x", unknown) }, 1},
		{func() { c.forget("acme/x") }, 0},
		{func() { c.put("acme/y", known); c.forget("acme/y") }, 0},
	}
	for i, s := range steps {
		s.do()
		if got := c.negative.Load(); got != s.want {
			t.Fatalf("step %d: negative = %d, want %d", i, got, s.want)
		}
	}
}
