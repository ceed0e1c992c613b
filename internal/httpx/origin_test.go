package httpx

import (
	"net/http/httptest"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example":        "https://app.example",
		"HTTPS://App.Example:443":    "https://app.example",
		"http://localhost:6274":      "http://localhost:6274",
		"http://[::1]:80":            "http://[::1]",
		"https://a.example:8443":     "https://a.example:8443",
		"https://app.example/":       "",
		"https://app.example/path":   "",
		"https://app.example?x=1":    "",
		"https://u:p@app.example":    "",
		"ftp://app.example":          "ftp://app.example",
		"tauri://localhost":          "tauri://localhost",
		"TAURI://LocalHost":          "tauri://localhost",
		"vscode-webview://1a2b3c":    "vscode-webview://1a2b3c",
		"app://x:443":                "app://x:443", // default ports are http's and https's only
		"http://tauri.localhost":     "http://tauri.localhost",
		"tauri://localhost/":         "",
		"tauri:localhost":            "",
		"app:///x":                   "",
		"://x":                       "",
		"app.example":                "",
		"null":                       "",
		"*":                          "",
		"https://app.example#f":      "",
		"javascript:alert(1)":        "",
		"https://":                   "",
		"https://app.example:99999x": "",
	} {
		got, err := ParseOrigin(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOriginsAllowed(t *testing.T) {
	o := NewOrigins("https://auth.example.com", []string{"https://app.example", "app://conexor"})
	for origin, want := range map[string]bool{
		"https://auth.example.com":      true,
		"https://auth.example.com:443":  true,
		"http://auth.example.com":       false, // another scheme is another origin
		"https://app.example":           true,
		"https://evil.example":          false,
		"https://app.example.evil.test": false,
		"http://localhost:6274":         true,
		"https://localhost":             true,
		"http://127.0.0.1:5173":         true,
		"http://127.1.2.3":              true,
		"http://[::1]:3000":             true,
		"http://localhost.evil.test":    false,
		"http://tauri.localhost":        true, // RFC 6761: *.localhost is loopback
		"https://a.b.localhost:8443":    true,
		"http://evillocalhost":          false,
		"tauri://localhost":             false, // another scheme on localhost is one app: list it
		"vscode-webview://1a2b3c":       false,
		"app://conexor":                 true,
		"APP://Conexor":                 true,
		"app://other":                   false,
		"null":                          false,
		"":                              false,
	} {
		if got := o.Allowed(origin); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if !NewOrigins("https://auth.example.com", []string{"*"}).Allowed("https://evil.example") {
		t.Error(`"*" does not allow every origin`)
	}
}

func TestCrossSitePost(t *testing.T) {
	const issuer = "https://auth.example.com"
	for _, tc := range []struct {
		method, origin, site string
		refused              bool
	}{
		{"POST", "", "", false},
		{"POST", issuer, "same-origin", false},
		{"POST", "https://AUTH.example.com:443", "", false},
		{"POST", "", "none", false},
		{"POST", "https://evil.example", "", true},
		{"POST", "null", "", false},            // the pages' own forms under Referrer-Policy: no-referrer
		{"POST", "null", "same-origin", false}, // what Chromium sends for them
		{"POST", "null", "cross-site", true},
		{"POST", "", "cross-site", true},
		{"POST", "", "same-site", true},
		{"POST", issuer, "cross-site", true},
		{"GET", "https://evil.example", "cross-site", false}, // only forms that change something
	} {
		r := httptest.NewRequest(tc.method, "/login", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if got := CrossSitePost(r, issuer) != ""; got != tc.refused {
			t.Errorf("%s Origin=%q Sec-Fetch-Site=%q: refused %v, want %v", tc.method, tc.origin, tc.site, got, tc.refused)
		}
	}
}

// TestOriginsDesktopShells: origins that browsers in desktop shells send pass once listed.
func TestOriginsDesktopShells(t *testing.T) {
	listed := []string{"tauri://localhost", "vscode-webview://1a2b3c", "app://x"}
	o := NewOrigins("https://auth.example.com", listed)
	for _, origin := range listed {
		if !o.Allowed(origin) {
			t.Errorf("Allowed(%q) = false with it in allowed_origins", origin)
		}
		if NewOrigins("https://auth.example.com", nil).Allowed(origin) {
			t.Errorf("Allowed(%q) = true without it in allowed_origins", origin)
		}
	}
}
