package providers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestTransportCountsOnly2xx(t *testing.T) {
	cases := []struct {
		status int
		want   int
	}{
		{200, 1}, {201, 1}, {204, 1}, {299, 1},
		{301, 0}, {304, 0}, {400, 0}, {404, 0}, {429, 0}, {500, 0}, {503, 0}, {529, 0},
	}
	for _, c := range cases {
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			if c.status >= 300 && c.status < 400 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(c.status)
		})
		cnt := &counter{}
		rt := providers.NewTransport(nil, cnt, usage.Exa)
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("status %d: %v", c.status, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("status %d came back as %d", c.status, resp.StatusCode)
		}
		if got := cnt.get(usage.Exa); got != c.want {
			t.Errorf("status %d: counted %d, want %d", c.status, got, c.want)
		}
	}
}

// TestTransportCountsOnlyTheFinalResponseAfterInformationalOnes sends a 1xx
// (100 Continue, 103 Early Hints) before the final status: the interim
// response reaches the client, and only the final one decides the count.
func TestTransportCountsOnlyTheFinalResponseAfterInformationalOnes(t *testing.T) {
	cases := []struct {
		interim, final int
		want           int
	}{
		{100, 200, 1}, {103, 200, 1}, {100, 404, 0}, {103, 503, 0},
	}
	for _, c := range cases {
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(c.interim)
			w.WriteHeader(c.final)
		})
		cnt := &counter{}
		rt := providers.NewTransport(nil, cnt, usage.Exa)
		var interim []int
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			interim = append(interim, code)
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("%d then %d: %v", c.interim, c.final, err)
		}
		resp.Body.Close()
		if len(interim) != 1 || interim[0] != c.interim || resp.StatusCode != c.final {
			t.Fatalf("%d then %d: the client saw %v then %d", c.interim, c.final, interim, resp.StatusCode)
		}
		if got := cnt.get(usage.Exa); got != c.want {
			t.Errorf("%d then %d: counted %d, want %d", c.interim, c.final, got, c.want)
		}
	}
}

func TestTransportCountsOnlyTheFinalResponseOfRedirects(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case "/b":
			http.Redirect(w, r, "/c", http.StatusTemporaryRedirect)
		default:
			fmt.Fprint(w, "done")
		}
	})
	cnt := &counter{}
	hc := providers.WrapClient(nil, cnt, usage.Apollo)
	resp, err := hc.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "done" || cnt.get(usage.Apollo) != 1 {
		t.Errorf("body %q, counted %d; want done, 1", body, cnt.get(usage.Apollo))
	}
}

func TestTransportCountsNothingOnErrors(t *testing.T) {
	t.Run("dial error", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		cnt := &counter{}
		hc := providers.WrapClient(nil, cnt, usage.Exa)
		_, err := hc.Get("http://" + addr)
		if err == nil {
			t.Fatal("Get to a closed port succeeded")
		}
		if cnt.total() != 0 {
			t.Errorf("counted %d on a dial error", cnt.total())
		}
	})
	t.Run("cancelled request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			cancel() // the caller gives up while the server holds the request
			<-r.Context().Done()
		})
		cnt := &counter{}
		hc := providers.WrapClient(nil, cnt, usage.Exa)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := hc.Do(req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want the context's error passed through", err)
		}
		if cnt.total() != 0 {
			t.Errorf("counted %d on a cancelled request", cnt.total())
		}
	})
	t.Run("context done when the response arrives", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			cancel() // the caller gave up while the response was on its way
			return ok200(r)
		})
		cnt := &counter{}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.exa.ai/", nil)
		if _, err := providers.NewTransport(next, cnt, usage.Exa).RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if cnt.total() != 0 {
			t.Errorf("counted %d for a cancelled request", cnt.total())
		}
	})
	t.Run("error passes through untouched", func(t *testing.T) {
		want := errors.New("boom")
		next := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, want })
		cnt := &counter{}
		req, _ := http.NewRequest("GET", "http://api.exa.ai/", nil)
		resp, err := providers.NewTransport(next, cnt, usage.Exa).RoundTrip(req)
		if resp != nil || err != want || cnt.total() != 0 {
			t.Errorf("RoundTrip = %v, %v (counted %d); want nil, %v, 0", resp, err, cnt.total(), want)
		}
	})
}

