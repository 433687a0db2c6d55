package usage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reported is what a provider last said of its own quota in the headers of
// a response, such as Apollo's x-24-hour-requests-left or Anthropic's
// anthropic-ratelimit-tokens-remaining, so a dashboard can show "Apollo says
// 412 left today" beside the tracker's count. The providers package fills
// it from responses (see its WithReportedQuota).
type Reported struct {
	At     time.Time         // when the response arrived; zero when nothing was reported
	Status int               // the response's HTTP status
	Values map[string]string // lower-case header names to their values, as sent
}

// reportedTTL is how long Redis keeps a provider's reported quota after its
// last report.
const reportedTTL = 7 * 24 * time.Hour

// reportedKey names the hash that holds p's reported quota:
// "{api_usage}:reported:apollo". It is hash-tagged, so a SCAN of the
// counters' prefix never lists it.
func reportedKey(prefix string, p Provider) string {
	return "{" + prefix + "}:reported:" + string(p)
}

// Fields of a reported-quota hash besides the headers, which are lower case
// and so never "At" or "Status".
const (
	reportedAt     = "At"
	reportedStatus = "Status"
)

// replaceHashScript replaces the hash KEYS[1] with the field-value pairs
// ARGV[2:] and sets its TTL to ARGV[1] milliseconds, in one step, so a
// reader never sees a mix of two reports.
var replaceHashScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// reports holds the quotas providers reported until a round writes them: a
// part of every round (see roundPart).
type reports struct {
	prefix  string
	mu      sync.Mutex // protects waiting
	waiting map[Provider]Reported
	sending []reportWrite // the running round's; only the round touches it
}

func newReports(prefix string) *reports {
	return &reports{prefix: prefix, waiting: make(map[Provider]Reported)}
}

func (rs *reports) set(p Provider, r Reported) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.waiting[p] = r
}

// A reportWrite is a report being written in a round.
type reportWrite struct {
	p   Provider
	r   Reported
	key string
}

// calls takes the reports not yet written, each replacing its hash in one
// step.
func (rs *reports) calls() []scriptCall {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.sending = rs.sending[:0]
	var calls []scriptCall
	for p, r := range rs.waiting {
		w := reportWrite{p, r, reportedKey(rs.prefix, p)}
		rs.sending = append(rs.sending, w)
		calls = append(calls, scriptCall{script: replaceHashScript, keys: []string{w.key}, args: w.args()})
	}
	clear(rs.waiting)
	return calls
}

// replies keeps each report whose write failed for the next round, unless
// a newer report came meanwhile.
func (rs *reports) replies(calls []scriptCall) (refused []error, lost error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, w := range rs.sending {
		switch err := calls[i].cmd.Err(); {
		case err == nil:
			continue
		case refusesKey(err):
			refused = append(refused, &KeyError{Key: w.key, Err: err})
		default:
			lost = err
		}
		if _, newer := rs.waiting[w.p]; !newer {
			rs.waiting[w.p] = w.r
		}
	}
	return refused, lost
}

// args returns the script's arguments for w: the TTL, then field-value
// pairs, headers in sorted order.
func (w reportWrite) args() []any {
	args := []any{reportedTTL.Milliseconds(), reportedAt, w.r.At.UTC().Format(time.RFC3339Nano), reportedStatus, strconv.Itoa(w.r.Status)}
	for _, k := range slices.Sorted(maps.Keys(w.r.Values)) {
		args = append(args, k, w.r.Values[k])
	}
	return args
}

// Reported returns the quota p last reported, as a tracker wrote it: a
// zero At when there is none (nothing reported in the last 7 days).
func (r *Reader) Reported(ctx context.Context, p Provider) (Reported, error) {
	if err := p.Validate(); err != nil {
		return Reported{}, err
	}
	fields, err := r.hash(ctx, "reported "+string(p), reportedKey(r.cfg.prefix, p))
	if err != nil {
		return Reported{}, err
	}
	if len(fields) == 0 {
		return Reported{}, nil
	}
	var rep Reported
	at, err1 := time.Parse(time.RFC3339Nano, fields[reportedAt])
	status, err2 := strconv.Atoi(fields[reportedStatus])
	if err := errors.Join(err1, err2); err != nil {
		return Reported{}, fmt.Errorf("usage: reported %s: key %s: %w", p, reportedKey(r.cfg.prefix, p), err)
	}
	rep.At, rep.Status = at, status
	delete(fields, reportedAt)
	delete(fields, reportedStatus)
	rep.Values = fields
	return rep, nil
}
