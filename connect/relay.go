package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// relay copies messages between the MCP client (local) and the server (remote) until the
// client closes its end (nil) or the server connection fails. Requests, responses and
// notifications pass unchanged, whichever side sends them; only a request that could not
// be delivered is answered here, with a JSON-RPC error, so the client never waits forever.
//
// Messages reach the server in the order the client sent them. Until the lifecycle allows
// more (notifications/initialized, or a stateless server/discover, has been delivered)
// each message is delivered before the next is read. After that a request may run
// concurrently with later messages, a long tools/call must not hold up a ping or its own
// cancellation, but the next message is sent only once the previous one's body has been
// sent (sentSignal), so nothing, a notification least of all, overtakes an earlier message.
func relay(ctx context.Context, local, remote mcp.Connection, version *protocolVersion, stream *standaloneStream, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		initMu  sync.Mutex
		initIDs = map[any]handshake{} // initialize and server/discover in flight
		done    = make(chan error, 2)
		// concurrent is set once the lifecycle lets requests overlap: notifications/initialized
		// delivered, or a stateless server/discover answered.
		concurrent atomic.Bool
	)
	forward := func(ctx context.Context, msg jsonrpc.Message) {
		err := remote.Write(ctx, msg)
		if err == nil || ctx.Err() != nil {
			return
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok || !req.IsCall() {
			log.Warn("message not delivered to the MCP server", "err", err)
			return
		}
		log.Warn("request not delivered to the MCP server", "method", req.Method, "err", err)
		if werr := local.Write(ctx, &jsonrpc.Response{ID: req.ID, Error: wireError(err)}); werr != nil {
			log.Warn("answer to the MCP client failed", "err", werr)
		}
	}
	go func() { // client -> server
		for {
			msg, err := local.Read(ctx)
			if err != nil {
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					done <- nil
				} else {
					done <- fmt.Errorf("read from the MCP client: %w", err)
				}
				return
			}
			log.Debug("client -> server", "message", describe(msg))
			req, isReq := msg.(*jsonrpc.Request)
			if isReq && req.IsCall() && (req.Method == "initialize" || req.Method == "server/discover") {
				initMu.Lock()
				initIDs[req.ID.Raw()] = handshake{method: req.Method, version: requestedVersion(req)}
				initMu.Unlock()
			}
			if !concurrent.Load() {
				forward(ctx, msg)
				if isReq && req.Method == "notifications/initialized" {
					concurrent.Store(true)
					if v := version.get(); stream != nil && v != "" && v < "2026-07-28" { // SEP-2575 removed the GET stream
						ready := make(chan struct{})
						wg.Add(1)
						go func() {
							defer wg.Done()
							stream.run(ctx, ready)
						}()
						select { // the stream is open before the client's next message is sent
						case <-ready:
						case <-time.After(discoveryStepTimeout):
						case <-ctx.Done():
						}
					}
				}
				continue
			}
			sent := newSentSignal()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sent.fire()
				forward(withSentSignal(ctx, sent), msg)
			}()
			select {
			case <-sent.ch:
			case <-ctx.Done():
			}
		}
	}()
	go func() { // server -> client
		for {
			msg, err := remote.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					done <- nil
				} else {
					done <- fmt.Errorf("the connection to the MCP server failed: %w", err)
				}
				return
			}
			log.Debug("server -> client", "message", describe(msg))
			if resp, ok := msg.(*jsonrpc.Response); ok {
				initMu.Lock()
				hs, isInit := initIDs[resp.ID.Raw()]
				delete(initIDs, resp.ID.Raw())
				initMu.Unlock()
				if isInit && resp.Error == nil {
					version.learn(hs.version, resp.Result)
					if hs.method == "server/discover" {
						concurrent.Store(true) // stateless: no initialize, no initialized
					}
				}
			}
			if err := local.Write(ctx, msg); err != nil {
				done <- fmt.Errorf("write to the MCP client: %w", err)
				return
			}
		}
	}()
	err := <-done
	cancel()
	wg.Wait()
	if cerr := remote.Close(); cerr != nil {
		log.Debug("closing the MCP session", "err", cerr)
	}
	_ = local.Close()
	return err
}

