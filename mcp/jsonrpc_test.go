package mcp

import (
	"bytes"
	"encoding/json"
	"testing"

	segjson "github.com/segmentio/encoding/json"
)

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		body   string
		kind   Kind
		method string
		id     string
		code   int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, KindRequest, "tools/list", "1", 0},
		{` {"method":"tools/call","params":{"name":"x","arguments":{"a":[1,{"b":null}]}},"id":"a-1","jsonrpc":"2.0"} `, KindRequest, "tools/call", `"a-1"`, 0},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, KindNotification, "notifications/initialized", "", 0},
		{`{"jsonrpc":"2.0","id":5,"result":{}}`, KindResponse, "", "5", 0},
		{`{"jsonrpc":"2.0","id":5,"error":{"code":-1,"message":"no"}}`, KindResponse, "", "5", 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools\/call"}`, KindRequest, "tools/call", "1", 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall"}`, KindRequest, "tools/call", "1", 0},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","x-extension":{"method":"tools/call"}}`, KindRequest, "ping", "1", 0},

		{``, 0, "", "", CodeParseError},
		{`   `, 0, "", "", CodeParseError},
		{`{`, 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":"ping",}`, 0, "", "", CodeParseError},
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 0, "", "", CodeInvalidRequest},
		{`[`, 0, "", "", CodeParseError},
		{`null`, 0, "", "", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`, 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":1,"a":2}}`, 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","METHOD":"ping"}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"Id":2,"method":"ping"}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"} {}`, 0, "", "", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}x`, 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":null}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":""}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list "}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"tööls/list"}`, 0, "", "1", CodeInvalidRequest},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\xff\"}", 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":"\ud800"}`, 0, "", "", CodeParseError},
		{`{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, "", "", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":{},"method":"ping"}`, 0, "", "", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, 0, "", "1.5", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1e0,"method":"ping"}`, 0, "", "1e0", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1e400,"method":"ping"}`, 0, "", "1e400", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":9007199254740992,"method":"ping"}`, 0, "", "9007199254740992", CodeInvalidRequest},
		// A response echoes the id the upstream chose, whatever it was.
		{`{"jsonrpc":"2.0","id":1.5,"result":{}}`, KindResponse, "", "1.5", 0},
		{`{"jsonrpc":"2.0","id":-9007199254740991,"method":"ping"}`, KindRequest, "ping", "-9007199254740991", 0},
		{`{"jsonrpc":"1.0","id":1,"method":"ping"}`, 0, "", "1", CodeInvalidRequest},
		{`{"id":1,"method":"ping"}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1}`, 0, "", "1", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","result":{}}`, 0, "", "", CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, 0, "", "1", CodeInvalidRequest},
	} {
		m, err := ParseMessage([]byte(tc.body))
		code := 0
		if err != nil {
			code = err.Code
		}
		if code != tc.code || m.Kind != tc.kind || m.Method != tc.method || string(m.ID) != tc.id {
			t.Errorf("ParseMessage(%q) = {%d %q %s}, %v; want {%d %q %s}, code %d",
				tc.body, m.Kind, m.Method, m.ID, err, tc.kind, tc.method, tc.id, tc.code)
		}
	}
}

// FuzzParseMessage checks that whatever ParseMessage accepts, the decoders backends use
// read the same method: the go-sdk's (segmentio, case-sensitive) and encoding/json's
// (case-insensitive, last duplicate wins). A disagreement would let the gate authorize one
// method while the backend runs another. Run with go test -fuzz=FuzzParseMessage ./mcp/.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"run_query","arguments":{"sql":"SELECT 1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":3,"result":{"roots":[]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1,"méthod":"tools/call","method":"ping"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xc0\"}",
		`{"jsonrpc":"2.0","id":1,"method":"ping"}{"method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"ping"}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, rerr := ParseMessage(body)
		if rerr != nil {
			if rerr.Code != CodeParseError && rerr.Code != CodeInvalidRequest {
				t.Fatalf("unexpected code %d", rerr.Code)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		switch m.Kind {
		case KindRequest, KindNotification:
			if !validMethod(m.Method) {
				t.Fatalf("accepted method %q", m.Method)
			}
		case KindResponse:
			if m.Method != "" || len(m.ID) == 0 {
				t.Fatalf("response with method %q id %q", m.Method, m.ID)
			}
		default:
			t.Fatalf("kind %d", m.Kind)
		}

		type wire struct {
			Method *string `json:"method"`
		}
		var seg wire
		dec := segjson.NewDecoder(bytes.NewReader(body))
		dec.DontMatchCaseInsensitiveStructFields()
		if err := dec.Decode(&seg); err != nil {
			t.Fatalf("segmentio rejects what the gate accepted: %v (%q)", err, body)
		}
		var std wire
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("encoding/json rejects what the gate accepted: %v (%q)", err, body)
		}
		for name, got := range map[string]*string{"segmentio": seg.Method, "encoding/json": std.Method} {
			switch {
			case m.Kind == KindResponse && got != nil:
				t.Fatalf("%s reads method %q in what the gate took for a response: %q", name, *got, body)
			case m.Kind != KindResponse && (got == nil || *got != m.Method):
				t.Fatalf("%s reads method %v, the gate %q: %q", name, got, m.Method, body)
			}
		}
	})
}

// The params members the gate authorizes by are read exactly as a backend reads them, and a
// member that differs from one of them only in case is refused: a case-insensitive backend
// could act on it instead.
func TestParseMessageParams(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Params
		code int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_x","arguments":{"q":"a"}}}`,
			Params{Name: "search_x", Arguments: []byte(`{"q":"a"}`)}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"crm://a\/b"}}`, Params{URI: "crm://a/b"}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t-1"}}`, Params{TaskID: "t-1"}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","task":{"ttl":1000}}}`, Params{Name: "x", Task: true}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7,"task":null}}`, Params{}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}`, Params{}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"get-sum"}}`, Params{}, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"URI":"x"}}`, Params{}, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskid":"t"}}`, Params{}, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"crm://a/{id}"},"argument":{"name":"id","value":"x"}}}`,
			Params{RefType: "ref/resource", RefURI: "crm://a/{id}"}, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","URI":"crm://b/{id}","uri":"crm://a/{id}"}}}`, Params{}, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"Ref":{"type":"ref/resource"}}}`, Params{}, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`, Params{}, CodeParseError},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"`, Params{}, CodeParseError},
	} {
		m, err := ParseMessage([]byte(tc.body))
		code := 0
		if err != nil {
			code = err.Code
		}
		if code != tc.code || m.Params.Name != tc.want.Name || m.Params.URI != tc.want.URI ||
			m.Params.TaskID != tc.want.TaskID || m.Params.Task != tc.want.Task ||
			!bytes.Equal(m.Params.Arguments, tc.want.Arguments) || m.Params.RefType != tc.want.RefType || m.Params.RefURI != tc.want.RefURI {
			t.Errorf("%s: got %+v code %d, want %+v code %d", tc.body, m.Params, code, tc.want, tc.code)
		}
	}
}
