package sourcestatus

// An error message passes through a net before Update stores it (FromHTTP
// applies the same), in this order:
//
//  1. a message longer than the limit is cut first, so a huge message costs
//     no more than a short one; the cut drops the word it falls in when that
//     word holds ':', '@', '=' or '/' (a URL or a key=value cut short), and
//     the run of a key's characters it falls in: a key cut short is no
//     longer recognisable, so no piece of one is kept;
//  2. NUL characters and invalid UTF-8 become U+FFFD;
//  3. URLs lose their user info, query and fragment;
//  4. the value of each field, header or parameter named for a credential
//     is redacted (see redactFields and credentialName): "apiKey":"...",
//     'x-api-key': '...', \"token\":\"...\", Authorization: ... in a header
//     dump, map[Authorization:[...]], {APIKey:...}, password=...;
//  5. words are judged one by one (see redactWords): the word after Bearer,
//     Basic, token, secret, password or an API key's name unless it is a
//     plain word ("token expired"), keys of a known prefix, AWS keys, JWTs,
//     and words that look random (see highEntropy);
//  6. a message that redaction made longer than the limit is cut again.
//
// It keeps what helps: hosts, paths, status codes, UUIDs (prospect ids, AWS
// request ids), request ids of the form req_..., Go's error text. What it
// cannot catch: a secret that looks like a word, a number or a UUID (some
// providers' keys are UUIDs) with no credential's name before it; a random
// word shorter than 20 characters, or of 20 to 31 without a digit or of one
// case; base64 with '/' whose pieces are that short; a known prefix glued to
// the word before it; an unquoted value holding a space (its first word
// goes); a secret under a name it does not know ("x-exa-auth: ...").
//
// The steps are scans written by hand, not regular expressions: the
// expressions of the first version cost tens of µs on a message of a few
// hundred bytes and about a millisecond on a 4 KiB one, more than the
// database round trip beside them (BenchmarkSafeError), and a quoted
// value's level of escaping is beyond them.

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
//     [*url.Error]'s URL loses its query, fragment and user info, and the
//     message passes through the net [Updater.Update] applies (see the
//     package doc) and is cut to [DefaultMaxErrorLen];
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

// pathQuery is the query or fragment after a path without a scheme, as
// "/v1/search?api_key=x" in a request line.
var pathQuery = regexp.MustCompile(`(/[^\s"'<>?#]*)[?#][^\s"'<>]*`)

// safeError is msg as Update stores it, through the net described at the
// top of this file, at most max bytes: a longer message is cut at a rune
// boundary before TruncatedMark.
func safeError(msg string, max int) string {
	whole := len(msg) <= max
	if !whole {
		msg = cutBefore(msg, max)
	}
	msg = validText(msg)
	msg = stripURLs(msg)
	if strings.ContainsAny(msg, "?#") {
		msg = pathQuery.ReplaceAllString(msg, "$1")
	}
	msg = redactFields(msg)
	msg = redactWords(msg)
	if whole && len(msg) <= max {
		return msg
	}
	cut := min(len(msg), max-len(TruncatedMark))
	for cut > 0 && cut < len(msg) && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + TruncatedMark
}

// cutBefore returns msg cut to max bytes, less the word the cut falls in
// when it holds ':', '@', '=' or '/', and less the run of keyBytes it falls
// in: a URL cut before its '@', a credential cut before its name ends or a
// key cut short is no longer recognisable.
func cutBefore(msg string, max int) string {
	next := msg[max]
	msg = msg[:max]
	if start := strings.LastIndexAny(msg, " \t\r\n\"'<>") + 1; strings.ContainsAny(msg[start:], ":@=/") {
		return msg[:start]
	}
	if !isKeyByte(next) {
		return msg
	}
	i := len(msg)
	for i > 0 && isKeyByte(msg[i-1]) {
		i--
	}
	return msg[:i]
}

// stripURLs returns s with the user info, query and fragment of each URL
// with a scheme ("scheme://...", up to a space, a quote or '<' '>') removed.
func stripURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); {
		at := strings.Index(s[i:], "://")
		if at < 0 {
			break
		}
		at += i
		start := at
		for start > i && isSchemeByte(s[start-1]) {
			start--
		}
		end := at + 3
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		if u := stripURL(s[start:end]); u != s[start:end] {
			b.WriteString(s[done:start])
			b.WriteString(u)
			done = end
		}
		i = end
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
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
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return u
	}
	return scheme + "://" + rest[at+1:]
}