// describe names a message for the debug log: a request's method and ID, a response's ID.
func describe(msg jsonrpc.Message) string {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.IsCall() {
			return fmt.Sprintf("request %s %v", m.Method, m.ID.Raw())
		}
		return "notification " + m.Method
	case *jsonrpc.Response:
		return fmt.Sprintf("response %v", m.ID.Raw())
	}
	return fmt.Sprintf("%T", msg)
}

// handshake is an initialize or server/discover request in flight: its method and the
// protocol version it asks for.
type handshake struct{ method, version string }

// wireError turns a failed delivery into the JSON-RPC error the client sees, saying what
// happened; the code is the error's own when it carries one.
func wireError(err error) error {
	code := int64(jsonrpc.CodeInternalError)
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	return &jsonrpc.Error{Code: code, Message: "conexor connect: " + err.Error()}
}

// protocolVersion is the MCP protocol version the session negotiated, learned from the
// initialize (or, from 2026-07-28, server/discover) exchange on its way through. The
// go-sdk's transport sets the MCP-Protocol-Version header itself only inside an
// mcp.Client; a relay has to.
type protocolVersion struct {
	mu sync.Mutex
	v  string
}

// requestedVersion is the version an initialize or server/discover request asks for.
func requestedVersion(req *jsonrpc.Request) string {
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
		Meta            struct {
			ProtocolVersion string `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	}
	_ = json.Unmarshal(req.Params, &p)
	if p.ProtocolVersion != "" {
		return p.ProtocolVersion
	}
	return p.Meta.ProtocolVersion
}

// learn takes the version from an initialize result (protocolVersion), or from a
// server/discover result that supports the version asked for.
func (p *protocolVersion) learn(requested string, result json.RawMessage) {
	var r struct {
		ProtocolVersion   string   `json:"protocolVersion"`
		SupportedVersions []string `json:"supportedVersions"`
	}
	if json.Unmarshal(result, &r) != nil {
		return
	}
	v := r.ProtocolVersion
	if v == "" && requested != "" && slices.Contains(r.SupportedVersions, requested) {
		v = requested
	}
	if v != "" {
		p.mu.Lock()
		p.v = v
		p.mu.Unlock()
	}
}

func (p *protocolVersion) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v
}

// versionTransport adds MCP-Protocol-Version (MCP 2025-06-18, "Protocol Version Header") to
// every request after initialization.
type versionTransport struct {
	base    http.RoundTripper
	version *protocolVersion
}

func (t *versionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if v := t.version.get(); v != "" && req.Header.Get("Mcp-Protocol-Version") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Mcp-Protocol-Version", v)
	}
	if s, ok := req.Context().Value(sentKey{}).(*sentSignal); ok {
		if req.Body == nil || req.Body == http.NoBody {
			s.fire()
		} else {
			req = req.Clone(req.Context())
			req.Body = &signallingBody{ReadCloser: req.Body, sent: s}
		}
	}
	return t.base.RoundTrip(req)
}

// sentSignal fires once a message's HTTP request body has been sent to the server (or its
// delivery ended): the moment the relay may send the next message.
type sentSignal struct {
	once sync.Once
	ch   chan struct{}
}

func newSentSignal() *sentSignal { return &sentSignal{ch: make(chan struct{})} }

func (s *sentSignal) fire() { s.once.Do(func() { close(s.ch) }) }

type sentKey struct{}

func withSentSignal(ctx context.Context, s *sentSignal) context.Context {
	return context.WithValue(ctx, sentKey{}, s)
}

// signallingBody fires its signal when the transport has read the body to its end or
// closed it, which it does once the body is on the wire.
type signallingBody struct {
	io.ReadCloser
	sent *sentSignal
}

func (b *signallingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.sent.fire()
	}
	return n, err
}

func (b *signallingBody) Close() error {
	b.sent.fire()
	return b.ReadCloser.Close()
}
