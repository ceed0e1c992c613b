package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/conexor/conexor/internal/config"
	"github.com/conexor/conexor/internal/testenv"
	"github.com/conexor/conexor/provider"
)

// crmScope is the README's example: tools/call of the search and get tools only, and
// resources under one prefix.
var crmScope = provider.Scope{Name: "crm:read", Description: "Search and read CRM contacts",
	Tools: []string{"search_*", "get_*"}, Resources: []string{"crm://contacts/"}}

// NameInput is the argument of the CRM upstream's tools.
type NameInput struct {
	Name string `json:"name"`
}

// newCRMUpstream starts a go-sdk MCP server with three tools, resources inside and outside
// crm:read's prefix, two templates, a prompt with argument completion. It records which
// tools ran, so a test can tell that a refused call never reached it. jsonResponse makes
// it answer in JSON bodies instead of SSE streams.
func newCRMUpstream(t *testing.T, jsonResponse bool) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu  sync.Mutex
		ran []string
	)
	srv := sdk.NewServer(&sdk.Implementation{Name: "crm", Version: "1"}, &sdk.ServerOptions{
		CompletionHandler: func(_ context.Context, req *sdk.CompleteRequest) (*sdk.CompleteResult, error) {
			var out []string
			for _, r := range []string{"EMEA", "Europe", "North America"} {
				if strings.HasPrefix(r, req.Params.Argument.Value) {
					out = append(out, r)
				}
			}
			return &sdk.CompleteResult{Completion: sdk.CompletionResultDetails{Values: out}}, nil
		},
	})
	for _, name := range []string{"search_contacts", "get_contact", "delete_contact"} {
		sdk.AddTool(srv, &sdk.Tool{Name: name, Description: name},
			func(_ context.Context, _ *sdk.CallToolRequest, in NameInput) (*sdk.CallToolResult, any, error) {
				mu.Lock()
				ran = append(ran, name)
				mu.Unlock()
				return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + " " + in.Name}}}, nil, nil
			})
	}
	read := func(_ context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "record " + req.Params.URI}}}, nil
	}
	srv.AddResource(&sdk.Resource{URI: "crm://contacts/1", Name: "contact-1", MIMEType: "text/plain"}, read)
	srv.AddResource(&sdk.Resource{URI: "crm://deals/1", Name: "deal-1", MIMEType: "text/plain"}, read)
	srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: "crm://contacts/{id}", Name: "contact"}, read)
	srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: "crm://deals/{id}", Name: "deal"}, read)
	srv.AddPrompt(&sdk.Prompt{Name: "summary", Arguments: []*sdk.PromptArgument{{Name: "region"}}},
		func(_ context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user",
				Content: &sdk.TextContent{Text: "Summarise sales in " + req.Params.Arguments["region"]}}}}, nil
		})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{JSONResponse: jsonResponse}))
	t.Cleanup(ts.Close)
	return ts, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ran)
	}
}

// TestScopesDownToTheTool drives a go-sdk client through the real gate to a go-sdk upstream
// with a token whose only tools and resources scope is crm:read: the lists show only what
// it may use (the gate filters the upstream's answers, in JSON and in SSE), a call of
// another tool and a read outside the prefix are refused and never reach the upstream, and
// prompts and completions work with the built-in mcp:prompts:read. A token with the
// built-in scopes still sees and may use everything. On SQLite and Postgres.
//
// The list filtering needs the proxy to apply the gate's edits (the relay of issue 13).
func TestScopesDownToTheTool(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, jsonResponse := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/json=%v", db, jsonResponse), func(t *testing.T) {
				testScopesDownToTheTool(t, testenv.Options{Postgres: db == "postgres"}, jsonResponse)
			})
		}
	}
}

