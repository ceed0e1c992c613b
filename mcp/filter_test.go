package mcp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func TestListSpecApply(t *testing.T) {
	tools := listSpec{member: "tools", key: "name", keep: func(n string) bool { return toolMatches([]string{"search_*"}, n) }}
	for _, tc := range []struct {
		name, in, want string // want "" means unchanged (nil)
		err            bool
	}{
		{
			name: "drops the others, keeps every other member and each kept entry as it came",
			in: `{"tools":[{"name":"search_a","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},` +
				`{"name":"delete_a","description":"x"},{"description":"y","name":"search_b"}],"nextCursor":"c2","_meta":{"k":[1,2]}}`,
			want: `{"tools":[{"name":"search_a","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},` +
				`{"description":"y","name":"search_b"}],"nextCursor":"c2","_meta":{"k":[1,2]}}`,
		},
		{name: "all kept: unchanged", in: `{"tools":[{"name":"search_a"}], "nextCursor":"x"}`},
		{name: "empty list: unchanged", in: `{"tools":[]}`},
		{name: "all dropped", in: `{"tools":[{"name":"drop"},{"name":"rm"}]}`, want: `{"tools":[]}`},
		{
			name: "an entry without a string name, or with it in another case too, is dropped",
			in:   `{"tools":[{"name":1},{"title":"search_x"},{"name":"search_x","NAME":"delete"},{"Name":"search_y"},"search_z",{"name":"search_ok"}]}`,
			want: `{"tools":[{"name":"search_ok"}]}`,
		},
		{
			name: "a second list in another case is dropped (a case-insensitive client would read it)",
			in:   `{"tools":[{"name":"search_a"}],"Tools":[{"name":"delete_a"}]}`,
			want: `{"tools":[{"name":"search_a"}]}`,
		},
		{name: "duplicate names in the result", in: `{"tools":[],"tools":[{"name":"delete"}]}`, err: true},
		{name: "a duplicate key in an entry drops it", in: `{"tools":[{"name":"search_a","name":"delete"},{"name":"search_b"}]}`,
			want: `{"tools":[{"name":"search_b"}]}`},
		{name: "list not an array", in: `{"tools":{"name":"delete"}}`, err: true},
		{name: "not an object", in: `[{"name":"delete"}]`, err: true},
		{name: "trailing data", in: `{"tools":[{"name":"x"}]} {}`, err: true},
		{name: "truncated", in: `{"tools":[{"name":"x"}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tools.apply(jsontext.Value(tc.in))
			switch {
			case tc.err:
				if err == nil {
					t.Fatalf("apply = %s, want an error", got)
				}
			case err != nil:
				t.Fatalf("apply: %v", err)
			case tc.want == "" && got != nil:
				t.Errorf("apply = %s, want nil (unchanged)", got)
			case tc.want != "" && string(got) != tc.want:
				t.Errorf("apply =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestTemplateUnder(t *testing.T) {
	prefixes := []string{"crm://contacts/", "notes://"}
	for tmpl, want := range map[string]bool{
		"crm://contacts/{id}":         true,
		"crm://contacts/{id}/notes":   true,
		"crm://contacts/vip/{id}":     true,
		"notes://{+path}":             true,
		"crm://{kind}/{id}":           false, // could expand outside the prefix
		"{+uri}":                      false,
		"crm://contacts/../{id}":      false,
		"crm://contacts/%2e%2e/{id}":  false,
		"crm://contacts-archive/{id}": false,
		"crm://contacts/":             true, // no expression: one URI
	} {
		if got := templateUnder(prefixes, tmpl); got != want {
			t.Errorf("templateUnder(%q) = %v, want %v", tmpl, got, want)
		}
	}
}

// TestListFilter runs the edit the gate builds for each list method and token.
func TestListFilter(t *testing.T) {
	g := &Gateway{policy: NewPolicy(limitedRegistry(t)), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	req := func(m string) Message { return Message{Kind: KindRequest, Method: m, ID: []byte("1")} }
	const (
		toolsResult     = `{"tools":[{"name":"search_a"},{"name":"get_1"},{"name":"delete_a"}],"nextCursor":"n"}`
		resourcesResult = `{"resources":[{"uri":"crm://contacts/1","name":"a"},{"uri":"crm://deals/1","name":"b"},{"uri":"crm://contacts/../deals/2","name":"c"}]}`
		templatesResult = `{"resourceTemplates":[{"uriTemplate":"crm://contacts/{id}","name":"a"},{"uriTemplate":"crm://{kind}/{id}","name":"b"}]}`
	)
	for _, tc := range []struct {
		method, result string
		have           []string
		want           string // "" when no edit applies
	}{
		{"tools/list", toolsResult, []string{"mcp:tools:read"}, ""},
		{"tools/list", toolsResult, []string{"mcp:tools:read", "mcp:tools:execute", "crm:read"}, ""},
		{"tools/list", toolsResult, []string{"mcp:tools:read", "crm:read"}, `{"tools":[{"name":"search_a"},{"name":"get_1"}],"nextCursor":"n"}`},
		{"tools/list", toolsResult, []string{"crm:read"}, `{"tools":[{"name":"search_a"},{"name":"get_1"}],"nextCursor":"n"}`},
		{"tools/list", `{"tools":"bad"}`, []string{"crm:read"}, `{"tools":[]}`}, // unreadable: empty, never whole
		{"resources/list", resourcesResult, []string{"mcp:resources:read"}, ""},
		{"resources/list", resourcesResult, []string{"crm:read"}, `{"resources":[{"uri":"crm://contacts/1","name":"a"}]}`},
		{"resources/templates/list", templatesResult, []string{"crm:read"}, `{"resourceTemplates":[{"uriTemplate":"crm://contacts/{id}","name":"a"}]}`},
		{"resources/templates/list", templatesResult, []string{"crm:read", "mcp:resources:read"}, ""},
		{"prompts/list", `{"prompts":[]}`, []string{"crm:read"}, ""},
	} {
		edit := g.listFilter(req(tc.method), &principal{Scopes: tc.have})
		if tc.want == "" {
			if edit != nil {
				t.Errorf("%s with %v: an edit applies, want none", tc.method, tc.have)
			}
			continue
		}
		if edit == nil {
			t.Errorf("%s with %v: no edit, want one", tc.method, tc.have)
			continue
		}
		if got := edit(context.Background(), jsontext.Value(tc.result)); string(got) != tc.want {
			t.Errorf("%s with %v:\n got %s\nwant %s", tc.method, tc.have, got, tc.want)
		}
	}
	// A notification or response gets no edit, whatever its method.
	if g.listFilter(Message{Kind: KindNotification, Method: "tools/list"}, &principal{Scopes: []string{"crm:read"}}) != nil {
		t.Error("a notification got an edit")
	}
}

// BenchmarkPolicyCheck is the gate's decision of a tools/call on a server with limited
// scopes configured, for a token with the built-in scopes and one with a limited scope.
func BenchmarkPolicyCheck(b *testing.B) {
	p := NewPolicy(limitedRegistry(b))
	call := Message{Kind: KindRequest, Method: "tools/call", ID: []byte("1"), Params: Params{Name: "search_contacts"}}
	for name, have := range map[string][]string{
		"builtin": {"mcp:tools:read", "mcp:tools:execute", "mcp:resources:read", "mcp:prompts:read"},
		"limited": {"mcp:tools:read", "crm:read"},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := p.Check(call, have); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkListFilter is what filtering costs a limited token's tools/list answer of 20
// tools with input schemas (about 6 KB), half of which it may call.
func BenchmarkListFilter(b *testing.B) {
	g := &Gateway{policy: NewPolicy(limitedRegistry(b)), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var sb strings.Builder
	sb.WriteString(`{"tools":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		prefix := "search_"
		if i%2 == 1 {
			prefix = "delete_"
		}
		fmt.Fprintf(&sb, `{"name":"%s%d","description":"Does thing %d to the CRM records it is given.","inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"What to look for"},"limit":{"type":"integer","minimum":1,"maximum":100}},"required":["query"]},"annotations":{"readOnlyHint":true}}`, prefix, i, i)
	}
	sb.WriteString(`],"nextCursor":"abc"}`)
	result := jsontext.Value(sb.String())
	msg := Message{Kind: KindRequest, Method: "tools/list", ID: []byte("1")}
	pr := &principal{Scopes: []string{"mcp:tools:read", "crm:read"}}
	b.SetBytes(int64(len(result)))
	b.ReportAllocs()
	for b.Loop() {
		if out := g.listFilter(msg, pr)(context.Background(), result); len(out) >= len(result) {
			b.Fatal("nothing filtered")
		}
	}
}

// FuzzListSpecApply: whatever an upstream answers, the filter does not panic, and what it
// sends instead is one JSON object whose list holds only entries it keeps, each one of the
// answer's own entries.
func FuzzListSpecApply(f *testing.F) {
	for _, seed := range []string{
		`{"tools":[{"name":"search_a"},{"name":"delete_a"}],"nextCursor":"n"}`,
		`{"tools":[{"name":"search_a","NAME":"x"}],"Tools":[]}`,
		`{"tools":[],"tools":[]}`, `{"tools":{}}`, `[]`, `{`, `{"tools":[{"name":"\u0073earch_x"}]}`,
	} {
		f.Add(seed)
	}
	spec := listSpec{member: "tools", key: "name", keep: func(n string) bool { return toolMatches([]string{"search_*"}, n) }}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := spec.apply(jsontext.Value(in))
		if err != nil || out == nil {
			return
		}
		var got map[string]jsontext.Value
		if err := jsonv2.Unmarshal(out, &got); err != nil {
			t.Fatalf("apply(%q) = %q, not one JSON object: %v", in, out, err)
		}
		for name := range got {
			if name != "tools" && strings.EqualFold(name, "tools") {
				t.Fatalf("apply(%q) = %q kept a list in another case", in, out)
			}
		}
		if got["tools"] == nil {
			return // the answer had only a list in another case, dropped
		}
		var entries []jsontext.Value
		if err := jsonv2.Unmarshal(got["tools"], &entries); err != nil {
			t.Fatalf("apply(%q) = %q: tools is not an array: %v", in, out, err)
		}
		for _, e := range entries {
			var entry struct {
				Name string `json:"name"`
			}
			if err := jsonv2.Unmarshal(e, &entry); err != nil || !strings.HasPrefix(entry.Name, "search_") {
				t.Errorf("apply(%q) kept %s", in, e)
			}
			if !strings.Contains(in, string(e)) {
				t.Errorf("apply(%q) kept %s, which is not in the answer as it came", in, e)
			}
		}
	})
}
