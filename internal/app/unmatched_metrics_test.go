package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/conexor/conexor/internal/testenv"
)

// Requests no route matches (404, 405) are counted too: mux runs router middleware only for
// matched routes, so the fallbacks carry the metrics themselves.
func TestUnmatchedRequestsCounted(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	if r := e.Get("/no/such/path"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", r.StatusCode)
	}
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `conexor_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s", want)
	}
}