func TestTransportReturnsTheResponseItself(t *testing.T) {
	want := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("x")), Header: http.Header{"A": {"b"}}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return want, nil })
	cnt := &counter{}
	req, _ := http.NewRequest("GET", "http://api.exa.ai/", nil)
	body := want.Body
	got, err := providers.NewTransport(next, cnt, usage.Exa).RoundTrip(req)
	if err != nil || got != want || got.Body != body {
		t.Errorf("RoundTrip returned %p (body %p), want %p (body %p)", got, got.Body, want, body)
	}
}

func TestTransportStreamsBodies(t *testing.T) {
	second := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-second // the client must see the first event before this one exists
		fmt.Fprint(w, "data: second\n\n")
	})
	for _, opts := range [][]providers.Option{nil, {providers.CountAtEOF()}} {
		cnt := &counter{}
		hc := providers.WrapClient(nil, cnt, usage.Claude, opts...)
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewReader(resp.Body)
		line, err := lines.ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Fatalf("first event = %q, %v", line, err)
		}
		second <- struct{}{}
		rest, err := io.ReadAll(lines)
		resp.Body.Close()
		if err != nil || string(rest) != "\ndata: second\n\n" {
			t.Fatalf("rest = %q, %v", rest, err)
		}
		if got := cnt.get(usage.Claude); got != 1 {
			t.Errorf("streamed call counted %d times, want 1", got)
		}
	}
}

func TestTransportKeepsUpgradedConnectionsWritable(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo: " + line)
		rw.Flush()
	})
	upgrade := func(t *testing.T, opts ...providers.Option) int {
		cnt := &counter{}
		hc := providers.WrapClient(nil, cnt, usage.Exa, opts...)
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		rw, ok := resp.Body.(io.ReadWriteCloser)
		if !ok {
			t.Fatalf("upgraded body %T is not writable", resp.Body)
		}
		io.WriteString(rw, "hello\n")
		line, err := bufio.NewReader(rw).ReadString('\n')
		if err != nil || line != "echo: hello\n" {
			t.Fatalf("echo = %q, %v", line, err)
		}
		return cnt.get(usage.Exa)
	}
	if n := upgrade(t); n != 0 {
		t.Errorf("101 counted %d times by default, want 0", n)
	}
	is101 := func(r *http.Response) bool { return r.StatusCode == 101 }
	if n := upgrade(t, providers.WithSuccess(is101), providers.CountAtEOF()); n != 0 {
		t.Errorf("101 counted %d times before its stream ended, want 0", n)
	}
	if n := upgrade(t, providers.WithSuccess(is101)); n != 1 {
		t.Errorf("101 counted %d times with a rule that accepts it, want 1", n)
	}
}

func TestTransportLeavesTheRequestAlone(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {})
	cnt := &counter{}
	hc := providers.WrapClient(nil, cnt, usage.Exa)
	req, _ := http.NewRequest("GET", srv.URL+"/x?q=1", nil)
	req.Header.Set("X-Api-Key", "secret")
	req.Header.Set("Accept", "application/json")
	want := req.Header.Clone()
	url := req.URL.String()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			// Readers of the shared request race with the round trips: -race
			// flags any write to it.
			for range 20 {
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = req.Header.Get("X-Api-Key")
			}
		})
	}
	wg.Wait()
	if fmt.Sprint(req.Header) != fmt.Sprint(want) || req.URL.String() != url {
		t.Errorf("request changed: %v %s, want %v %s", req.Header, req.URL, want, url)
	}
	if cnt.get(usage.Exa) != 160 {
		t.Errorf("counted %d, want 160", cnt.get(usage.Exa))
	}
}

