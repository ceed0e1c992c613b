package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	prefixes, err := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := TrustedProxies(prefixes, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: header ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9:5000"},
		{"trusted peer, one hop", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"client-written prefix ignored", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1:0"},
		{"chain of trusted proxies", "127.0.0.1:5000", []string{"198.51.100.1, 10.9.9.9", "10.0.0.2"}, "198.51.100.1:0"},
		{"no header", "10.1.2.3:5000", nil, "10.1.2.3:5000"},
		{"malformed hop", "10.1.2.3:5000", []string{"198.51.100.1, nonsense"}, "10.1.2.3:5000"},
		{"only trusted hops", "10.1.2.3:5000", []string{"10.0.0.1"}, "10.1.2.3:5000"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: RemoteAddr %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad prefix was accepted")
	}
}
