package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/conexor/conexor/audit"
	"github.com/conexor/conexor/internal/httpx"
	"github.com/conexor/conexor/internal/limit"
	"github.com/conexor/conexor/storage"
)

// MaxRegistrationBytes caps a dynamic registration request body (RFC 7591). Real ones,
// Cursor's three redirect URIs included, are well under 1 KiB.
const MaxRegistrationBytes = 64 << 10

// Registration rate limit per client IP address: 10 a minute, bursts of 20. One MCP client
// registers once per server it connects to; a loop that registers on every start is
// slowed down, not locked out.
const (
	registrationEvery = 6 * time.Second
	registrationBurst = 20
	// maxRedirectURIs bounds how many redirect URIs one registration may carry.
	maxRedirectURIs = 20
)

// ClientMetadata is the client metadata of RFC 7591 section 2 this server registers and
// echoes back. Fields it does not know are ignored (section 3.1.1 lets the server ignore
// them); fields that only matter for features it lacks (jwks, software_statement) are not
// registered.
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	// ApplicationType is OpenID Connect's native/web; the go-sdk sends it.
	ApplicationType string `json:"application_type,omitempty"`
}

// registrationRequest is ClientMetadata plus the members a caller may send but must not
// choose: a present client_secret is refused rather than silently replaced.
type registrationRequest struct {
	ClientMetadata
	ClientSecret json.RawMessage `json:"client_secret"`
}

// RegistrationResponse is RFC 7591 section 3.2.1's answer: the credentials and every
// registered field.
type RegistrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
	ClientMetadata
}

// registrationRule is the registration budget of one address (see registrationBurst),
// also spent by client metadata documents seen for the first time (cimd.go).
var registrationRule = limit.Rule{Name: "register-ip", Burst: registrationBurst, Every: registrationEvery}

// allowRegistration takes one registration from ip's budget, or says how long to wait for
// the next. Every attempt costs, good or bad: a registration stores a client either way.
func (p *Provider) allowRegistration(ctx context.Context, ip string) (bool, time.Duration) {
	if d := p.limits.Take(ctx, limit.Charge{Rule: registrationRule, Subject: ip}); d > 0 {
		return false, d
	}
	return true, 0
}

