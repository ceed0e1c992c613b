package connect

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// browserFlow gets tokens with the authorization code grant, PKCE (S256) and the resource
// indicator, the person approving in their browser; the code comes back to a listener on
// 127.0.0.1 (RFC 8252 7.3). Refresh tokens renew the access token a minute before it
// expires; when that fails, or the server wants more scopes, the browser flow runs again.
// The client it registered and the newest refresh token are saved (stateFile) for the next
// start, which refreshes instead of registering and asking the person again.
type browserFlow struct {
	disc    *discovery
	client  *http.Client
	ctx     context.Context // carries the HTTP client, for the token endpoint
	log     *slog.Logger
	open    func(ctx context.Context, url string) error
	stderr  io.Writer
	timeout time.Duration

	ln       net.Listener
	srv      *http.Server
	redirect string

	state        *stateFile
	stateMu      sync.Mutex
	saved        savedState // what state holds, under stateMu
	cachedClient bool       // the client ID came from state, not from the options

	mu        sync.Mutex
	cfg       oauth2.Config
	ts        oauth2.TokenSource
	access    string // the access token installed last
	refresh   *refresher
	pending   map[string]chan callbackResult
	authLock  sync.Mutex // one browser flow at a time
	renewLock sync.Mutex // one renewal after a 401 at a time
}

type callbackResult struct {
	code string
	err  error
}