// redactFields returns s with the value of each field named for a
// credential (see credentialName) redacted. A value is, after ':' or '='
// and blanks:
//
//   - a quoted string, ending at its closing quote or at the end of the
//     line: "x", 'x', and \"x\" at any level of escaping, whose inner quotes
//     carry more backslashes than its own;
//   - a bracketed list, as Go prints an [http.Header]: [Bearer x];
//   - for Authorization and Cookie headers, the rest of the line, up to a
//     line break or an escaped one ("\n" in a JSON string): their values
//     hold spaces;
//   - otherwise a word, up to a blank or one of , ) } ] " ' < > \ (not '&'
//     or ';', which a password may hold: "api_key=x&q=y" loses both values),
//     with the word after it when it is Bearer, Basic or token.
//
// A value that opens an object ('{') is left to the names inside it.
func redactFields(s string) string {
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' && s[i] != '=' {
			continue
		}
		name, ok := fieldName(s, i)
		if !ok {
			continue
		}
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		start, end := fieldValue(s, v, hasSuffixFold(name, "authorization") || hasSuffixFold(name, "cookie"))
		if end > start {
			b.WriteString(s[done:start])
			b.WriteString(redacted)
			done = end
			i = end - 1
		}
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// fieldName returns the name before the separator at s[sep], past blanks and
// a closing quote with its backslashes, and whether it names a credential.
// A name right after '/' is the end of a path ("https://host/oauth/token":),
// not a field.
func fieldName(s string, sep int) (string, bool) {
	j := sep
	for j > 0 && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
		j--
		for j > 0 && s[j-1] == '\\' {
			j--
		}
	}
	end := j
	for j > 0 && isNameByte(s[j-1]) {
		j--
	}
	if j == end || j > 0 && s[j-1] == '/' {
		return "", false
	}
	name := s[j:end]
	return name, credentialName(name)
}

// credentialName reports whether a field's name names a credential: it ends,
// in any case, in one of secretNames, or in "key" or "keys" after one of
// keyKinds and an optional '_' or '-' (apiKey, x-api-key, secret_key; not
// publicKey). "max_tokens" and
// "token_type" do not.
func credentialName(name string) bool {
	for _, suffix := range secretNames {
		if hasSuffixFold(name, suffix) {
			return true
		}
	}
	kind, ok := cutSuffixFold(name, "key")
	if !ok {
		kind, ok = cutSuffixFold(name, "keys")
	}
	if !ok {
		return false
	}
	if n := len(kind); n > 0 && (kind[n-1] == '_' || kind[n-1] == '-') {
		kind = kind[:n-1]
	}
	for _, k := range keyKinds {
		if hasSuffixFold(kind, k) {
			return true
		}
	}
	return false
}

var (
	secretNames = []string{"token", "secret", "password", "passwd", "passphrase", "authorization", "cookie", "credential", "credentials", "signature"}
	keyKinds    = []string{"api", "secret", "private", "access", "auth", "session", "client", "master", "signing", "encryption"}
)

// fieldValue returns the bounds of the value at s[i:], as redactFields
// describes it; line says the value is the rest of the line when unquoted.
func fieldValue(s string, i int, line bool) (start, end int) {
	n := 0 // backslashes before a quote: the string's level of escaping
	for i+n < len(s) && s[i+n] == '\\' {
		n++
	}
	if i+n < len(s) && (s[i+n] == '"' || s[i+n] == '\'') {
		q := s[i+n]
		start = i + n + 1
		for j := start; j < len(s); j++ {
			switch {
			case s[j] == '\r' || s[j] == '\n':
				return start, j
			case n == 0 && s[j] == '\\':
				j++
			case s[j] == q:
				k := 0
				for k < j-start && s[j-1-k] == '\\' {
					k++
				}
				if k == n {
					return start, j - n
				}
			}
		}
		return start, len(s)
	}
	switch {
	case i == len(s) || s[i] == '{':
		return i, i
	case s[i] == '[':
		if j := strings.IndexByte(s[i:], ']'); j >= 0 {
			return i, i + j + 1
		}
		return i, lineEnd(s, i)
	case line:
		return i, lineEnd(s, i)
	}
	end = valueWordEnd(s, i)
	if isScheme(s[i:end]) {
		j := end
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j > end {
			end = max(end, valueWordEnd(s, j))
		}
	}
	return i, end
}

// valueWordEnd returns the end of the unquoted value that starts at s[i].
func valueWordEnd(s string, i int) int {
	for i < len(s) && !valueEnds[s[i]] {
		i++
	}
	return i
}

