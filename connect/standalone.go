package connect

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// standaloneStream is the GET event stream of a Streamable HTTP session (MCP 2025-06-18,
// "Listening for Messages from the Server"), on which a server sends requests and
// notifications that belong to no request of the client, such as an elicitation asked from
// inside a tool. The go-sdk's transport opens it only inside an mcp.Client; a relay has to.
type standaloneStream struct {
	endpoint string
	client   *http.Client
	oauth    auth.OAuthHandler // nil: no authorization
	remote   mcp.Connection    // for its session ID
	local    mcp.Connection    // where the server's messages go
	log      *slog.Logger
}

// run keeps the stream open until ctx ends, resuming after Last-Event-ID when the server
// ends it, after the delay the server asks for (retry). A server without one (405) is
// left alone. ready is closed once the first attempt has its answer: a message the server
// sends to the stream after that reaches the client.
func (s *standaloneStream) run(ctx context.Context, ready chan<- struct{}) {
	var once sync.Once
	defer once.Do(func() { close(ready) })
	lastID, delay, reauthorized := "", time.Second, false
	for ctx.Err() == nil {
		resp, err := s.get(ctx, lastID)
		once.Do(func() { close(ready) })
		switch {
		case err != nil:
			s.log.Debug("standalone event stream", "err", err)
		case resp.StatusCode == http.StatusMethodNotAllowed:
			resp.Body.Close()
			return
		case (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && s.oauth != nil && !reauthorized:
			reauthorized = true
			req := resp.Request
			if err := s.oauth.Authorize(ctx, req, resp); err != nil {
				s.log.Warn("the server's event stream needs authorization that failed", "err", err)
				return
			}
			continue
		case resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
			resp.Body.Close()
			s.log.Debug("no standalone event stream", "status", resp.StatusCode)
			return
		default:
			reauthorized = false
			lastID, delay = s.read(ctx, resp.Body, lastID, delay)
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

func (s *standaloneStream) get(ctx context.Context, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if id := s.remote.SessionID(); id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if s.oauth != nil {
		if ts, err := s.oauth.TokenSource(ctx); err == nil && ts != nil {
			if tok, err := ts.Token(); err == nil {
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			}
		}
	}
	return s.client.Do(req)
}

// read passes each event's message to the client and returns the last event ID and the
// reconnection delay when the stream ends.
func (s *standaloneStream) read(ctx context.Context, body io.Reader, lastID string, delay time.Duration) (string, time.Duration) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			if line != "" {
				continue // a comment
			}
			if data.Len() > 0 {
				msg, err := jsonrpc.DecodeMessage([]byte(data.String()))
				data.Reset()
				if err != nil {
					s.log.Warn("the server sent a message that is not JSON-RPC", "err", err)
					continue
				}
				if err := s.local.Write(ctx, msg); err != nil {
					return lastID, delay
				}
			}
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case "id":
			lastID = value
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				delay = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return lastID, delay
}
