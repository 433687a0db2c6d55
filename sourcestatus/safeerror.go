package sourcestatus

import (
	"strings"
	"unicode/utf8"
)

// TruncatedMark ends an error message that [Updater.Update] cut to its limit.
const TruncatedMark = "… [truncated]"

// safeError is msg as Update stores it: NUL characters as U+FFFD, and at
// most max bytes, a longer message cut at a rune boundary before
// TruncatedMark.
func safeError(msg string, max int) string {
	whole := len(msg) <= max
	msg = strings.ReplaceAll(msg[:min(len(msg), max)], "\x00", "\uFFFD")
	if whole && len(msg) <= max {
		return msg
	}
	cut := min(len(msg), max-len(TruncatedMark))
	for cut > 0 && cut < len(msg) && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + TruncatedMark
}