func testScopesDownToTheTool(t *testing.T, opts testenv.Options, jsonResponse bool) {
	upstream, ran := newCRMUpstream(t, jsonResponse)
	opts.Configure = func(c *config.Config) { c.Scopes = []provider.Scope{crmScope} }
	e := testenv.New(t, opts)
	srv := e.CreateServer("acme/crm")
	srv.Upstream = upstream.URL
	if err := e.Store.UpdateServer(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	id, secret := e.CreateServerClient("acme/crm", provider.ScopeToolsRead, provider.ScopeToolsExecute,
		provider.ScopeResourcesRead, provider.ScopePromptsRead, crmScope.Name)
	endpoint := e.URL + "/mcp/acme/crm"
	ctx := context.Background()

	// mcp:tools:read lists every tool; with crm:read besides, only crm:read's.
	limited := ccToken(t, e, id, secret, provider.ScopeToolsRead, crmScope.Name, provider.ScopePromptsRead)
	cs := connect(t, e, endpoint, limited, "")
	if diff := cmp.Diff([]string{"get_contact", "search_contacts"}, toolNames(t, cs)); diff != "" {
		t.Errorf("tools/list with crm:read (-want +got):\n%s", diff)
	}
	if got := resourceURIs(t, cs); !cmp.Equal(got, []string{"crm://contacts/1"}) {
		t.Errorf("resources/list with crm:read = %v, want only crm://contacts/1", got)
	}
	if got := templateURIs(t, cs); !cmp.Equal(got, []string{"crm://contacts/{id}"}) {
		t.Errorf("resources/templates/list with crm:read = %v, want only crm://contacts/{id}", got)
	}

	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "search_contacts", Arguments: NameInput{Name: "ada"}})
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "search_contacts ada" {
		t.Fatalf("tools/call search_contacts = %+v, %v", res, err)
	}
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete_contact", Arguments: NameInput{Name: "ada"}}); err == nil {
		t.Error("tools/call delete_contact with crm:read succeeded")
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "crm://contacts/1"})
	if err != nil || rr.Contents[0].Text != "record crm://contacts/1" {
		t.Fatalf("resources/read inside the prefix = %+v, %v", rr, err)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "crm://deals/1"}); err == nil {
		t.Error("resources/read outside the prefix succeeded")
	}

	// The built-in mcp:prompts:read opens prompts and completions.
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "summary" {
		t.Fatalf("prompts/list = %+v, %v", prompts, err)
	}
	pr, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "summary", Arguments: map[string]string{"region": "EMEA"}})
	if err != nil || pr.Messages[0].Content.(*sdk.TextContent).Text != "Summarise sales in EMEA" {
		t.Fatalf("prompts/get = %+v, %v", pr, err)
	}
	cr, err := cs.Complete(ctx, &sdk.CompleteParams{Ref: &sdk.CompleteReference{Type: "ref/prompt", Name: "summary"},
		Argument: sdk.CompleteParamsArgument{Name: "region", Value: "E"}})
	if err != nil || !cmp.Equal(cr.Completion.Values, []string{"EMEA", "Europe"}) {
		t.Fatalf("completion/complete = %+v, %v", cr, err)
	}

	// The refusals as the wire shows them: 403 naming the scope that would grant the call.
	for _, tc := range []struct{ body, scope string }{
		{`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_contact","arguments":{"name":"x"}}}`, provider.ScopeToolsExecute},
		{`{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"crm://deals/1"}}`, provider.ScopeResourcesRead},
		{`{"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"crm://contacts/../deals/1"}}`, provider.ScopeResourcesRead},
	} {
		r := rpc(t, e, "/mcp/acme/crm", limited, tc.body)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="`+tc.scope+`"`) {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 403 naming %s", tc.body, r.StatusCode, r.Header.Get("WWW-Authenticate"), tc.scope)
		}
	}
	if got := ran(); !cmp.Equal(got, []string{"search_contacts"}) {
		t.Errorf("the upstream ran %v, want only search_contacts: a refused call reached it", got)
	}

	// The built-in scopes: every tool and resource, unfiltered.
	full := ccToken(t, e, id, secret, provider.ScopeToolsRead, provider.ScopeToolsExecute, provider.ScopeResourcesRead, crmScope.Name)
	cs = connect(t, e, endpoint, full, legacyProtocol)
	if diff := cmp.Diff([]string{"delete_contact", "get_contact", "search_contacts"}, toolNames(t, cs)); diff != "" {
		t.Errorf("tools/list with mcp:tools:execute (-want +got):\n%s", diff)
	}
	if got := resourceURIs(t, cs); !cmp.Equal(got, []string{"crm://contacts/1", "crm://deals/1"}) {
		t.Errorf("resources/list with mcp:resources:read = %v, want both", got)
	}
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete_contact", Arguments: NameInput{Name: "ada"}}); err != nil {
		t.Errorf("tools/call delete_contact with mcp:tools:execute: %v", err)
	}
	// Without mcp:prompts:read, prompts are refused with the scope to ask for.
	r := rpc(t, e, "/mcp/acme/crm", full, `{"jsonrpc":"2.0","id":8,"method":"prompts/list"}`)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="mcp:prompts:read"`) {
		t.Errorf("prompts/list without mcp:prompts:read: status %d, WWW-Authenticate %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	slices.Sort(out)
	return out
}

func resourceURIs(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListResources(context.Background(), nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	var out []string
	for _, r := range res.Resources {
		out = append(out, r.URI)
	}
	slices.Sort(out)
	return out
}

func templateURIs(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListResourceTemplates(context.Background(), nil)
	if err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	}
	var out []string
	for _, r := range res.ResourceTemplates {
		out = append(out, r.URITemplate)
	}
	slices.Sort(out)
	return out
}

// TestRedefinedToolsExecute: an operator narrows mcp:tools:execute to some tools of the
// built-in demo server. A call of one of them passes; a call of a tool no scope grants gets
// what a call of a method no scope grants gets - a JSON-RPC "method not found" in a 200,
// no step-up challenge, since no scope would help - and never reaches the backend.
func TestRedefinedToolsExecute(t *testing.T) {
	e := testenv.New(t, testenv.Options{Configure: func(c *config.Config) {
		c.Scopes = []provider.Scope{{Name: provider.ScopeToolsExecute, Tools: []string{"list_*", "describe_*"}}}
	}})
	token := ccToken(t, e, e.ClientID, e.ClientSecret, provider.ScopeToolsRead, provider.ScopeToolsExecute)

	r := rpc(t, e, salesPath, token, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tables","arguments":{}}}`)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.Body), "customers") {
		t.Fatalf("list_tables: status %d: %s", r.StatusCode, r.Body)
	}
	r = rpc(t, e, salesPath, token, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_query","arguments":{"sql":"SELECT 1"}}}`)
	if r.StatusCode != http.StatusOK || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("run_query: status %d, WWW-Authenticate %q; want 200 without a challenge", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if got := decodeRPCError(t, r); string(got.ID) != "2" || got.Error.Code != -32601 ||
		got.Error.Message != `Method not found: no scope on this server grants tools/call of "run_query"` {
		t.Errorf("run_query body %s", r.Body)
	}
	// The description of the redefined scope is the built-in one.
	if sc, _ := e.Provider.Scopes().Get(provider.ScopeToolsExecute); sc.Description != "Execute tools (query data)" || len(sc.Methods) != 0 {
		t.Errorf("redefined scope = %+v", sc)
	}
}
