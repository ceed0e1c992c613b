package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/conexor/conexor/internal/netguard"
)

// fetchError is a failed fetch: reason is safe to show the person authorizing, err is for
// the logs.
type fetchError struct {
	reason string
	err    error
}

func (e *fetchError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *fetchError) Unwrap() error { return e.err }

type fetchedDocument struct {
	body []byte
	ttl  time.Duration
}

// newHTTPClient builds the fetcher's client: no proxy (a proxy would dial on our behalf,
// past the address check), no redirects, a total timeout, and a dialer that applies the
// network policy after DNS resolution, on every connection attempt, so a name that
// resolves differently the second time (DNS rebinding) is caught too. roots nil means the
// system's roots.
func (d *clientDocuments) newHTTPClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: d.timeout, Control: d.policy().Control}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    d.timeout,
		ResponseHeaderTimeout:  d.timeout,
		MaxResponseHeaderBytes: 32 << 10,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConns:           16,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   d.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// useTestTransport makes the fetcher trust roots and give up after timeout. Tests only.
func (d *clientDocuments) useTestTransport(roots *x509.CertPool, timeout time.Duration) {
	d.timeout = timeout
	d.client = d.newHTTPClient(roots)
}

// policy is the network policy of the fetcher's dialer, netguard's: public addresses only,
// or (CIMDAllowPrivate, for tests) loopback and private ones too.
func (d *clientDocuments) policy() netguard.Policy {
	if d.allowPrivate {
		return netguard.Internal
	}
	return netguard.Public
}

// fetch GETs a metadata document.
func (d *clientDocuments) fetch(ctx context.Context, id string) (*fetchedDocument, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, &fetchError{reason: "it is not a valid URL", err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Conexor (OAuth client ID metadata document fetcher)")
	resp, err := d.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, netguard.ErrRefusedAddress):
			return nil, &fetchError{reason: "its host resolves to a private, loopback or link-local address, which is never fetched", err: err}
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			return nil, &fetchError{reason: fmt.Sprintf("it did not arrive within %s", d.timeout), err: err}
		}
		return nil, &fetchError{reason: "it could not be fetched", err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &fetchError{reason: fmt.Sprintf("its server answered with a redirect (HTTP %d); redirects are not followed", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, &fetchError{reason: fmt.Sprintf("its server answered HTTP %d", resp.StatusCode)}
	case resp.ContentLength > cimdMaxBytes:
		return nil, &fetchError{reason: fmt.Sprintf("it is larger than %d KiB", cimdMaxBytes>>10)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, cimdMaxBytes+1))
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, &fetchError{reason: fmt.Sprintf("it did not arrive within %s", d.timeout), err: err}
		}
		return nil, &fetchError{reason: "it could not be read", err: err}
	}
	if len(body) > cimdMaxBytes {
		return nil, &fetchError{reason: fmt.Sprintf("it is larger than %d KiB", cimdMaxBytes>>10)}
	}
	return &fetchedDocument{body: body, ttl: cacheTTL(resp.Header, d.p.now())}, nil
}

// cacheTTL is how long a document may be cached: what its Cache-Control (s-maxage, then
// max-age; no-store and no-cache count as 0) or Expires header says, else an hour, kept
// within [5 min, 24 h] so an unreachable publisher is bridged and a changed one is seen.
func cacheTTL(h http.Header, now time.Time) time.Duration {
	ttl, set := time.Duration(0), false
	var maxAge, sMaxAge = -1, -1
	for _, part := range strings.Split(h.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			set = true
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				maxAge = n
			}
		case "s-maxage":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				sMaxAge = n
			}
		}
	}
	switch {
	case set:
	case sMaxAge >= 0:
		ttl, set = time.Duration(sMaxAge)*time.Second, true
	case maxAge >= 0:
		ttl, set = time.Duration(maxAge)*time.Second, true
	case h.Get("Expires") != "":
		// An invalid date, "0" included, means already expired (RFC 9111 section 5.3).
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			ttl = exp.Sub(now)
		}
		set = true
	}
	if !set {
		ttl = cimdDefaultTTL
	}
	return min(max(ttl, cimdMinTTL), cimdMaxTTL)
}
