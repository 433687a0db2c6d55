package usage

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPrefix is the key prefix shared with the TypeScript app.
const DefaultPrefix = "api_usage"

// dayLayout formats a UTC day in keys.
const dayLayout = "2006-01-02"

// Key returns the Redis key that holds p's count for the UTC day of t, with the
// default prefix: "api_usage:{provider}:{YYYY-MM-DD}". It does not validate p.
func Key(p Provider, t time.Time) string {
	return key(DefaultPrefix, p, dayOf(t))
}

func key(prefix string, p Provider, d day) string {
	return prefix + ":" + string(p) + ":" + d.time().Format(dayLayout)
}

// hashKey returns the key of the hash that holds the fields of the counter
// name for day d: "{api_usage}:name:2026-11-26". It is hash-tagged by the
// prefix, so a SCAN of the counters' prefix never lists it.
func hashKey(prefix string, name Provider, d day) string {
	return "{" + prefix + "}:" + string(name) + ":" + d.time().Format(dayLayout)
}

// markerKey names the hash in which trackers record the last of their
// writes applied to key, a field each. The script reads and writes both in
// one step, so on Redis Cluster they must share a slot, whatever braces the
// prefix holds:
//
//   - a key without braces hashes whole, so its marker makes the key its hash
//     tag: "{api_usage:exa:2026-11-26}:applied";
//   - a key with a hash tag ("{usage}:exa:...") hashes by the tag, and so does
//     "applied:{usage}:exa:...", which cannot match a SCAN of the prefix;
//   - a key that holds a '}' but no usable tag ("x}y:exa:...") hashes whole
//     and cannot be a tag itself, so the marker's tag is a short string
//     chosen to hash to the key's slot.
func markerKey(key string) string {
	_, tagged := hashTag(key)
	switch {
	case tagged:
		return "applied:" + key
	case !strings.Contains(key, "}"):
		return "{" + key + "}:applied"
	default:
		return "{" + slotTags()[clusterSlot(key)] + "}:applied:" + key
	}
}

// hashTag returns the part of key that Redis Cluster hashes: the text between
// the first '{' and the first '}' after it, when that is not empty, and
// otherwise the whole key.
func hashTag(key string) (tag string, tagged bool) {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j], true
		}
	}
	return key, false
}

// clusterSlot returns the Redis Cluster slot of key: CRC16 (XMODEM) of its hashed
// part, modulo 16384.
func clusterSlot(key string) int {
	tag, _ := hashTag(key)
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// slotTags returns, for every cluster slot, the shortest decimal number that
// hashes to it: a hash tag that puts a key in that slot. It is computed once,
// on first use, by counting up until every slot is covered (about 150,000
// numbers).
var slotTags = sync.OnceValue(func() *[16384]string {
	var tags [16384]string
	left := len(tags)
	for n := 0; left > 0; n++ {
		s := strconv.Itoa(n)
		if i := clusterSlot(s); tags[i] == "" {
			tags[i] = s
			left--
		}
	}
	return &tags
})