// idleCloser records CloseIdleConnections.
type idleCloser struct {
	http.RoundTripper
	closed int
}

func (c *idleCloser) CloseIdleConnections() { c.closed++ }

func TestCloseIdleConnectionsReachesTheWrappedTransport(t *testing.T) {
	for name, wrap := range map[string]func(http.RoundTripper) http.RoundTripper{
		"NewTransport": func(next http.RoundTripper) http.RoundTripper {
			return providers.NewTransport(next, &counter{}, usage.Exa)
		},
		"ByHost": func(next http.RoundTripper) http.RoundTripper {
			return providers.ByHost(next, &counter{}, providers.DefaultHosts())
		},
	} {
		next := &idleCloser{RoundTripper: ok200}
		hc := &http.Client{Transport: wrap(next)}
		hc.CloseIdleConnections()
		if next.closed != 1 {
			t.Errorf("%s: CloseIdleConnections reached the wrapped transport %d times, want 1", name, next.closed)
		}
	}
}

func TestWrapClientCopies(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	redirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	base := &idleCloser{RoundTripper: ok200}
	orig := &http.Client{Transport: base, Timeout: 7 * time.Second, Jar: jar, CheckRedirect: redirect}
	cnt := &counter{}
	hc := providers.WrapClient(orig, cnt, usage.EDGAR)
	if hc == orig || orig.Transport != base {
		t.Fatal("WrapClient changed the caller's client")
	}
	if hc.Timeout != orig.Timeout || hc.Jar != orig.Jar || hc.CheckRedirect == nil {
		t.Errorf("settings did not carry over: %+v", hc)
	}
	resp, err := hc.Get("http://data.sec.gov/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cnt.get(usage.EDGAR) != 1 {
		t.Errorf("counted %d, want 1", cnt.get(usage.EDGAR))
	}
	// The original client still counts nothing.
	resp, _ = orig.Get("http://data.sec.gov/")
	resp.Body.Close()
	if cnt.get(usage.EDGAR) != 1 {
		t.Errorf("the original client counted")
	}

	fresh := providers.WrapClient(nil, cnt, usage.EDGAR)
	if fresh == http.DefaultClient || fresh.Timeout != 0 || http.DefaultClient.Transport != nil {
		t.Errorf("WrapClient(nil) = %+v; http.DefaultClient.Transport = %v", fresh, http.DefaultClient.Transport)
	}
}

func TestCountAtEOF(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length
		}
		fmt.Fprint(w, `{"ok":true}`)
		if r.URL.Query().Has("hold") {
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the body never ends
		}
	})
	cases := []struct {
		name string
		read func(io.Reader)
		want int
	}{
		{"read to EOF and closed", func(r io.Reader) { io.ReadAll(r) }, 1},
		{"EOF read twice", func(r io.Reader) { io.ReadAll(r); r.Read(make([]byte, 1)) }, 1},
		{"closed unread", func(io.Reader) {}, 0},
		{"closed half read", func(r io.Reader) { r.Read(make([]byte, 3)) }, 0},
		{"every byte read, EOF not seen", func(r io.Reader) { io.ReadFull(r, make([]byte, len(`{"ok":true}`))) }, 1},
	}
	for _, c := range cases {
		for _, query := range []string{"", "?chunked"} {
			if query != "" && c.name == "every byte read, EOF not seen" {
				continue // whether EOF comes with the last bytes depends on timing
			}
			cnt := &counter{}
			hc := providers.WrapClient(nil, cnt, usage.Exa, providers.CountAtEOF())
			resp, err := hc.Get(srv.URL + query)
			if err != nil {
				t.Fatal(err)
			}
			c.read(resp.Body)
			resp.Body.Close()
			resp.Body.Close()
			if got := cnt.get(usage.Exa); got != c.want {
				t.Errorf("%s%s: counted %d, want %d", c.name, query, got, c.want)
			}
		}
	}
	// Without a Content-Length, only EOF tells that the body is complete.
	cnt := &counter{}
	hc := providers.WrapClient(nil, cnt, usage.Exa, providers.CountAtEOF())
	resp, err := hc.Get(srv.URL + "?chunked&hold")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, len(`{"ok":true}`)))
	resp.Body.Close()
	if got := cnt.get(usage.Exa); got != 0 {
		t.Errorf("unfinished body of unknown length counted %d, want 0", got)
	}

	// A body-less response counts at once.
	cnt = &counter{}
	req, _ := http.NewRequest("HEAD", "http://api.exa.ai/", nil)
	if _, err := providers.NewTransport(ok200, cnt, usage.Exa, providers.CountAtEOF()).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if cnt.get(usage.Exa) != 1 {
		t.Errorf("body-less response counted %d, want 1", cnt.get(usage.Exa))
	}
}

