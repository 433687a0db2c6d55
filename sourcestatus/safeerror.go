package sourcestatus

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FromHTTP turns the outcome of an HTTP call, what [http.Client.Do]
// returned, into a payload that is safe to store:
//
//   - a call refused before it was sent is [Skipped], with the reason made
//     safe as below: "claude quota spent until 2026-12-06T00:00:00Z" for a
//     *usage.QuotaError. A call was refused when resp is the response that a
//     decorator of package providers gave in place of the request (see
//     providers.Refusal; an SDK hands it on, as anthropic-sdk-go's
//     *anthropic.Error does in its Response field: pass it with the error),
//     its reason the refusal error's; or when err's chain holds an error
//     with a method RefusalReason() string, as *usage.QuotaError has, which
//     gives the reason (an error without it gives its message);
//   - any other error is [Failed] with the error's message made safe: a
//     [*url.Error]'s URL loses its query, fragment and user info, and in
//     every message URLs, credential headers and parameters are cleaned as
//     [Updater.Update] cleans them, and the message is cut to
//     [DefaultMaxErrorLen];
//   - a 2xx response is [Complete];
//   - any other response is Failed with its status code alone, as "HTTP 429":
//     no URL, header or body;
//   - a nil response with a nil error is Failed with "no response".
//
// At is left zero, which Update reads as now. FromHTTP neither reads nor
// closes resp.Body. It is safe for concurrent use.
func FromHTTP(resp *http.Response, err error) Payload {
	if reason, ok := refusalReason(resp, err); ok {
		return Payload{Status: Skipped, Error: safeError(reason, DefaultMaxErrorLen)}
	}
	switch {
	case err != nil:
		if ue, ok := err.(*url.Error); ok {
			err = fmt.Errorf("%s %q: %w", ue.Op, stripURL(ue.URL), ue.Err)
		}
		return Payload{Status: Failed, Error: safeError(err.Error(), DefaultMaxErrorLen)}
	case resp == nil:
		return Payload{Status: Failed, Error: "no response"}
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return Payload{Status: Complete}
	}
	return Payload{Status: Failed, Error: "HTTP " + strconv.Itoa(resp.StatusCode)}
}

// TruncatedMark ends an error message that [Updater.Update] cut to its limit.
const TruncatedMark = "… [truncated]"

// redacted replaces a credential's value.
const redacted = "[REDACTED]"

// The patterns of what an error message must not carry into the column. They
// are not a parser of every format a message may quote; FromHTTP, which
// knows where an HTTP call's secrets are, is the safe way to describe one.
var (
	// absoluteURL is a URL with a scheme; stripURL cleans it.
	absoluteURL = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	// pathQuery is the query or fragment after a path without a scheme, as
	// "/v1/search?api_key=x" in a request line.
	pathQuery = regexp.MustCompile(`(/[^\s"'<>?#]*)[?#][^\s"'<>]*`)
	// credentialHeader is a credential header, in a header dump, a printed
	// http.Header, JSON (escaped inside a string too) or Node's inspect
	// output, with the rest of its line.
	credentialHeader = regexp.MustCompile(`(?im)\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|cookie|set-cookie)((?:\\?["'])?\s*[:=]\s*)[^\r\n]*`)
	// credentialParam is a parameter named for a credential, with its value.
	credentialParam = regexp.MustCompile(`(?i)\b(api[_-]?key|access[_-]?token|auth[_-]?token|token|client[_-]?secret|secret|password|passwd)=[^\s&,;"'<>]*`)
	// bearer is a token given with its authentication scheme.
	bearer = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`)
)

// safeError is msg as Update stores it: without the user info, query and
// fragment of URLs, with the values of credential headers and parameters
// redacted, NUL characters and each byte of invalid UTF-8 as U+FFFD (as the
// encoder would write them), and at most max bytes, a longer message
// cut (before the word the limit falls in, when that word holds ':', '@',
// '=' or '/') at a rune boundary before TruncatedMark. Only what can be kept
// is cleaned, so a huge message costs no more than a short one.
func safeError(msg string, max int) string {
	whole := len(msg) <= max
	if !whole {
		// A piece of a URL cut before its '@', or of a credential cut
		// before its name ends, is no longer recognisable: cut before the
		// word the limit falls in when it looks like one.
		msg = msg[:max]
		if start := strings.LastIndexAny(msg, " \t\r\n\"'<>") + 1; strings.ContainsAny(msg[start:], ":@=/") {
			msg = msg[:start]
		}
	}
	msg = validText(msg)
	msg = absoluteURL.ReplaceAllStringFunc(msg, stripURL)
	msg = pathQuery.ReplaceAllString(msg, "$1")
	msg = credentialHeader.ReplaceAllString(msg, "$1$2"+redacted)
	msg = credentialParam.ReplaceAllString(msg, "$1="+redacted)
	msg = bearer.ReplaceAllString(msg, "$1 "+redacted)
	if whole && len(msg) <= max {
		return msg
	}
	cut := min(len(msg), max-len(TruncatedMark))
	for cut > 0 && cut < len(msg) && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + TruncatedMark
}

// stripURL returns u without its query, fragment and user info.
func stripURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}

// validText returns s with NUL characters and each byte that is not part of
// valid UTF-8 replaced by U+FFFD.
func validText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
