package faultproxy

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// echoServer answers every connection by echoing what it reads, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes msg on c and reads it back, failing after wait.
func roundTrip(c net.Conn, msg string, wait time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestModes(t *testing.T) {
	before := runtime.NumGoroutine()
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if got, err := roundTrip(c, "hello", 5*time.Second); err != nil || got != "hello" {
		t.Fatalf("pass: got %q, %v", got, err)
	}

	// Slow: each chunk waits (two chunks: there and back).
	p.SetSlow(100 * time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(c, "slow", 5*time.Second); err != nil || got != "slow" {
		t.Fatalf("slow: got %q, %v", got, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("slow: round trip took %v, want >= 200ms", d)
	}

	// Black hole: nothing comes back, and the connection stays open; a new connection
	// hangs too. On healing, what was held arrives.
	p.Set(BlackHole)
	if _, err := roundTrip(c, "lost", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackhole: want a timeout, got %v", err)
	}
	c2 := dial(t, p)
	if _, err := roundTrip(c2, "new", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackhole, new connection: want a timeout, got %v", err)
	}
	p.Set(Pass)
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "lost" {
		t.Fatalf("healed: held bytes: got %q, %v", buf, err)
	}
	if got, err := roundTrip(c2, "back", 5*time.Second); err != nil || got != "newb" {
		// c2's "new" was held and arrives first.
		t.Fatalf("healed, new connection: got %q, %v", got, err)
	}

	// Reset: open connections get an RST at once; new ones pass.
	p.Set(Reset)
	if _, err := roundTrip(c, "x", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("reset: want a reset connection, got %v", err)
	}
	c3 := dial(t, p)
	if got, err := roundTrip(c3, "after", 5*time.Second); err != nil || got != "after" {
		t.Fatalf("after reset: got %q, %v", got, err)
	}

	// Drop: open connections read end of file; new ones pass.
	cd := dial(t, p)
	if got, err := roundTrip(cd, "pre", 5*time.Second); err != nil || got != "pre" {
		t.Fatalf("before drop: got %q, %v", got, err)
	}
	p.Set(Drop)
	_ = cd.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cd.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("drop: want end of file, got %v", err)
	}
	cd.Close()

	// Refuse: open and new connections fail at once.
	p.Set(Refuse)
	if _, err := roundTrip(c3, "x", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("refuse, open connection: want it closed, got %v", err)
	}
	// A new connection is reset during the connect or at the first exchange.
	if c4, err := net.Dial("tcp", p.Addr()); err == nil {
		_, err = roundTrip(c4, "x", 5*time.Second)
		c4.Close()
		if err == nil || isTimeout(err) {
			t.Fatalf("refuse, new connection: want it closed, got %v", err)
		}
	}
	p.Set(Pass)
	c5 := dial(t, p)
	if got, err := roundTrip(c5, "ok", 5*time.Second); err != nil || got != "ok" {
		t.Fatalf("healed after refuse: got %q, %v", got, err)
	}

	// Close leaks nothing: a held connection in a black hole ends too.
	p.Set(BlackHole)
	_, _ = dial(t, p).Write([]byte("held"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("after Close: %d connections open", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+3 && time.Now().Before(deadline) { // +3: the echo server's
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+3 {
		t.Errorf("goroutines: %d before, %d after Close", before, n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
