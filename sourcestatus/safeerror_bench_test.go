package sourcestatus_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// BenchmarkSafeError cleans messages of the shapes Update meets, with
// safeError (impl=Net) beside the version that recognised only URLs,
// credential headers, key=value parameters and Bearer or Basic tokens
// (impl=Legacy, the baseline):
//
//	go test ./sourcestatus -run '^$' -bench SafeError -benchmem -count 10 | benchstat -col /impl -
func BenchmarkSafeError(b *testing.B) {
	long := strings.Repeat(`{"name":"Acme Corp","domain":"acme.example","employees":1200,"tags":["b2b","saas"]} `, 60) // 5 KiB, cut to 4 KiB
	msgs := []struct{ name, msg string }{
		{"status", "HTTP 429"},
		{"urlError", `Get "https://api.exa.ai/search": dial tcp: lookup api.exa.ai on 127.0.0.53:53: no such host`},
		{"apiBody", `POST "https://api.anthropic.com/v1/messages": 429 Too Many Requests {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (0f6a2c1e-5b7d-4e8a-9c3f-2d1b0a9e8f7c) of 50,000 input tokens per minute."},"request_id":"req_011CUm6ZRN6SsMQg9VhBCCXJ"}`},
		{"headerDump", "refused: GET /v1/people/match HTTP/1.1\r\nHost: api.apollo.io\r\nUser-Agent: Go-http-client/1.1\r\nX-Api-Key: Zk3vQ9xT2mLp8RwN4bYc7A\r\nAuthorization: Bearer sk-ant-api03-R2D2C3POr2d2c3poR2D2C3POr2d2c3poR2D2C3POr2d2c3po-AAAA\r\nAccept-Encoding: gzip\r\n"},
		{"long", long},
	}
	impls := []struct {
		name string
		f    func(string, int) string
	}{
		{"Legacy", legacySafeError},
		{"Net", sourcestatus.SafeError},
	}
	for _, m := range msgs {
		for _, impl := range impls {
			b.Run("msg="+m.name+"/impl="+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if impl.f(m.msg, sourcestatus.DefaultMaxErrorLen) == "" {
						b.Fatal("empty")
					}
				}
			})
		}
	}
}

// legacySafeError is the baseline: safeError as it was before it recognised
// keys by their shape, JSON fields and high-entropy words, kept whole with
// its patterns and helpers.
func legacySafeError(msg string, max int) string {
	whole := len(msg) <= max
	if !whole {
		msg = msg[:max]
		if start := strings.LastIndexAny(msg, " \t\r\n\"'<>") + 1; strings.ContainsAny(msg[start:], ":@=/") {
			msg = msg[:start]
		}
	}
	msg = legacyValidText(msg)
	msg = legacyAbsoluteURL.ReplaceAllStringFunc(msg, legacyStripURL)
	msg = legacyPathQuery.ReplaceAllString(msg, "$1")
	msg = legacyCredentialHeader.ReplaceAllString(msg, "$1$2[REDACTED]")
	msg = legacyCredentialParam.ReplaceAllString(msg, "$1=[REDACTED]")
	msg = legacyBearer.ReplaceAllString(msg, "$1 [REDACTED]")
	if whole && len(msg) <= max {
		return msg
	}
	cut := min(len(msg), max-len(sourcestatus.TruncatedMark))
	for cut > 0 && cut < len(msg) && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + sourcestatus.TruncatedMark
}

var (
	legacyAbsoluteURL      = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	legacyPathQuery        = regexp.MustCompile(`(/[^\s"'<>?#]*)[?#][^\s"'<>]*`)
	legacyCredentialHeader = regexp.MustCompile(`(?im)\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|cookie|set-cookie)((?:\\?["'])?\s*[:=]\s*)[^\r\n]*`)
	legacyCredentialParam  = regexp.MustCompile(`(?i)\b(api[_-]?key|access[_-]?token|auth[_-]?token|token|client[_-]?secret|secret|password|passwd)=[^\s&,;"'<>]*`)
	legacyBearer           = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`)
)

func legacyStripURL(u string) string {
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

func legacyValidText(s string) string {
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
