package testsupport

import (
	"net"
	"sync"
	"testing"
)

// A listener accepts TCP connections on a loopback port for the fault
// injectors ([Proxy], [Hang]) and tracks the connections they keep and the
// goroutines they start, so that one call cuts the connections and one call
// stops everything.
type listener struct {
	ln   net.Listener
	wg   sync.WaitGroup // the accept loop and the goroutines started by run
	once sync.Once      // for stop

	mu      sync.Mutex // protects conns and stopped
	conns   []net.Conn
	stopped bool
}

// listen opens a loopback port, failing t if it cannot, and stops the
// listener when t ends. Nothing is accepted before serve.
func listen(t testing.TB) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{ln: ln}
	t.Cleanup(l.stop)
	return l
}

// addr returns the address clients connect to.
func (l *listener) addr() string { return l.ln.Addr().String() }

// serve accepts connections until stop, handing each to handle on the
// accepting goroutine. handle keeps a connection by passing it to track, and
// starts its goroutines through run.
func (l *listener) serve(handle func(net.Conn)) {
	l.run(func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	})
}

// track records conns so that cut and stop close them, and reports true;
// once the listener is stopped, it closes them at once and reports false.
func (l *listener) track(conns ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	l.conns = append(l.conns, conns...)
	return true
}

// run runs f on a new goroutine that stop waits for. It is called by serve
// and by handle, on the accepting goroutine, so it never races with stop's
// wait.
func (l *listener) run(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// cut closes every tracked connection; new ones are still accepted.
func (l *listener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// stop stops accepting, closes every tracked connection and waits for the
// goroutines to end. Calls after the first do nothing.
func (l *listener) stop() {
	l.once.Do(func() {
		_ = l.ln.Close()
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.cut()
		l.wg.Wait()
	})
}
