package httpx

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// WriteJSON answers with status and v as JSON. Every JSON answer that is not a public
// document goes through here, so all carry the same headers: never cached (tokens,
// secrets and refusals must not sit in a shared cache, RFC 6749 section 5.1) and never
// sniffed as anything but JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json") // RFC 8259 defines no charset parameter: JSON is UTF-8
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	encode(w, v)
}

// WriteDocument answers 200 with a public document (server metadata, a key set) that
// caches may keep for maxAge.
func WriteDocument(w http.ResponseWriter, contentType string, maxAge time.Duration, v any) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge.Seconds())))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	encode(w, v)
}

// encode writes v as JSON without HTML escaping: these are API answers, never embedded in
// a page, and URLs with '&' (a metadata document's, an error's) stay readable as sent.
func encode(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ReadBody reads a request body of at most limit bytes. A larger body is an
// *http.MaxBytesError, without reading any of it when Content-Length already says so.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	size := r.ContentLength
	if size < 0 || size > 64<<10 {
		size = 512 // unknown or large: grow as it arrives rather than trust the header
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// Truncate cuts client-supplied text to at most n bytes for an error message or a log
// line, at a rune boundary so the result stays valid UTF-8, and marks the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// A rune is at most utf8.UTFMax bytes: look no further back (invalid input stays cut).
	for i := 1; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n] + "…"
}