// TestCountAtEOFWithAJSONDecoder pins what CountAtEOF's doc says of a
// json.Decoder, which stops at the end of the value it decodes: on a body of
// known length that end is the body's; on a chunked body the call counts once
// the caller reads on to io.EOF, and not when it closes the body before its
// end has arrived.
func TestCountAtEOFWithAJSONDecoder(t *testing.T) {
	// Big enough that the decoder's reads are not the whole body at once, and
	// with no newline after the value, so that the value's end is the body's.
	value, err := json.Marshal(map[string]string{"text": strings.Repeat("quaternion ", 20000)})
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("length") {
			w.Header().Set("Content-Length", strconv.Itoa(len(value)))
		}
		w.Write(value)
		if r.URL.Query().Has("hold") {
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the body's end arrives only after the caller has gone
		}
	})
	cases := []struct {
		query  string
		length bool // whether the response has a Content-Length
		drain  bool // whether the caller reads on to io.EOF after decoding
		want   int
	}{
		{"?length", true, false, 1},
		{"?length", true, true, 1},
		{"", false, true, 1},
		{"?hold", false, false, 0},
	}
	for _, c := range cases {
		cnt := &counter{}
		hc := providers.WrapClient(nil, cnt, usage.Exa, providers.CountAtEOF())
		resp, err := hc.Get(srv.URL + c.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.ContentLength >= 0; got != c.length {
			t.Fatalf("%s: ContentLength %d, want known: %v", c.query, resp.ContentLength, c.length)
		}
		var v struct{ Text string }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Text) != 20000*len("quaternion ") {
			t.Fatalf("%s: decoded %d bytes of text, %v", c.query, len(v.Text), err)
		}
		if c.drain {
			if n, err := io.Copy(io.Discard, resp.Body); n != 0 || err != nil {
				t.Fatalf("%s: after the value: %d bytes, %v", c.query, n, err)
			}
		}
		resp.Body.Close()
		if got := cnt.get(usage.Exa); got != c.want {
			t.Errorf("%s, drained %v: counted %d, want %d", c.query, c.drain, got, c.want)
		}
	}
}

func TestWithSuccess(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	cnt := &counter{}
	// A provider that bills lookups that found nothing.
	billed := func(r *http.Response) bool { return r.StatusCode < 300 || r.StatusCode == 404 }
	hc := providers.WrapClient(nil, cnt, usage.ContactOut, providers.WithSuccess(billed))
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cnt.get(usage.ContactOut) != 1 {
		t.Errorf("counted %d, want 1", cnt.get(usage.ContactOut))
	}
}

func TestWrapDoer(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
		}
	})
	cnt := &counter{}
	d := providers.WrapDoer(http.DefaultClient, cnt, usage.Apollo)
	for _, path := range []string{"/ok", "/fail", "/ok"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := d.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if cnt.get(usage.Apollo) != 2 {
		t.Errorf("counted %d, want 2", cnt.get(usage.Apollo))
	}
}

