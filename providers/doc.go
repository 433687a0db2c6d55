// Package providers wraps HTTP clients so that their successful calls to a
// paid API are counted by a [usage.Tracker], without changing what the client
// sees. Instrumenting a client is one line at construction:
//
//	exa := providers.WrapClient(http.DefaultClient, tracker, usage.Exa)
//
// [NewTransport] wraps an [http.RoundTripper] for one provider, [WrapClient]
// an [*http.Client], [WrapDoer] any client with a Do method, and [ByHost] one
// transport for all outgoing calls that picks the provider from the request's
// host ([DefaultHosts] knows the five providers' API hosts).
//
// # What counts
//
// By default a call counts once, when the wrapped transport returns a
// response with a 2xx status for a request whose context is not done.
// Errors, cancelled requests and other statuses (redirects, 4xx, 5xx, 101
// upgrades) count nothing. [WithSuccess] changes the rule, and [CountAtEOF]
// counts only calls whose response body was read to the end.
//
// # Claude's tokens
//
// For Claude the bill is tokens, not calls. [WithClaudeTokens] reads the
// usage object of Messages API responses, JSON or streamed, while the caller
// reads the body, and adds the input, output and cache tokens to their
// counters ([usage.ClaudeInputTokens] and the three others):
//
//	claude := providers.WrapClient(nil, tracker, usage.Claude, providers.WithClaudeTokens(tracker))
//
// # Transparency
//
// The decorators return exactly what the wrapped transport returned: the same
// response, its body unread and unbuffered (so Server-Sent Events stream as
// they arrive and an upgraded connection stays writable), and the same
// error. They never change the caller's request, and CloseIdleConnections
// reaches the wrapped transport. Counting at headers, the default, adds no
// allocation to a request.
//
// # Retries
//
// Where the decorator sits relative to a retrying client decides what it
// counts. Inside the retry loop, as the transport of the client that a
// retrying client (or an SDK such as Anthropic's) drives, it sees each
// attempt and counts every successful one; since a retry follows only a
// failed attempt, that is usually the one call the provider billed. Outside
// it, wrapping the retrying client's Do with [WrapDoer], it sees the final
// outcome once: one count per logical call that succeeded, however many
// attempts it took.
package providers