// lineEnd returns the end of the line at s[i:]: a line break, or an escaped
// one ("\n" inside a JSON string), or the end of s.
func lineEnd(s string, i int) int {
	for ; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' || s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'r' || s[i+1] == 'n') {
			return i
		}
	}
	return i
}

// redactWords returns s with these words redacted, a word being a run of
// keyBytes less '.', '~' and '=':
//
//   - the value after Bearer, Basic, token, secret, password, passwd,
//     apikey, api-key, api_key, x-api-key or "API key" and blanks, unless
//     it is a plain word (letters, lower case after the first: "token
//     expired", "Bearer token"); the value runs over '.' and '~' too;
//   - a JWT: "eyJ" and 10 or more word bytes, with its '.'-joined parts;
//   - an AWS secret access key's shape: 40 letters, digits, '+' and '/'
//     mixing upper case, lower case and digits;
//   - each '/'-separated piece that starts with a known key prefix
//     (keyPrefixes), is an AWS access key id (AKIA or ASIA and 16 upper-case
//     letters or digits), or is of high entropy (see highEntropy).
//
// A redacted word loses its '=' padding too.
func redactWords(s string) string {
	var b strings.Builder
	done := 0
	redact := func(start, end int) {
		for end < len(s) && s[end] == '=' {
			end++
		}
		b.WriteString(s[done:start])
		b.WriteString(redacted)
		done = end
	}
	keywordEnd := -1 // the end of the last keyword
	prev := ""       // the word before
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		if keywordEnd >= 0 && i > keywordEnd && strings.Trim(s[keywordEnd:i], " \t") == "" {
			end := i
			for end < len(s) && (isWordByte(s[end]) || s[end] == '.' || s[end] == '~') {
				end++
			}
			for end > i+1 && s[end-1] == '.' {
				end--
			}
			if !isPlainWord(s[i:end]) {
				redact(i, end)
				i, keywordEnd, prev = done, -1, ""
				continue
			}
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		word := s[i:j]
		keywordEnd = -1
		if isKeyword(word) || strings.EqualFold(word, "key") && strings.EqualFold(prev, "api") {
			keywordEnd = j
		}
		prev = word
		switch {
		case strings.HasPrefix(word, "eyJ") && len(word) >= 13:
			for j+1 < len(s) && s[j] == '.' && isWordByte(s[j+1]) {
				for j++; j < len(s) && isWordByte(s[j]); j++ {
				}
			}
			redact(i, j)
			j = done
		case isAWSSecretKey(word):
			redact(i, j)
			j = done
		default:
			for p := i; p < j; {
				q := j
				if k := strings.IndexByte(s[p:j], '/'); k >= 0 {
					q = p + k
				}
				if isSecretPiece(s[p:q]) {
					redact(p, q)
					if q == j {
						j = done
					}
				}
				p = q + 1
			}
		}
		i = j
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// keyPrefixes are the prefixes of well-known keys and tokens, each with the
// fewest bytes that must follow it for a word to be taken for one.
var keyPrefixes = []struct {
	prefix string
	min    int
}{
	// Anthropic (sk-ant-api03-, sk-ant-admin01-), OpenAI (sk-, sk-proj-)
	{"sk-", 8},
	// Stripe
	{"sk_live_", 8}, {"sk_test_", 8}, {"rk_live_", 8}, {"rk_test_", 8}, {"whsec_", 8},
	// GitHub, GitLab
	{"ghp_", 20}, {"gho_", 20}, {"ghu_", 20}, {"ghs_", 20}, {"ghr_", 20}, {"github_pat_", 20}, {"glpat-", 16},
	// Slack
	{"xoxb-", 8}, {"xoxp-", 8}, {"xoxa-", 8}, {"xoxr-", 8}, {"xoxs-", 8}, {"xoxe-", 8}, {"xapp-", 8},
	// Google, Hugging Face, npm
	{"AIza", 30}, {"hf_", 30}, {"npm_", 30},
}

// isSecretPiece reports whether a piece of a word, between slashes, is a
// key of a known prefix, an AWS access key id, or of high entropy. A
// request id ("req_...", as Anthropic, OpenAI and Stripe write them) is
// kept: it is what a provider's support asks for.
func isSecretPiece(p string) bool {
	if len(p) < 11 || strings.HasPrefix(p, "req_") {
		return false
	}
	for _, k := range keyPrefixes {
		if strings.HasPrefix(p, k.prefix) && len(p)-len(k.prefix) >= k.min {
			return true
		}
	}
	if len(p) == 20 && (strings.HasPrefix(p, "AKIA") || strings.HasPrefix(p, "ASIA")) &&
		strings.IndexFunc(p, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }) < 0 {
		return true
	}
	return highEntropy(p)
}

// highEntropy reports whether a piece looks random, by its length and its
// classes of characters, UUIDs aside:
//
//   - 20 bytes or more mixing upper case, lower case and digits: random
//     base62 and base64 of that length almost always does (a piece of 20
//     random base62 characters lacks a digit 3 times in 100, of 32 once in
//     200), and words, paths and identifiers rarely do;
//   - 32 bytes or more holding both letters and digits: hex and base36 keys,
//     and hashes, trace ids and git hashes with them, which a net lets go.
//
// UUIDs (8-4-4-4-12 hex digits) are kept, and do not count: prospect ids,
// AWS request ids. So are Kubernetes pod names and CamelCase identifiers
// without digits ("ProvisionedThroughputExceededException"); Stripe-like
// object ids ("pi_3MtwBwLkdIwHu7ix28a3tqPa") are not.
func highEntropy(p string) bool {
	n, upper, lower, digit := 0, false, false, false
	for i := 0; i < len(p); i++ {
		if (i == 0 || !isAlnum(p[i-1])) && isUUID(p[i:]) {
			i += 35
			continue
		}
		c := p[i]
		n++
		switch {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		}
	}
	return n >= 20 && upper && lower && digit || n >= 32 && digit && (upper || lower)
}

// isUUID reports whether s starts with a UUID not followed by a letter or
// digit.
func isUUID(s string) bool {
	if len(s) < 36 || len(s) > 36 && isAlnum(s[36]) {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isAWSSecretKey reports whether w has the shape of an AWS secret access
// key: 40 letters, digits, '+' and '/', mixing upper case, lower case and
// digits, not starting with '/' (a path).
func isAWSSecretKey(w string) bool {
	if len(w) != 40 || w[0] == '/' || strings.ContainsAny(w, "_-*%") {
		return false
	}
	var upper, lower, digit bool
	for i := 0; i < len(w); i++ {
		c := w[i]
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
		digit = digit || '0' <= c && c <= '9'
	}
	return upper && lower && digit
}

// isKeyword reports whether w is a word that a credential follows.
func isKeyword(w string) bool {
	if len(w) < 5 || len(w) > 9 {
		return false
	}
	for _, k := range keywords {
		if strings.EqualFold(w, k) {
			return true
		}
	}
	return false
}

var keywords = []string{"bearer", "basic", "token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "x-api-key"}

// isScheme reports whether w is an authentication scheme a token follows.
func isScheme(w string) bool {
	return strings.EqualFold(w, "bearer") || strings.EqualFold(w, "basic") || strings.EqualFold(w, "token")
}

// isPlainWord reports whether w is letters only, lower case after the first.
func isPlainWord(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !('a' <= c && c <= 'z' || i == 0 && 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return w != ""
}

// cutSuffixFold returns s without the ASCII suffix, in any case, and
// whether s ended with it.
func cutSuffixFold(s, suffix string) (string, bool) {
	if !hasSuffixFold(s, suffix) {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

// hasSuffixFold reports whether s ends with the ASCII suffix, in any case.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Byte classes, as tables.
var (
	wordBytes, keyBytes, nameBytes, schemeBytes, urlEnds, valueEnds [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		wordBytes[c] = alnum || strings.ContainsRune("+/_-*%", rune(c))
		keyBytes[c] = wordBytes[c] || strings.ContainsRune(".~=", rune(c))
		nameBytes[c] = alnum || c == '_' || c == '-'
		schemeBytes[c] = alnum || strings.ContainsRune("+.-", rune(c))
		urlEnds[c] = strings.ContainsRune(" \t\r\n\f\v\"'<>", rune(c))
		valueEnds[c] = strings.ContainsRune(" \t\r\n,)}]\"'<>\\", rune(c))
	}
}

// isWordByte reports whether c may be part of a word that redactWords
// judges: letters, digits and + / _ - * % (base64, base64url, masked keys,
// percent-encoding).
func isWordByte(c byte) bool { return wordBytes[c] }

// isKeyByte reports whether c may be part of a key or token: a word byte, or
// one of . ~ = (JWTs, RFC 6750 tokens, base64 padding).
func isKeyByte(c byte) bool { return keyBytes[c] }

// isNameByte reports whether c may be part of a field's name.
func isNameByte(c byte) bool { return nameBytes[c] }

// isSchemeByte reports whether c may be part of a URL's scheme.
func isSchemeByte(c byte) bool { return schemeBytes[c] }

// isURLEnd reports whether c ends a URL.
func isURLEnd(c byte) bool { return urlEnds[c] }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
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
