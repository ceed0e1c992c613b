package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// BenchmarkTokenClientCredentials issues client-credentials JWTs through the real router over
// loopback HTTP, 32 concurrent clients per CPU, on SQLite:
//
//	go test -run '^$' -bench TokenClientCredentials -benchtime 5s ./internal/app
//
// Every request must succeed; tokens/s is reported beside ns/op.
func BenchmarkTokenClientCredentials(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools:read mcp:tools:execute"}}.Encode()
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var failed atomic.Int64
	var firstFailure atomic.Value

	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, e.TokenURL(), strings.NewReader(body))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(e.ClientID, e.ClientSecret)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, err.Error())
				continue
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"access_token":"ey`) {
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, resp.Status+" "+string(got))
			}
		}
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d token requests failed; first: %v", n, b.N, firstFailure.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