// RegisterHandler serves POST /api/oauth/register, RFC 7591 dynamic client registration.
// A registered client belongs to no MCP server: each authorization names one with the
// resource parameter, and only members of the server's org can approve it. It may ask for
// every scope; the request and the person's consent decide what a token gets.
func (p *Provider) RegisterHandler(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ip := httpx.ClientIP(r)
	// Registration is anonymous (RFC 7591 without an initial access token): the actor is
	// the address and user agent it came from.
	actor := audit.FromRequest(r, audit.KindAnonymous, "", "")
	refuse := func(oe *OAuthError) {
		p.log.InfoContext(ctx, "client registration refused", "ip", ip, "error", oe.Code, "status", oe.Status, "detail", oe.Description)
		if oe.Code != "too_many_requests" {
			// Not the rate limiter's refusals: recording each of a flood would let one
			// address fill the log with its own noise; the limiter's metric counts them.
			p.audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RegistrationRefused, Result: audit.Refused,
				Detail: oe.Code + ": " + httpx.Truncate(oe.Description, 900)})
		}
		WriteOAuthError(w, r, oe)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(oauthErr(http.StatusMethodNotAllowed, "invalid_request",
			"The registration endpoint accepts only POST with a JSON body (RFC 7591); this request used "+r.Method+"."))
		return
	}
	if ok, wait := p.allowRegistration(ctx, ip); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		refuse(oauthErr(http.StatusTooManyRequests, "too_many_requests",
			fmt.Sprintf("Too many client registrations from this address; retry in %d seconds. A client registers once and reuses its client_id.", secs)))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata",
			"Send the client metadata as a JSON object with Content-Type: application/json (RFC 7591 section 3.1)."))
		return
	}
	body, err := httpx.ReadBody(w, r, MaxRegistrationBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			refuse(oauthErr(http.StatusRequestEntityTooLarge, "invalid_client_metadata",
				fmt.Sprintf("The registration request is larger than %d KiB.", MaxRegistrationBytes>>10)))
			return
		}
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata", "The request body could not be read."))
		return
	}
	var req registrationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata", "The body is not a valid client metadata JSON object: "+jsonProblem(err)))
		return
	}
	if field, problem := unstorableText(body); field != "" {
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata", field+" "+problem+"."))
		return
	}
	if req.ClientSecret != nil {
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata",
			"client_secret must not be sent: this server generates the secret of a confidential client and returns it once."))
		return
	}
	md, oe := p.normalizeRegistration(req.ClientMetadata)
	if oe != nil {
		refuse(oe)
		return
	}
	raw, err := json.Marshal(md)
	if err != nil {
		refuse(toOAuthError(err))
		return
	}
	c, secret, err := p.CreateClient(ctx, ClientSpec{
		Name:                    md.ClientName,
		Scopes:                  p.cfg.Scopes.Names(),
		GrantTypes:              md.GrantTypes,
		RedirectURIs:            md.RedirectURIs,
		Public:                  md.TokenEndpointAuthMethod == "none",
		TokenEndpointAuthMethod: md.TokenEndpointAuthMethod,
		Source:                  storage.ClientSourceDynamic,
		Metadata:                string(raw),
	})
	if errors.Is(err, ErrInvalidClientSpec) {
		refuse(oauthErr(http.StatusBadRequest, "invalid_client_metadata", strings.TrimPrefix(err.Error(), ErrInvalidClientSpec.Error()+": ")))
		return
	}
	if err != nil {
		p.log.ErrorContext(ctx, "client registration failed", "ip", ip, "err", err)
		WriteOAuthError(w, r, serverFailure(err, oauthErr(http.StatusInternalServerError, "server_error", "The client could not be registered right now. Try again later.")))
		return
	}
	md.ClientName = c.Name
	p.audit.Record(ctx, audit.Event{Actor: actor, Action: audit.ClientRegistered, Target: c.ID, TargetName: c.Name,
		Detail: "auth method " + md.TokenEndpointAuthMethod})
	p.log.InfoContext(ctx, "client registered", "client_id", c.ID, "name", c.Name, "ip", ip,
		"auth_method", md.TokenEndpointAuthMethod, "redirect_uris", strings.Join(md.RedirectURIs, " "))
	httpx.WriteJSON(w, http.StatusCreated, RegistrationResponse{
		ClientID:         c.ID,
		ClientSecret:     secret,
		ClientIDIssuedAt: c.CreatedAt.Unix(),
		ClientMetadata:   md,
	})
}

