package usage

import "fmt"

// Provider names a paid API whose successful calls are counted. Its value is
// the name used on the wire, in the Redis key; it must satisfy
// [Provider.Validate].
type Provider string

// The providers the enrichment pipeline calls, with their wire names.
const (
	Apollo     Provider = "apollo"
	ContactOut Provider = "contactout"
	Exa        Provider = "exa"
	EDGAR      Provider = "edgar"
	Claude     Provider = "claude"
)

// maxProviderLen is the longest provider name [Provider.Validate] accepts.
const maxProviderLen = 64

// Validate reports whether p is usable as a provider name: 1 to 64 bytes, each
// a lower-case ASCII letter, a digit, '_' or '-'. Anything else could make
// keys collide or escape their namespace, so it is rejected.
func (p Provider) Validate() error {
	switch i := p.invalidAt(); {
	case i < 0:
		return nil
	case len(p) == 0:
		return fmt.Errorf("usage: invalid provider %q: empty", string(p))
	case len(p) > maxProviderLen:
		return fmt.Errorf("usage: invalid provider %.20q...: longer than %d bytes", string(p), maxProviderLen)
	default:
		return fmt.Errorf("usage: invalid provider %q: byte %q at %d is not in [a-z0-9_-]", string(p), p[i], i)
	}
}

// invalidAt returns -1 when p is a valid provider name, and otherwise the
// index of its first bad byte, or 0 when its length is out of range. It does
// not allocate, so Track's slow path can check without building an error.
func (p Provider) invalidAt() int {
	if len(p) == 0 || len(p) > maxProviderLen {
		return 0
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return i
		}
	}
	return -1
}

// Counters of Claude's tokens per UTC day, in the same key scheme as calls
// ("api_usage:claude_input_tokens:2026-11-26"), so that [Reader.Daily],
// [Reader.Burn] and the TypeScript app read them as they read calls. They
// are fed with [Tracker.Add]; the providers package reads the amounts from
// Anthropic's responses.
const (
	ClaudeInputTokens      Provider = "claude_input_tokens"       // usage.input_tokens
	ClaudeOutputTokens     Provider = "claude_output_tokens"      // usage.output_tokens
	ClaudeCacheReadTokens  Provider = "claude_cache_read_tokens"  // usage.cache_read_input_tokens
	ClaudeCacheWriteTokens Provider = "claude_cache_write_tokens" // usage.cache_creation_input_tokens
)
