package testsupport_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// hello starts an HTTP server that answers "hello" and reports each request
// on served, stopped when t ends.
func hello(t *testing.T) (addr string, served <-chan struct{}) {
	ch := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		ch <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ch
}

// dial connects to addr; a read that would block longer than a test may
// run fails instead.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(time.Minute))
	return c
}

// through dials addr, sends a request and checks that "hello" comes back;
// it returns the connection's reader, the connection still open.
func through(t *testing.T, addr, when string) *bufio.Reader {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	defer resp.Body.Close()
	if body, err := io.ReadAll(resp.Body); string(body) != "hello" || err != nil {
		t.Errorf("%s: %q, %v through the proxy, want hello", when, body, err)
	}
	return r
}

// closed reads what is left on c and reports whether its peer closed it (an
// io.EOF, or a reset when the peer left bytes unread) rather than the read
// timing out.
func closed(c io.Reader) (bool, string) {
	rest, err := io.ReadAll(c)
	return !errors.Is(err, os.ErrDeadlineExceeded), string(rest)
}

func TestProxyForwardsAndCutsConnections(t *testing.T) {
	target, _ := hello(t)
	p := testsupport.NewProxy(t, target)
	open := through(t, p.Addr, "at first")
	p.CutConnections()
	if ok, rest := closed(open); !ok || rest != "" {
		t.Errorf("after CutConnections the connection was not closed (read %q)", rest)
	}
	through(t, p.Addr, "after CutConnections") // the proxy still accepts
}

func TestProxySetDown(t *testing.T) {
	target, _ := hello(t)
	p := testsupport.NewProxy(t, target)
	open := through(t, p.Addr, "at first")
	p.SetDown(true)
	if ok, _ := closed(open); !ok {
		t.Error("SetDown(true) left an open connection")
	}
	if ok, _ := closed(dial(t, p.Addr)); !ok {
		t.Error("a proxy that is down kept a new connection")
	}
	p.SetDown(false)
	through(t, p.Addr, "after SetDown(false)")
}

func TestProxyDropReplies(t *testing.T) {
	target, served := hello(t)
	p := testsupport.NewProxy(t, target)
	c := dial(t, p.Addr)
	p.DropReplies(true)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	<-served // the server got the request and sent its reply
	p.Close()
	if ok, rest := closed(c); !ok || rest != "" {
		t.Errorf("with DropReplies the client read %q (closed: %v), want nothing", rest, ok)
	}
	p.Close() // a second Close does nothing
}

func TestProxyCutAfter(t *testing.T) {
	target, served := hello(t)
	p := testsupport.NewProxy(t, target)
	through(t, p.Addr, "before CutAfter") // other requests pass
	p.CutAfter("X-Cut: 1")
	c := dial(t, p.Addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\nX-Cut: 1\r\n\r\n")
	<-served // the server got the request
	if ok, rest := closed(c); !ok || rest != "" {
		t.Errorf("after the named request the client read %q (closed: %v), want nothing", rest, ok)
	}
	through(t, p.Addr, "after the cut") // once only
}

func TestProxySetDelay(t *testing.T) {
	target, _ := hello(t)
	p := testsupport.NewProxy(t, target)
	p.SetDelay(100 * time.Millisecond)
	start := time.Now()
	through(t, p.Addr, "with a delay")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("the reply came after %v, want at least 100ms", d)
	}
}

func TestHang(t *testing.T) {
	addr, stop := testsupport.Hang(t)
	c := dial(t, addr)
	if _, err := io.WriteString(c, strings.Repeat("x", 1<<16)); err != nil {
		t.Fatal(err) // what arrives is read, so a big write does not block
	}
	stop()
	if ok, rest := closed(c); !ok || rest != "" {
		t.Errorf("after stop the client read %q (closed: %v), want the connection closed with no answer", rest, ok)
	}
	stop() // a second stop does nothing; so does the one in t.Cleanup
}
