package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// parallelism is the number of benchmark clients per GOMAXPROCS; with
// -cpu 1 the benchmarks run exactly 64 concurrent clients.
const parallelism = 64

// benchSessions serves the HTTP handler and connects one go-sdk client
// session for each goroutine RunParallel will start, before the timer runs,
// so the benchmarks measure steady-state requests rather than handshakes.
func benchSessions(b *testing.B) chan *mcp.ClientSession {
	s := newServer(b, Options{})
	ts := httptest.NewServer(s.Handler())
	b.Cleanup(ts.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * parallelism * runtime.GOMAXPROCS(0)
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}

	n := parallelism * runtime.GOMAXPROCS(0)
	sessions := make(chan *mcp.ClientSession, n)
	for range n {
		cs, err := newClient().Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: ts.URL, HTTPClient: hc, MaxRetries: -1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cs.Close() })
		sessions <- cs
	}
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	return sessions
}

// BenchmarkToolsList measures tools/list over HTTP from 64 concurrent
// go-sdk clients per CPU.
func BenchmarkToolsList(b *testing.B) {
	sessions := benchSessions(b)
	b.RunParallel(func(pb *testing.PB) {
		cs := <-sessions
		for pb.Next() {
			res, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				b.Error(err) // not Fatal: this is a RunParallel goroutine
				return
			}
			if len(res.Tools) != 3 {
				b.Errorf("ListTools: %d tools, want 3", len(res.Tools))
				return
			}
		}
	})
}

// BenchmarkRunQuery measures a small aggregate run_query over HTTP under the
// same concurrency.
func BenchmarkRunQuery(b *testing.B) {
	sessions := benchSessions(b)
	args := RunQueryInput{SQL: "SELECT region, COUNT(*) FROM customers GROUP BY region ORDER BY region"}
	b.RunParallel(func(pb *testing.PB) {
		cs := <-sessions
		for pb.Next() {
			// A fresh params value per call: the SDK writes _meta into it.
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_query", Arguments: args})
			if err != nil {
				b.Error(err)
				return
			}
			if res.IsError {
				b.Errorf("run_query: %s", text(res))
				return
			}
		}
	})
}
