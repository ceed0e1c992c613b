// Package faultproxy is a TCP proxy for tests that stands between a server and its database
// and misbehaves on demand, the way networks and databases do in production: it refuses
// connections, swallows traffic (a silent partition), slows it down, or resets every
// connection. The mode changes at run time, while connections are open.
//
//	p, _ := faultproxy.New("127.0.0.1:5432")
//	defer p.Close()
//	// point the server at p.Addr(), then:
//	p.Set(faultproxy.BlackHole)
//	p.Set(faultproxy.Pass)
package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is how the proxy treats traffic.
type Mode int

const (
	// Pass forwards everything.
	Pass Mode = iota
	// Refuse resets every open connection and every new one as soon as it is accepted, as a
	// database that is down does (the client sees its connection reset before the startup
	// completes).
	Refuse
	// BlackHole keeps connections open, accepts new ones, and forwards nothing in either
	// direction, as a dropped route or a stuck middlebox does: nobody is told anything.
	// Bytes read meanwhile are held and delivered when the mode changes, as TCP would
	// retransmit them after the partition heals.
	BlackHole
	// Slow forwards every chunk after the delay given to SetSlow.
	Slow
	// Reset sends an RST on every open connection at once (a failover, a restarted
	// middlebox); new connections then pass.
	Reset
	// Drop closes every open connection cleanly (a FIN, no error message), as a database
	// stopped in immediate mode or a proxy closing idle connections does; new connections
	// then pass. The client learns of it only when it next reads: end of file.
	Drop
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case BlackHole:
		return "blackhole"
	case Slow:
		return "slow"
	case Reset:
		return "reset"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy listens on a loopback port and forwards to one target address.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	mu      sync.Mutex
	mode    Mode
	delay   time.Duration
	changed chan struct{} // closed, and replaced, on every change of mode
	links   map[*link]struct{}
	closed  bool
}

// New listens on 127.0.0.1 at a free port and forwards to target (host:port) in Pass mode.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port, to put in the client's URL instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the mode. Reset resets the open connections and Drop closes them, each
// leaving the proxy in Pass; Refuse resets them too and keeps refusing.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	var victims []*link
	if m == Reset || m == Refuse || m == Drop {
		for l := range p.links {
			victims = append(victims, l)
		}
	}
	clean := m == Drop
	if m == Reset || m == Drop {
		m = Pass
	}
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	for _, l := range victims {
		if clean {
			l.close()
		} else {
			l.reset()
		}
	}
}

// SetSlow switches to Slow with delay per forwarded chunk.
func (p *Proxy) SetSlow(delay time.Duration) {
	p.mu.Lock()
	p.delay = delay
	p.mu.Unlock()
	p.Set(Slow)
}

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Conns is the number of client connections the proxy holds open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, resets every connection and returns once every goroutine of the
// proxy has ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	victims := make([]*link, 0, len(p.links))
	for l := range p.links {
		victims = append(victims, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range victims {
		l.reset()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.reset()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve connects one client to the target and forwards until either side ends.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		l.close()
	}()
	if p.Mode() == Refuse {
		l.reset()
		return
	}
	// A new connection in a black hole hangs before it reaches the target, as a SYN would.
	if !p.await(l) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		l.reset()
		return
	}
	if !l.attach(up) {
		up.Close()
		return
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pump(l, up, l.client) }()
	go func() { defer both.Done(); p.pump(l, l.client, up) }()
	both.Wait()
}

// pump copies src to dst chunk by chunk, obeying the mode before each chunk; the first side
// to end ends the link.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.await(l) {
				return
			}
			if d := p.slowDelay(); d > 0 {
				select {
				case <-time.After(d):
				case <-l.done:
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// await blocks while the proxy is a black hole; false means the link ended meanwhile.
func (p *Proxy) await(l *link) bool {
	for {
		p.mu.Lock()
		mode, changed := p.mode, p.changed
		p.mu.Unlock()
		if mode != BlackHole {
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

func (p *Proxy) slowDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != Slow {
		return 0
	}
	return p.delay
}

// link is one client connection and, once dialled, its connection to the target.
type link struct {
	client net.Conn
	mu     sync.Mutex
	up     net.Conn
	ended  bool
	once   sync.Once
	done   chan struct{}
}

// attach records the target connection; false if the link has already ended.
func (l *link) attach(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.up = up
	return true
}

// reset ends the link with an RST on both sides (SO_LINGER 0, then close).
func (l *link) reset() {
	l.mu.Lock()
	conns := []net.Conn{l.client, l.up}
	l.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	l.close()
}

// close ends the link; it is safe to call more than once and from any goroutine.
func (l *link) close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.ended = true
		up := l.up
		l.mu.Unlock()
		close(l.done)
		// Errors here only say that the peer closed first.
		_ = l.client.Close()
		if up != nil {
			_ = up.Close()
		}
	})
}
