package testenv

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP relay in front of a real server (PostgreSQL, Valkey, NATS), for tests that
// play the server's failures without touching the one other tests share. Stall makes the
// server look hung: connections are accepted and requests written, but nothing comes back
// (a host that went away, a process stopped with SIGSTOP) — the case that makes a client
// without deadlines wait forever. Cut makes it look killed: every connection is closed and
// new ones are closed at once. Restore relays again.
type Proxy struct {
	target *url.URL
	ln     net.Listener

	mu     sync.Mutex
	state  proxyState
	resume chan struct{} // closed when a stall ends
	conns  map[net.Conn]struct{}
}

type proxyState int

const (
	relaying proxyState = iota
	stalled
	cut
	closed
)

// StartProxy relays to the host of rawURL (a postgres://, redis:// or nats:// URL) from a
// port of its own until the test ends; URL is rawURL pointing at the proxy.
func StartProxy(t testing.TB, rawURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("proxy: %q is not a URL with a host", rawURL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: u, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the URL the proxy was started with, pointing at the proxy.
func (p *Proxy) URL() string {
	u := *p.target
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Stall stops relaying in both directions, on open and new connections alike, until Restore
// or Cut.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == relaying {
		p.state = stalled
		p.resume = make(chan struct{})
	}
}

// Cut closes every connection, and every new one at once, until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(cut)
}

// Restore relays again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(relaying)
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.setLocked(closed)
	p.mu.Unlock()
	_ = p.ln.Close()
}

// setLocked moves to state, releasing a stall and closing the connections when the new state
// relays nothing.
func (p *Proxy) setLocked(state proxyState) {
	if p.state == closed {
		return
	}
	if p.state == stalled {
		close(p.resume)
	}
	p.state = state
	if state == cut || state == closed {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

// relay joins the client connection c to a new connection to the target.
func (p *Proxy) relay(c net.Conn) {
	if !p.track(c) {
		return
	}
	s, err := net.Dial("tcp", p.target.Host)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(s) {
		_ = c.Close()
		return
	}
	go p.copy(s, c)
	p.copy(c, s)
}

// track registers conn to be closed by Cut; it closes conn and returns false when the proxy
// is cut or closed.
func (p *Proxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == cut || p.state == closed {
		_ = conn.Close()
		return false
	}
	p.conns[conn] = struct{}{}
	return true
}

// copy relays src to dst, holding what it read while the proxy is stalled.
func (p *Proxy) copy(dst, src net.Conn) {
	defer p.untrack(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.open() {
				return
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

// untrack closes conns and forgets them.
func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// open waits out a stall and reports whether the proxy still relays.
func (p *Proxy) open() bool {
	p.mu.Lock()
	for p.state == stalled {
		resume := p.resume
		p.mu.Unlock()
		<-resume
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	return p.state == relaying
}
