package usage

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// maxDays bounds the span of one [Reader.Daily] call.
const maxDays = 3660

// A Reader reads the daily counts that trackers (and the TypeScript app)
// wrote. It honours [WithPrefix], [WithClock] and [WithPrices]; other
// options are ignored.
//
// A Reader is safe for concurrent use. The zero value is not usable; use
// [NewReader].
type Reader struct {
	rdb    Redis
	rdbErr error // why rdb cannot be used, as for a Tracker
	cfg    config
}

// NewReader returns a Reader of the counts in rdb. A nil rdb, typed or not,
// or a client this package refuses (see [Redis]) makes a Reader whose every
// read returns the reason.
func NewReader(rdb Redis, opts ...Option) *Reader {
	return &Reader{rdb: rdb, rdbErr: checkClient(rdb), cfg: newConfig(opts)}
}

// A span is a counter's days [from, to).
type span struct {
	p        Provider
	from, to day
}

// readDays reads the daily counts of spans in one pipelined round trip, so
// it works on Redis Cluster, where the days' keys live in different slots:
// for each span, its days' counts (zero for a day without a key), or the
// error of the first of its keys that Redis answered with an error, naming
// the key. An error of the round trip itself is returned, ctx.Err() when
// ctx ended.
func (r *Reader) readDays(ctx context.Context, spans []span) ([][]int64, []error, error) {
	cmds := make([][]*redis.StringCmd, len(spans))
	_, err := r.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, s := range spans {
			for d := s.from; d < s.to; d++ {
				cmds[i] = append(cmds[i], pipe.Get(ctx, key(r.cfg.prefix, s.p, d)))
			}
		}
		return nil
	})
	var reply redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &reply) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, ctxErr
		}
		return nil, nil, err
	}
	counts, errs := make([][]int64, len(spans)), make([]error, len(spans))
	for i := range spans {
		counts[i] = make([]int64, len(cmds[i]))
		for j, c := range cmds[i] {
			v, err := c.Int64()
			if err != nil && !errors.Is(err, redis.Nil) {
				errs[i] = fmt.Errorf("key %s: %w", c.Args()[1], err)
				break
			}
			counts[i][j] = v
		}
	}
	return counts, errs, nil
}

// An EntryError is an entry of a hash in Redis (the quotas, alerts and
// pauses that guards and limiters share, the breakdowns' fields) that a
// [Reader] could not read: it leaves the entry out and reads the others,
// and returns every EntryError joined ([errors.Join]), so that errors.As
// tells them from a failed read.
type EntryError struct {
	Key   string // the hash
	Field string // the entry
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("usage: entry %s of %s: %v", e.Field, e.Key, e.Err)
}

// Unwrap returns why the entry could not be read.
func (e *EntryError) Unwrap() error { return e.Err }

// hash returns the fields of the hash k. Its error is ctx.Err() when ctx
// ended, and otherwise says what was being read.
func (r *Reader) hash(ctx context.Context, what, k string) (map[string]string, error) {
	if r.rdbErr != nil {
		return nil, r.rdbErr
	}
	var cmd *redis.MapStringStringCmd
	_, err := r.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		cmd = pipe.HGetAll(ctx, k)
		return nil
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("usage: %s: %w", what, err)
	}
	return cmd.Val(), nil
}
