package providers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

// A Pacer paces calls to providers; [*usage.Limiter] satisfies it, across
// a fleet of processes. Wait blocks until a call to p may start or ctx is
// done; Pause holds calls to p for d, as a provider's 429 asks. Both must be
// safe for concurrent use, and Pause must not block.
type Pacer interface {
	Wait(ctx context.Context, p usage.Provider) error
	Pause(p usage.Provider, d time.Duration)
}

var _ Pacer = (*usage.Limiter)(nil)

// DefaultPause is how long a 429 without a usable Retry-After pauses its
// provider, with [WithLimiter].
const DefaultPause = time.Second

// WithLimiter makes a decorator wait for l before sending each request of
// a provider it counts for, and pause the provider through l when a
// response asks for it. The default is no limiter; nil keeps it.
//
//   - Before sending, the request waits in l.Wait with its own context. A
//     context that ends while it waits ends the call: the decorator closes
//     the request's body and returns the context's error; nothing is sent
//     and nothing counted. A wait that cannot end before the context's
//     deadline (a [*usage.WaitError]) is refused at once, as [WithGuard]
//     refuses: see [Refusal].
//   - A 429, or a 5xx with a Retry-After, pauses the provider for the
//     Retry-After, in seconds or as an HTTP date, or for [DefaultPause]
//     when a 429 has none that can be read. A [*usage.Limiter] holds the
//     pause for the whole fleet; it caps one that is absurdly long, holds
//     none for one that is negative or in the past, and reports both to
//     the tracker's error handler.
//   - With [WithMeterProvider], enrichmeter.provider.waited adds up the
//     time requests waited, and a refusal counts as refused.
//
// With [WithGuard] too, the guard is asked first: a call the quota refuses
// does not wait. For [ByHost], requests to hosts it does not know never wait.
func WithLimiter(l Pacer) Option {
	return optionFunc(func(c *config) {
		if !isNil(l) {
			c.pacer = l
		}
	})
}

// pace waits for the pacer before req, a request to p, is sent, and returns
// nil, the context's error, or the pacer's refusal.
func (o *observer) pace(req *http.Request, p usage.Provider) error {
	if o.cfg.pacer == nil {
		return nil
	}
	start := time.Now()
	err := o.cfg.pacer.Wait(req.Context(), p)
	o.metrics.waited(p, time.Since(start))
	return err
}

// pauseFor pauses p when resp, its response, asks for it: a 429, or a 5xx
// with a Retry-After.
func (o *observer) pauseFor(resp *http.Response, p usage.Provider) {
	if o.cfg.pacer == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return
	}
	d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case ok:
		o.cfg.pacer.Pause(p, d) // a Limiter reports one that is negative or absurdly long
	case resp.StatusCode == http.StatusTooManyRequests:
		o.cfg.pacer.Pause(p, DefaultPause)
	}
}

// retryAfter reads a Retry-After value, delay-seconds or an HTTP date, as
// the time to wait from now, and reports whether it could. A date in the
// past is a wait of zero or less; a value too large for a Duration is the
// largest one, and one too far below zero the smallest.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n > int64(time.Duration(1<<63-1)/time.Second):
			return 1<<63 - 1, true
		case n < int64(time.Duration(-1<<63)/time.Second):
			return -1 << 63, true
		}
		return time.Duration(n) * time.Second, true
	} else if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		return 1<<63 - 1, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}
