package providers

import (
	"net/http"

	"go.opentelemetry.io/otel/metric"
)

// An Option configures a decorator.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	success  func(*http.Response) bool
	atEOF    bool
	guard    Allower  // nil: no guard
	pacer    Pacer    // nil: no limiter
	reporter Reporter // nil: quota headers are not read
	tokens   Adder    // nil: Claude's tokens are not read

	meterProvider   metric.MeterProvider // nil: no metrics
	latencySampling int                  // time one request in this many
}

func newConfig(opts []Option) config {
	c := config{success: Is2xx, latencySampling: DefaultLatencySampling}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// Is2xx reports whether resp has a 2xx status. It is the default success rule.
func Is2xx(resp *http.Response) bool {
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// WithSuccess sets the rule that decides whether a response counts. The
// default is [Is2xx]; nil keeps it. The rule must not read or close the body,
// and must be safe for concurrent use.
func WithSuccess(rule func(*http.Response) bool) Option {
	return optionFunc(func(c *config) {
		if rule != nil {
			c.success = rule
		}
	})
}

// CountAtEOF counts a successful call only once its response body has been
// read to the end: when a Read returns [io.EOF], or when the body is closed
// after exactly resp.ContentLength bytes were read, if that length is known
// (not -1). A body closed before either, or whose read fails, counts nothing.
// Each call counts at most once. The default is to count when the response
// headers arrive. CountAtEOF wraps the body, which costs one small allocation
// per counted response.
//
// A reader that stops at the end of what it needs, as an
// [encoding/json.Decoder] does at the end of a value, reaches the end of a
// body of known length when nothing follows the value. A body of unknown
// length (chunked, or decompressed by the transport) ends only with the
// io.EOF of a further Read, which Close can neither wait for without
// blocking nor see without reading: read such a body on to io.EOF before
// closing it, which also lets the transport reuse the connection:
//
//	err := json.NewDecoder(resp.Body).Decode(&v)
//	io.Copy(io.Discard, resp.Body) // the rest, to io.EOF: the call counts
//	resp.Body.Close()
func CountAtEOF() Option {
	return optionFunc(func(c *config) { c.atEOF = true })
}

// WithClaudeTokens reads the token counts and the model of Claude's Messages
// API responses as the caller reads their bodies, and adds the counts to a's
// counters [usage.ClaudeInputTokens], [usage.ClaudeOutputTokens],
// [usage.ClaudeCacheReadTokens] and [usage.ClaudeCacheWriteTokens] (the
// response's usage.input_tokens, output_tokens, cache_read_input_tokens and
// cache_creation_input_tokens). The default is to read no tokens. The
// decorator must count calls for [usage.Claude]: NewTransport, WrapClient and
// WrapDoer panic if their provider is another, ByHost if no key maps to
// Claude (it then reads the tokens of Claude's hosts only).
//
// Tokens are read from the calls the decorator counts that are 2xx answers
// to a POST to a path ending in /v1/messages; count_tokens (free), other
// paths, errors and other statuses add none, and the call count keeps its
// rules. A JSON body counts once its top-level object is complete; a stream
// (text/event-stream) counts its last complete message_start and
// message_delta events, whose usage values are running totals, not
// increments. Each count is added once, at the end of the body: the
// stream's message_stop, io.EOF or a read error, or the first Close, so a
// stream cut short counts the last values it reported. A body left
// compressed by the transport adds nothing.
//
// When a can make a [usage.Meter], as a [*usage.Tracker] can, the counts are
// also broken down by the response's model: the top-level "model" of a JSON
// body, the message's "model" in a stream's message_start (never one nested
// deeper, nor one quoted inside a string). Each is added with
// a.Meter(counter).Model(model), so it reaches the counter and the field
// "{model}:{counter}" of the day's models hash
// ("{api_usage}:models:2026-11-26" field
// "claude-sonnet-4-5-20250929:claude_output_tokens"), and, for a request
// with a subject ([WithSubject]), with .For(subject) too, which adds the
// field "{subject}:{counter}:{model}" of the day's subjects hash. A
// response without a model adds to the counters (and the subject's
// "{subject}:{counter}") only. Package usage counts a model as itself when
// it is 1 to 64 bytes of letters, digits, '.', '_' and '-', and one of the
// first [usage.WithModelLimit] of the day (32 by default); a longer one, one
// written with JSON escapes, or one past the limit counts as
// [usage.OtherName]. An Adder that makes no Meter gets the counts through
// Add, without breakdowns.
//
// The body is read only as the caller reads it: nothing ahead, nothing
// buffered, each chunk scanned before Read returns it unchanged. Reading
// costs one allocation per Messages response (the body's wrapper, which
// holds the scanner's state, the model's first 65 bytes included), none per
// chunk, and a fixed amount of memory whatever the body's size; the model's
// name costs one more only when it is none of the last 8 new names the
// decorator read, so a few models cost nothing and a flood of made-up ones
// costs an allocation each and no memory. A malformed or unexpected value
// adds nothing for that field and never fails the read.
//
// WithClaudeTokens panics if a is nil, typed (a nil *[usage.Tracker]) or not.
func WithClaudeTokens(a Adder) Option {
	mustNotBeNil("WithClaudeTokens", "Adder", a)
	return optionFunc(func(c *config) { c.tokens = a })
}

// WithMeterProvider makes a decorator report, through mp, each provider's
// requests by outcome (2xx, 4xx, 429, 5xx, a network error, a cancelled
// request...) and the time to response headers of a sample of them; the
// names and attributes are in metrics.go and the README. Requests are
// counted in memory and observed when mp collects, so a request costs an
// atomic add on a per-processor counter more, and no allocation. The
// default is no metrics; nil keeps it. Build decorators once: each
// registers a callback with mp, which is released only when the decorator
// is garbage collected.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// WithLatencySampling sets how many requests there are, with
// [WithMeterProvider], for each one whose time to response headers is
// recorded; they are chosen at random. 1 records every request, at the cost
// of two clock reads and a histogram record each. The default is
// [DefaultLatencySampling]; n < 1 keeps it.
func WithLatencySampling(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 1 {
			c.latencySampling = n
		}
	})
}