func newBrowserFlow(ctx context.Context, d *discovery, c *http.Client, opts Options) (*browserFlow, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the authorization callback: %w", err)
	}
	b := &browserFlow{
		disc: d, client: c, log: opts.Log, open: opts.OpenBrowser, stderr: opts.Stderr, timeout: opts.AuthTimeout,
		ctx:      context.WithValue(context.Background(), oauth2.HTTPClient, c),
		ln:       ln,
		redirect: "http://" + ln.Addr().String() + "/callback",
		pending:  map[string]chan callbackResult{},
	}
	b.state = newStateFile(opts.StateDir, d.resource)
	saved, err := b.state.load()
	if err != nil {
		b.log.Warn("ignoring the saved state of conexor connect", "path", b.state.path, "err", err)
	}
	if saved.Resource != d.resource || saved.Issuer != d.asm.Issuer {
		saved = savedState{}
	}
	reg := registration{clientID: opts.ClientID, secret: opts.ClientSecret, style: authStyleFor(opts.ClientSecret, d.asm.TokenEndpointAuthMethodsSupported)}
	switch {
	case reg.clientID != "":
		if saved.ClientID != reg.clientID {
			saved = savedState{} // a refresh token of another client
		}
	case opts.ClientMetadataURL != "" && d.asm.ClientIDMetadataDocumentSupported:
		// A client ID metadata document: the URL is the client ID, nothing to register.
		reg = registration{clientID: opts.ClientMetadataURL, style: oauth2.AuthStyleInParams}
		if saved.ClientID != reg.clientID {
			saved = savedState{}
		}
	case saved.ClientID != "":
		reg.clientID, b.cachedClient = saved.ClientID, true
		b.log.Info("reusing the client registered before", "client_id", reg.clientID)
	default:
		if reg, err = b.registerClient(ctx); err != nil {
			ln.Close()
			return nil, err
		}
	}
	b.saved = savedState{Resource: d.resource, Issuer: d.asm.Issuer, ClientID: reg.clientID, RefreshToken: saved.RefreshToken}
	if reg.dynamicSecret {
		// A registered confidential client: its secret is not kept, so neither is the
		// client; the next start registers again.
		b.state = nil
	}
	if saved.ClientID != reg.clientID {
		b.saveState()
	}
	b.cfg = oauth2.Config{
		ClientID:     reg.clientID,
		ClientSecret: reg.secret,
		Endpoint:     oauth2.Endpoint{AuthURL: d.asm.AuthorizationEndpoint, TokenURL: d.asm.TokenEndpoint, AuthStyle: reg.style},
		RedirectURL:  b.redirect,
		Scopes:       chooseScopes(opts.Scopes, d, opts.ClientID != ""),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", b.callback)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the callback listener.
func (b *browserFlow) Close() error { return b.srv.Close() }

// registration is the client the browser flow acts as.
type registration struct {
	clientID, secret string
	style            oauth2.AuthStyle
	dynamicSecret    bool // the secret came from dynamic registration
}

// authStyleFor picks how a client with a secret authenticates at the token endpoint from
// the methods the server supports: client_secret_basic (RFC 6749's default) unless only
// client_secret_post is offered. Without a secret the client ID goes in the form.
func authStyleFor(secret string, supported []string) oauth2.AuthStyle {
	if secret == "" {
		return oauth2.AuthStyleInParams
	}
	if !slices.Contains(supported, "client_secret_basic") && slices.Contains(supported, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// authStyleOf is the style of the token_endpoint_auth_method a registration returned
// (RFC 7591 section 2: client_secret_basic when absent).
func authStyleOf(method string) oauth2.AuthStyle {
	switch method {
	case "client_secret_post", "none":
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

// chooseScopes is the scope the browser flow asks for (MCP 2025-11-25, "Scope Selection
// Strategy"): the person's --scopes, else the 401 challenge's scope, else the resource's
// scopes_supported. A pre-registered client, whose allowed scopes connect cannot know, asks
// for none instead of scopes_supported: the authorization server then grants what the
// client may have, where scopes_supported would be refused as soon as the client may have
// only some of them (invalid_scope).
func chooseScopes(explicit []string, d *discovery, preregistered bool) []string {
	switch {
	case len(explicit) > 0:
		return explicit
	case len(d.challengeScopes) > 0:
		return d.challengeScopes
	case preregistered:
		return nil
	default:
		return d.prm.ScopesSupported
	}
}

// registerClient registers a client for the loopback redirect (RFC 7591). It asks for a
// public client; when the server answers with a secret and an authentication method
// instead, those are what the client uses.
func (b *browserFlow) registerClient(ctx context.Context) (registration, error) {
	d := b.disc
	if d.asm.RegistrationEndpoint == "" {
		return registration{}, fmt.Errorf("the authorization server %s does not offer dynamic client registration: ask its operator for a client (conexor clients create --public --redirect-uri http://127.0.0.1/callback) and set CONEXOR_CLIENT_ID", d.asm.Issuer)
	}
	host, _ := os.Hostname()
	reg, err := oauthex.RegisterClient(ctx, d.asm.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		ClientName:              strings.TrimSpace("conexor connect " + host),
		RedirectURIs:            []string{b.redirect},
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ApplicationType:         "native",
	}, b.client)
	if err != nil {
		return registration{}, fmt.Errorf("the authorization server refused to register conexor connect at %s (%v): ask its operator for a client and set CONEXOR_CLIENT_ID", d.asm.RegistrationEndpoint, err)
	}
	out := registration{clientID: reg.ClientID, secret: reg.ClientSecret, style: oauth2.AuthStyleInParams}
	if reg.ClientSecret != "" {
		out.style, out.dynamicSecret = authStyleOf(reg.TokenEndpointAuthMethod), true
	}
	b.log.Info("registered a client", "client_id", reg.ClientID, "token_endpoint_auth_method", reg.TokenEndpointAuthMethod)
	return out, nil
}

// start gets the first token: with the saved refresh token if there is one, else (or when
// the server no longer takes it) in the browser. A saved client the server no longer knows
// is registered again.
func (b *browserFlow) start(ctx context.Context) error {
	b.stateMu.Lock()
	rt := b.saved.RefreshToken
	b.stateMu.Unlock()
	if rt != "" {
		b.mu.Lock()
		cfg := b.cfg
		b.mu.Unlock()
		r := b.newRefresher(cfg, rt)
		tok, err := r.Token()
		if err == nil {
			b.log.Info("authorized with the saved refresh token", "client_id", cfg.ClientID)
			b.use(tok, r)
			return nil
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_client" && b.cachedClient {
			b.log.Warn("the server no longer knows the saved client; registering again", "client_id", cfg.ClientID)
			reg, err := b.registerClient(ctx)
			if err != nil {
				return err
			}
			b.mu.Lock()
			b.cfg.ClientID, b.cfg.ClientSecret, b.cfg.Endpoint.AuthStyle = reg.clientID, reg.secret, reg.style
			b.mu.Unlock()
			b.stateMu.Lock()
			b.saved.ClientID = reg.clientID
			b.stateMu.Unlock()
		} else {
			b.log.Warn("the saved refresh token no longer works; authorizing again in the browser", "err", err)
		}
		b.saveRefreshToken("")
	}
	return b.authorize(ctx, nil)
}

func (b *browserFlow) newRefresher(cfg oauth2.Config, token string) *refresher {
	return &refresher{cfg: cfg, ctx: b.ctx, token: token, log: b.log, rotated: b.saveRefreshToken}
}

// saveRefreshToken keeps the newest refresh token for the next start ("" forgets it).
func (b *browserFlow) saveRefreshToken(token string) {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.saved.RefreshToken = token
	b.saveLocked()
}

func (b *browserFlow) saveState() {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.saveLocked()
}

func (b *browserFlow) saveLocked() {
	if err := b.state.save(b.saved); err != nil {
		b.log.Warn("could not save the state of conexor connect; the next start authorizes again", "path", b.state.path, "err", err)
	}
}

// TokenSource implements auth.OAuthHandler.
func (b *browserFlow) TokenSource(context.Context) (oauth2.TokenSource, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ts, nil
}

// Authorize implements auth.OAuthHandler: a 401 is answered with a refresh (then the
// browser, if the refresh token is gone), a 403 insufficient_scope with a new browser flow
// for the wider scope (step-up).
func (b *browserFlow) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer discard(resp)
	code, scopes := challengeOf(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		b.renewLock.Lock() // one renewal for concurrent 401s
		defer b.renewLock.Unlock()
		b.mu.Lock()
		r, current := b.refresh, b.access
		b.mu.Unlock()
		if current != "" && current != bearerOf(req) {
			return nil // renewed meanwhile, for a concurrent request: retry with that token
		}
		if r != nil {
			// Refresh once. The transport retries only once, and a second 401 ends the
			// session, so the refreshed token is checked first; if the server refuses it
			// too, the browser flow runs now.
			tok, err := r.Token()
			switch {
			case err != nil:
				b.log.Warn("refreshing the access token failed; authorizing again in the browser", "err", err)
			case !b.accepted(ctx, req, tok.AccessToken):
				b.log.Warn("the MCP server refused the refreshed access token too; authorizing again in the browser")
			default:
				b.use(tok, r)
				return nil
			}
		}
		return b.authorize(ctx, nil)
	case resp.StatusCode == http.StatusForbidden && code == "insufficient_scope" && len(scopes) > 0:
		b.mu.Lock()
		asked := b.cfg.Scopes
		b.mu.Unlock()
		if len(asked) > 0 && !slices.ContainsFunc(scopes, func(s string) bool { return !slices.Contains(asked, s) }) {
			// Step-up would ask for nothing new: the server refuses what it granted.
			return fmt.Errorf("the MCP server refuses the request even with the scope %q, which this token has: ask the server's operator", strings.Join(scopes, " "))
		}
		b.log.Info("the MCP server asks for more scopes; authorizing again in the browser", "scope", strings.Join(scopes, " "))
		return b.authorize(ctx, scopes)
	}
	return nil
}

// authorize runs the browser flow, asking for the current scopes plus extra.
func (b *browserFlow) authorize(ctx context.Context, extra []string) error {
	b.authLock.Lock()
	defer b.authLock.Unlock()
	b.mu.Lock()
	b.cfg.Scopes = union(b.cfg.Scopes, extra)
	cfg := b.cfg
	b.mu.Unlock()

	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", b.disc.resource))
	ch := make(chan callbackResult, 1)
	b.mu.Lock()
	b.pending[state] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, state)
		b.mu.Unlock()
	}()

	b.log.Info("authorization needed in the browser", "resource", b.disc.resource, "url", authURL)
	if err := b.open(ctx, authURL); err != nil {
		fmt.Fprintf(b.stderr, "\nconexor connect needs your approval to use %s, but could not open a browser (%v).\nOpen this URL in a browser yourself:\n\n  %s\n\n", b.disc.resource, err, authURL)
	} else {
		fmt.Fprintf(b.stderr, "\nconexor connect opened your browser to approve access to %s.\nIf no browser window appeared, open this URL yourself:\n\n  %s\n\n", b.disc.resource, authURL)
	}
	wait := time.NewTimer(b.timeout)
	defer wait.Stop()
	var res callbackResult
	select {
	case res = <-ch:
	case <-ctx.Done():
		return ctx.Err()
	case <-wait.C:
		return fmt.Errorf("no approval within %s: restart the MCP client, then open the URL conexor connect prints in a browser and approve the access", b.timeout)
	}
	if res.err != nil {
		return res.err
	}
	tok, err := cfg.Exchange(b.ctx, res.code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", b.disc.resource))
	if err != nil {
		return fmt.Errorf("the authorization server %s refused to issue a token for the approval (%w): restart the MCP client to try again; if it persists, ask the server's operator", b.disc.asm.Issuer, err)
	}
	b.log.Info("access token obtained", "grant_type", "authorization_code", "expires", tok.Expiry.Format(time.RFC3339),
		"scope", tok.Extra("scope"), "refresh_token", tok.RefreshToken != "")
	var r *refresher
	if tok.RefreshToken != "" {
		r = b.newRefresher(cfg, tok.RefreshToken)
	}
	b.saveRefreshToken(tok.RefreshToken)
	b.use(tok, r)
	return nil
}

// use installs tok, renewed early through r (nil: no refresh token; the transport's 401
// sends the person back to the browser).
func (b *browserFlow) use(tok *oauth2.Token, r *refresher) {
	var src oauth2.TokenSource = oauth2.StaticTokenSource(tok)
	if r != nil {
		src = r
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh, b.access = r, tok.AccessToken
	b.ts = oauth2.ReuseTokenSourceWithExpiry(tok, tokenFunc(func() (*oauth2.Token, error) {
		t, err := src.Token()
		if err == nil {
			b.mu.Lock()
			b.access = t.AccessToken
			b.mu.Unlock()
		}
		return t, err
	}), renewEarly(tok))
}

// callback receives the authorization response (RFC 6749 4.1.2, RFC 9207 iss).
func (b *browserFlow) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b.mu.Lock()
	ch, ok := b.pending[q.Get("state")]
	b.mu.Unlock()
	page := func(status int, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>conexor connect</title><p>%s</p>\n", html.EscapeString(msg))
	}
	if !ok {
		page(http.StatusBadRequest, "This authorization response does not belong to a pending request of conexor connect. Start again from your MCP client.")
		return
	}
	var res callbackResult
	switch iss := q.Get("iss"); {
	case q.Get("error") != "":
		res.err = refusedError(q.Get("error"), q.Get("error_description"))
	case iss != "" && iss != b.disc.asm.Issuer:
		res.err = fmt.Errorf("authorization response from issuer %q, expected %q (RFC 9207)", iss, b.disc.asm.Issuer)
	case iss == "" && b.disc.asm.AuthorizationResponseIssParameterSupported:
		res.err = errors.New("the authorization response lacks the iss parameter its server promises (RFC 9207)")
	case q.Get("code") == "":
		res.err = errors.New("the authorization response has no code")
	default:
		res.code = q.Get("code")
	}
	select {
	case ch <- res:
	default: // answered already
	}
	if res.err != nil {
		page(http.StatusBadRequest, "Authorization failed: "+res.err.Error())
		return
	}
	page(http.StatusOK, "conexor connect is authorized. You can close this window.")
}

// refresher uses the refresh token grant, keeping the newest refresh token (public clients'
// refresh tokens rotate), and hands each new one to rotated.
type refresher struct {
	cfg     oauth2.Config
	ctx     context.Context
	log     *slog.Logger
	rotated func(token string)
	mu      sync.Mutex
	token   string
}

func (r *refresher) Token() (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tok, err := r.cfg.TokenSource(r.ctx, &oauth2.Token{RefreshToken: r.token}).Token()
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != r.token {
		r.token = tok.RefreshToken
		if r.rotated != nil {
			r.rotated(r.token)
		}
	}
	r.log.Info("access token refreshed", "expires", tok.Expiry.Format(time.RFC3339))
	return tok, nil
}

// openSystemBrowser opens url in the default browser. Its output must not reach standard
// output, which carries the protocol.
func openSystemBrowser(_ context.Context, url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// refusedError says what the authorization server refused and what to do next.
func refusedError(code, desc string) error {
	next := "ask the server's operator, then restart the MCP client"
	switch code {
	case "access_denied":
		next = "approve the access in the browser (only members of the server's organization can), then restart the MCP client"
	case "invalid_scope":
		next = "set CONEXOR_SCOPES to scopes the client may have (or ask the operator to give the client these), then restart the MCP client"
	case "unauthorized_client", "invalid_client":
		next = "check CONEXOR_CLIENT_ID: the client must be a public client with the redirect URI http://127.0.0.1/callback"
	}
	return fmt.Errorf("the authorization server refused: %s %s: %s", code, desc, next)
}

// accepted reports whether the MCP server takes token: a ping in the refused request's
// session, whose answer is only looked at for a 401.
func (b *browserFlow) accepted(ctx context.Context, refused *http.Request, token string) bool {
	ctx, cancel := context.WithTimeout(ctx, discoveryStepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, refused.URL.String(), strings.NewReader(`{"jsonrpc":"2.0","id":"conexor-connect-token-check","method":"ping"}`))
	if err != nil {
		return false
	}
	for _, h := range []string{"Mcp-Session-Id", "Mcp-Protocol-Version"} {
		if v := refused.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		return true // unknown: let the retry tell
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusUnauthorized
}
