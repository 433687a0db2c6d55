package usage

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Redis is the part of a go-redis client that this package uses: one
// pipelined round trip. [*redis.Client], [*redis.ClusterClient] and
// [*redis.Ring] satisfy it. On a cluster, a pipeline is split by slot, so each
// key is read and written on the node that owns it.
type Redis interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

var (
	_ Redis = (*redis.Client)(nil)
	_ Redis = (*redis.ClusterClient)(nil)
	_ Redis = (*redis.Ring)(nil)
)

// errNilRedis is returned by every write or read of a Tracker or Reader built
// with a nil Redis.
var errNilRedis = errors.New("usage: nil Redis client")