// normalizeRegistration validates client metadata and fills in RFC 7591's defaults, except
// grant_types, which defaults to authorization_code and refresh_token (MCP clients always
// want both). The result is what is registered and echoed.
func (p *Provider) normalizeRegistration(md ClientMetadata) (ClientMetadata, *OAuthError) {
	bad := func(format string, args ...any) (ClientMetadata, *OAuthError) {
		return ClientMetadata{}, oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf(format, args...))
	}
	badURI := func(format string, args ...any) (ClientMetadata, *OAuthError) {
		return ClientMetadata{}, oauthErr(http.StatusBadRequest, "invalid_redirect_uri", fmt.Sprintf(format, args...))
	}

	switch md.TokenEndpointAuthMethod {
	case "":
		md.TokenEndpointAuthMethod = "client_secret_basic" // RFC 7591 section 2
	case "none", "client_secret_basic", "client_secret_post":
	default:
		return bad("token_endpoint_auth_method %q is not supported; use none (public client, PKCE), client_secret_basic or client_secret_post.", httpx.Truncate(md.TokenEndpointAuthMethod, 40))
	}

	if len(md.GrantTypes) == 0 {
		md.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	md.GrantTypes = dedupe(md.GrantTypes)
	for _, g := range md.GrantTypes {
		switch g {
		case "authorization_code", "refresh_token":
		case "client_credentials":
			// A registered client belongs to no MCP server and nobody approves its tokens:
			// client_credentials would let anyone on the network mint tokens for any server.
			return bad("grant type client_credentials cannot be registered dynamically; an administrator creates machine-to-machine clients for one MCP server (conexor clients create).")
		default:
			return bad("grant type %q is not supported; register authorization_code and refresh_token.", httpx.Truncate(g, 64))
		}
	}
	if !ExactScopeStrategy(md.GrantTypes, "authorization_code") {
		return bad("grant_types must include authorization_code: it is the only way a registered client gets tokens.")
	}

	if len(md.ResponseTypes) == 0 {
		md.ResponseTypes = []string{"code"}
	}
	md.ResponseTypes = dedupe(md.ResponseTypes)
	if len(md.ResponseTypes) != 1 || md.ResponseTypes[0] != "code" {
		return bad("response_types must be [\"code\"]: only the authorization code flow with PKCE is supported.")
	}

	if len(md.RedirectURIs) == 0 {
		return badURI("redirect_uris is required: at least one redirect URI for the authorization code flow.")
	}
	md.RedirectURIs = dedupe(md.RedirectURIs)
	if len(md.RedirectURIs) > maxRedirectURIs {
		return badURI("At most %d redirect URIs can be registered.", maxRedirectURIs)
	}
	for _, u := range md.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return badURI("%s: %v.", httpx.Truncate(u, 200), err)
		}
	}

	md.ClientName = strings.TrimSpace(md.ClientName)
	if len(md.ClientName) > 200 {
		return bad("client_name is longer than 200 characters.")
	}
	if strings.IndexFunc(md.ClientName, unicode.IsControl) >= 0 {
		return bad("client_name must not contain control characters.")
	}
	for _, f := range []struct{ name, value string }{
		{"client_uri", md.ClientURI}, {"logo_uri", md.LogoURI}, {"tos_uri", md.TOSURI}, {"policy_uri", md.PolicyURI},
	} {
		if f.value == "" {
			continue
		}
		// These may be shown as links or images on the consent page: web URLs only.
		u, err := url.Parse(f.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(f.value) > 2000 {
			return bad("%s must be an absolute http(s) URL.", f.name)
		}
	}
	if len(md.Contacts) > 10 {
		return bad("contacts may list at most 10 entries.")
	}
	for _, c := range md.Contacts {
		if len(c) > 320 {
			return bad("each contact must be at most 320 characters.")
		}
	}
	if len(md.SoftwareID) > 200 || len(md.SoftwareVersion) > 200 {
		return bad("software_id and software_version must be at most 200 characters.")
	}
	switch md.ApplicationType {
	case "", "native", "web":
	default:
		return bad("application_type must be native or web.")
	}
	// The client may request any scope at authorization time; what it asked for here (often
	// only unknown ones such as "claudeai") does not narrow that. The echo says what it may
	// request.
	md.Scope = strings.Join(p.cfg.Scopes.Names(), " ")
	return md, nil
}

// registeredFields are the JSON names of ClientMetadata: the members that are stored.
var registeredFields = func() []string {
	t := reflect.TypeFor[ClientMetadata]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}()

// unstorableText finds a registered member whose text no database can store: invalid
// UTF-8 (encoding/json would quietly turn it into U+FFFD, so the raw bytes are checked)
// or a NUL character (PostgreSQL text refuses both, SQLSTATE 22021, which would be a
// 500). It returns the member's name and what is wrong, or "" when all is well. Unknown
// members are ignored as everywhere else: they are not stored.
func unstorableText(body []byte) (field, problem string) {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return "", ""
	}
	for _, name := range registeredFields {
		raw, ok := members[name]
		if !ok {
			continue
		}
		if !utf8.Valid(raw) {
			return name, "must be valid UTF-8"
		}
		var v any
		if json.Unmarshal(raw, &v) == nil && containsNUL(v) {
			return name, "must not contain NUL characters"
		}
	}
	return "", ""
}

func containsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if containsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || containsNUL(e) {
				return true
			}
		}
	}
	return false
}

// jsonProblem describes a JSON decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		field := te.Field[strings.LastIndex(te.Field, ".")+1:] // "ClientMetadata.redirect_uris"
		return fmt.Sprintf("%s must be a JSON %s.", field, jsonKind(field))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d.", se.Offset)
	}
	return "it must be one JSON object."
}

func jsonKind(field string) string {
	switch field {
	case "redirect_uris", "grant_types", "response_types", "contacts":
		return "array of strings"
	}
	return "string"
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
