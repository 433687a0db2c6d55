package testsupport

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A Proxy forwards TCP connections to a server and can cut the server's
// replies: with DropReplies set, requests still reach the server, which
// applies them, but the client never hears back.
type Proxy struct {
	Addr string // where clients connect

	target  string
	l       *listener
	drop    atomic.Bool
	down    atomic.Bool
	delay   atomic.Int64 // nanoseconds each reply waits
	cutOn   atomic.Pointer[string]
	dropped atomic.Int64 // reply bytes discarded
}

// NewProxy starts a proxy to target on a loopback port, stopped when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, l: listen(t)}
	p.Addr = p.l.addr()
	p.l.serve(p.forward)
	return p
}

// DropReplies makes the proxy discard (on) or forward (off) what the server
// sends, on open and new connections alike.
func (p *Proxy) DropReplies(on bool) { p.drop.Store(on) }

// SetDown makes the proxy act as a stopped server (on): it cuts open
// connections and closes new ones at once; off, it forwards again.
func (p *Proxy) SetDown(on bool) {
	p.down.Store(on)
	if on {
		p.CutConnections()
	}
}

// SetDelay makes every reply of the server wait d before it goes on to the
// client, as a distant server's would; 0 forwards at once.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// CutAfter makes the proxy pass on the next request that contains s and
// then close that client's connection before the reply reaches it: the
// server applies the request, and the client never learns that it did.
func (p *Proxy) CutAfter(s string) { p.cutOn.Store(&s) }

// DroppedBytes returns how many reply bytes were discarded.
func (p *Proxy) DroppedBytes() int64 { return p.dropped.Load() }

// CutConnections closes every open connection through the proxy.
func (p *Proxy) CutConnections() { p.l.cut() }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() { p.l.stop() }

// forward connects client to the target, unless the proxy is down.
func (p *Proxy) forward(client net.Conn) {
	if p.down.Load() {
		_ = client.Close()
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.l.track(client, server) {
		return
	}
	var cut atomic.Bool // a request CutAfter names went by: replies go nowhere
	p.l.run(func() {
		p.requests(client, server, &cut)
		_ = server.Close()
	})
	p.l.run(func() {
		p.replies(client, server, &cut)
		_ = client.Close()
	})
}

// requests passes on what the client sends, and notes when a request that
// CutAfter names goes by.
func (p *Proxy) requests(client, server net.Conn, cut *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if on := p.cutOn.Load(); on != nil && bytes.Contains(buf[:n], []byte(*on)) && p.cutOn.CompareAndSwap(on, nil) {
				cut.Store(true)
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// replies passes on what the server sends. After a request CutAfter names,
// the first reply (the server has read the whole request and answered) is
// dropped and the client's connection closed.
func (p *Proxy) replies(client, server net.Conn, cut *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if d := p.delay.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			if cut.Load() {
				p.dropped.Add(int64(n))
				return
			}
			if p.drop.Load() {
				p.dropped.Add(int64(n))
			} else if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Hang starts a listener that accepts connections, reads what arrives and
// never answers, like a server that hangs. It stops when t ends, or earlier
// through the returned function, which closes every connection.
func Hang(t testing.TB) (addr string, stop func()) {
	t.Helper()
	l := listen(t)
	l.serve(func(c net.Conn) {
		if l.track(c) {
			l.run(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	return l.addr(), l.stop
}
