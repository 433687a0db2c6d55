package usage

import (
	"context"
	"errors"
	"reflect"

	"github.com/redis/go-redis/v9"
)

// Redis is the part of a go-redis client that this package uses: one
// pipelined round trip. [*redis.Client] and [*redis.ClusterClient] satisfy
// it; on a cluster a pipeline is split by slot, so each key is read and
// written on the node that owns it.
//
// [*redis.Ring] is refused: while one of its shards is down, a Ring sends
// that shard's keys to the others, so counts written meanwhile land in keys
// that no reader finds once the shard is back. A tracker or reader built on
// a Ring returns an error from every write and read; use a Cluster, or one
// Client.
type Redis interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

var (
	_ Redis = (*redis.Client)(nil)
	_ Redis = (*redis.ClusterClient)(nil)
)

var (
	errNilRedis = errors.New("usage: nil Redis client")
	errRing     = errors.New("usage: *redis.Ring is not supported: while a shard is down it writes that shard's keys to the others, where readers never find them; use a *redis.ClusterClient or a *redis.Client")
)

// checkClient returns why rdb cannot be used, or nil. A nil pointer inside
// the interface is as nil as a nil interface.
func checkClient(rdb Redis) error {
	if rdb == nil {
		return errNilRedis
	}
	if _, ok := rdb.(*redis.Ring); ok {
		return errRing
	}
	switch v := reflect.ValueOf(rdb); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		if v.IsNil() {
			return errNilRedis
		}
	}
	return nil
}
