// Package localredis gives the examples their Redis: the server a redis://
// URL names or, without one, an in-process miniredis, so that every example
// runs on a fresh machine with no servers.
package localredis

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Open returns a client of the Redis that url names (redis://host:port/db,
// as redis.ParseURL reads it), or of a new in-process miniredis when url is
// empty; a description of it for the examples to print; and a function
// that closes the client, and the miniredis if there is one.
func Open(url string) (rdb *redis.Client, name string, closeAll func(), err error) {
	if url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, "", nil, fmt.Errorf("-redis %q: %w (want redis://host:port/db)", url, err)
		}
		rdb = redis.NewClient(opts)
		return rdb, opts.Addr, func() { _ = rdb.Close() }, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, "", nil, err
	}
	rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, "in-process miniredis (-redis redis://host:port for a real one)", func() { _ = rdb.Close(); mr.Close() }, nil
}
