package testsupport

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// A Proxy forwards TCP connections to a server and can cut the server's
// replies: with DropReplies set, requests still reach the server, which
// applies them, but the client never hears back.
type Proxy struct {
	Addr string // where clients connect

	target  string
	ln      net.Listener
	drop    atomic.Bool
	down    atomic.Bool
	mu      sync.Mutex // protects conns and closed
	conns   []net.Conn
	closed  bool
	wg      sync.WaitGroup
	dropped atomic.Int64 // reply bytes discarded
}

// NewProxy starts a proxy to target on a loopback port, stopped when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
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

// DroppedBytes returns how many reply bytes were discarded.
func (p *Proxy) DroppedBytes() int64 { return p.dropped.Load() }

// CutConnections closes every open connection through the proxy.
func (p *Proxy) CutConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.CutConnections()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			_ = client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(server, client)
			_ = server.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.replies(client, server)
			_ = client.Close()
		}()
	}
}

func (p *Proxy) replies(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		conns   []net.Conn
		stopped bool
		wg      sync.WaitGroup
		once    sync.Once
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if stopped {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	stop = func() {
		once.Do(func() {
			_ = ln.Close()
			mu.Lock()
			stopped = true
			for _, c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}