func TestWiringMistakesPanicAtConstruction(t *testing.T) {
	cases := map[string]func(){
		"NewTransport nil counter":  func() { providers.NewTransport(nil, nil, usage.Exa) },
		"NewTransport bad provider": func() { providers.NewTransport(nil, &counter{}, "Exa") },
		"WrapClient nil counter":    func() { providers.WrapClient(nil, nil, usage.Exa) },
		"WrapClient empty provider": func() { providers.WrapClient(nil, &counter{}, "") },
		"WrapDoer nil doer":         func() { providers.WrapDoer(nil, &counter{}, usage.Exa) },
		"ByHost nil counter":        func() { providers.ByHost(nil, nil, nil) },
		"ByHost bad provider":       func() { providers.ByHost(nil, &counter{}, map[string]usage.Provider{"a.b": "A B"}) },
		"ByHost bad pattern":        func() { providers.ByHost(nil, &counter{}, map[string]usage.Provider{"*.": usage.Exa}) },
		"ByHost bad port":           func() { providers.ByHost(nil, &counter{}, map[string]usage.Provider{"api.exa.ai:0": usage.Exa}) },
	}
	for name, f := range cases {
		fn, _, _ := strings.Cut(name, " ")
		if msg := panicOf(f); !strings.HasPrefix(msg, "providers: "+fn+": ") {
			t.Errorf("%s: recovered %q, want a panic starting %q", name, msg, "providers: "+fn+": ")
		}
	}
}

// counterFunc is a Counter made of a function; a nil one is a nil Counter.
type counterFunc func(usage.Provider)

func (f counterFunc) Track(p usage.Provider) { f(p) }

func TestTypedNilWiringPanicsAtConstruction(t *testing.T) {
	nilTracker := (*usage.Tracker)(nil) // Track on it is a silent no-op
	cases := map[string]func(){
		"NewTransport nil *usage.Tracker": func() { providers.NewTransport(nil, nilTracker, usage.Exa) },
		"WrapClient nil *usage.Tracker":   func() { providers.WrapClient(nil, nilTracker, usage.Exa) },
		"WrapDoer nil *usage.Tracker":     func() { providers.WrapDoer(http.DefaultClient, nilTracker, usage.Exa) },
		"ByHost nil *usage.Tracker":       func() { providers.ByHost(nil, nilTracker, providers.DefaultHosts()) },
		"WrapClient nil counterFunc":      func() { providers.WrapClient(nil, counterFunc(nil), usage.Exa) },
		"WrapDoer nil Counter":            func() { providers.WrapDoer(http.DefaultClient, nil, usage.Exa) },
		"WrapDoer nil *http.Client":       func() { providers.WrapDoer((*http.Client)(nil), &counter{}, usage.Exa) },
	}
	for name, f := range cases {
		fn, what, _ := strings.Cut(name, " ")
		msg := panicOf(f)
		if !strings.HasPrefix(msg, "providers: "+fn+": ") || !strings.Contains(msg, strings.TrimPrefix(what, "nil ")) {
			t.Errorf("%s: recovered %q, want a panic from %s that names %s", name, msg, fn, what)
		}
	}
}

// A typed-nil next transport means http.DefaultTransport, as an untyped nil
// does, instead of a nil dereference on the first request.
func TestTypedNilNextMeansDefaultTransport(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {})
	next := (*http.Transport)(nil)
	for name, rt := range map[string]http.RoundTripper{
		"NewTransport": providers.NewTransport(next, &counter{}, usage.Exa),
		"ByHost":       providers.ByHost(next, &counter{}, map[string]usage.Provider{"127.0.0.1": usage.Exa}),
	} {
		var resp *http.Response
		req, _ := http.NewRequest("GET", srv.URL, nil)
		msg := panicOf(func() {
			var err error
			if resp, err = rt.RoundTrip(req); err != nil {
				t.Errorf("%s: RoundTrip: %v", name, err)
			}
		})
		if msg != "" {
			t.Errorf("%s: RoundTrip through a nil *http.Transport panicked: %s", name, msg)
			continue
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}
