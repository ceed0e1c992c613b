// Package interop runs real MCP clients against a real `conexor serve`: the binary is built
// once, and every test starts it on a free loopback port with its own SQLite database.
package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	adminEmail    = "admin@acme.test"
	adminPassword = "interop-password-0123"
)

// binary is the conexor binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "conexor-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "conexor")
	build := exec.Command("go", "build", "-o", binary, "./cmd/conexor")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/conexor: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `conexor serve`.
type server struct {
	t   *testing.T
	URL string // the issuer: http://127.0.0.1:PORT
	env []string

	mu  sync.Mutex
	out bytes.Buffer
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// MCPURL is the MCP endpoint of org/server.
func (s *server) MCPURL(path string) string { return s.URL + "/mcp/" + path }

// startServer runs `conexor serve` on a free port with a fresh database and the demo data,
// and stops it when the test ends; its output is logged if the test failed. env adds
// variables (NAME=value) to its environment.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	secret := make([]byte, 48)
	_, _ = rand.Read(secret)
	s := &server{t: t, URL: "http://" + addr}
	s.env = append(os.Environ(),
		"CONEXOR_DATABASE_URL=sqlite://"+filepath.Join(t.TempDir(), "conexor.db"),
		"CONEXOR_SECRET="+base64.RawURLEncoding.EncodeToString(secret),
		"CONEXOR_ADMIN_PASSWORD="+adminPassword,
		"CONEXOR_ISSUER="+s.URL,
		"CONEXOR_LOG_LEVEL=info",
	)
	s.env = append(s.env, env...)
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", s.URL)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(25 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			s.mu.Lock()
			t.Logf("conexor serve output:\n%s", s.out.String())
			s.mu.Unlock()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("conexor serve exited: %v\n%s", err, s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("conexor serve did not become ready at %s", s.URL)
		}
	}
}

// cli runs a conexor admin command against the server's database and returns its standard
// output.
func (s *server) cli(args ...string) []byte {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("conexor %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// createClient runs `conexor clients create --json` and returns the client's ID and secret.
func (s *server) createClient(args ...string) (id, secret string) {
	s.t.Helper()
	out := s.cli(append([]string{"clients", "create", "--json"}, args...)...)
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" {
		s.t.Fatalf("clients create --json printed %q (%v)", out, err)
	}
	return c.ClientID, c.ClientSecret
}

// browser is a headless person with a cookie jar: it follows an authorization URL, logs in
// as the demo admin, and approves on the consent page.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// approval is what the browser saw on its way back to the client.
type approval struct {
	Location string     // the redirect to the client
	Query    url.Values // the redirect's query: code, state, iss (or error)
	Offered  []string   // the scopes the consent page offered ("" if it was skipped)
	LoggedIn bool
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
)

func attrOf(tag, name string) (string, bool) {
	m := regexp.MustCompile(`(?is)\b` + name + `\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))`).FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[2] + m[3] + m[4]), true
}

// form finds the form holding a field named marker and returns its action and the fields a
// browser submits (hidden and text inputs, checked checkboxes).
func form(page, marker string) (action string, fields [][2]string, ok bool) {
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[2], `name="`+marker+`"`) {
			continue
		}
		action, _ = attrOf(m[1], "action")
		for _, tag := range inputRE.FindAllString(m[2], -1) {
			name, _ := attrOf(tag, "name")
			typ, _ := attrOf(tag, "type")
			if name == "" || strings.EqualFold(typ, "submit") {
				continue
			}
			if strings.EqualFold(typ, "checkbox") && !regexp.MustCompile(`(?i)\schecked(\s|>|=|/)`).MatchString(tag) {
				continue
			}
			v, _ := attrOf(tag, "value")
			fields = append(fields, [2]string{name, v})
		}
		return action, fields, true
	}
	return "", nil, false
}

// approve follows authURL until the redirect to redirectURI, logging in and approving every
// offered scope except uncheck.
func (b *browser) approve(ctx context.Context, authURL, redirectURI string, uncheck ...string) (*approval, error) {
	res := &approval{}
	method, target, body := http.MethodGet, authURL, ""
	for step := 0; step < 15; step++ {
		req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(loc.String(), redirectURI) {
				res.Location, res.Query = loc.String(), loc.Query()
				return res, nil
			}
			method, target, body = http.MethodGet, loc.String(), ""
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d at %s:\n%.1500s", resp.StatusCode, target, page)
		}
		post := url.Values{}
		action, fields, ok := form(string(page), "password")
		if ok {
			for _, f := range fields {
				post.Add(f[0], f[1])
			}
			post.Set("email", adminEmail)
			post.Set("password", adminPassword)
			res.LoggedIn = true
		} else if action, fields, ok = form(string(page), "decision"); ok {
			for _, f := range fields {
				if f[0] == "scope" {
					res.Offered = append(res.Offered, f[1])
					if contains(uncheck, f[1]) {
						continue
					}
				}
				post.Add(f[0], f[1])
			}
			post.Set("decision", "approve")
		} else {
			return nil, fmt.Errorf("no login or consent form at %s:\n%.1500s", target, page)
		}
		u, err := req.URL.Parse(action)
		if err != nil {
			return nil, err
		}
		method, target, body = http.MethodPost, u.String(), post.Encode()
	}
	return nil, fmt.Errorf("too many steps following %s", authURL)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
