package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// DayCount is one provider's count of successful calls on one UTC day.
type DayCount struct {
	Day   time.Time // UTC midnight that starts the day
	Count int64
}

// Daily returns p's count for every UTC day from the day of from to the day of
// to, both included, oldest first, with zero for days without a key. It reads
// all days in one pipelined round trip of GETs, so it works on Redis Cluster,
// where the days' keys live in different slots. A span longer than 3660 days,
// to before from, or an invalid provider is an error. Of [Money], it
// returns what each day cost, in Micros.
func (r *Reader) Daily(ctx context.Context, p Provider, from, to time.Time) ([]DayCount, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if r.rdbErr != nil {
		return nil, r.rdbErr
	}
	first, last := dayOf(from), dayOf(to)
	if last < first {
		return nil, fmt.Errorf("usage: daily %s: to (%s) is before from (%s)", p, to.UTC().Format(dayLayout), from.UTC().Format(dayLayout))
	}
	n := int(last-first) + 1
	if n > maxDays {
		return nil, fmt.Errorf("usage: daily %s: %d days asked, at most %d", p, n, maxDays)
	}
	if p == Money {
		out, err := r.dailyMoney(ctx, first, last)
		if err != nil && !isContextErr(err) {
			err = fmt.Errorf("usage: daily %s: %w", p, err)
		}
		return out, err
	}
	counts, keyErrs, err := r.readDays(ctx, []span{{p, first, last + 1}})
	switch {
	case isContextErr(err) && ctx.Err() != nil:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("usage: daily %s: read %d keys: %w", p, n, err)
	case keyErrs[0] != nil:
		return nil, fmt.Errorf("usage: daily %s: %w", p, keyErrs[0])
	}
	out := make([]DayCount, n)
	for i, c := range counts[0] {
		out[i] = DayCount{Day: (first + day(i)).time(), Count: c}
	}
	return out, nil
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
