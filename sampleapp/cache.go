package sampleapp

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis is a cache here (cache-aside): when it is down or slow, a request
// reads PostgreSQL instead, and must not wait for Redis first. go-redis's
// defaults suit a store that must answer, not a cache: a failed dial is
// tried 5 times 100 ms apart, a failed command 3 more times with a backoff,
// and reads wait 5 s; an order, which makes three cache calls, took up to
// 2.4 s while Redis restarted. So the client fails fast (newRedisClient):
// one dial, no command retry, 100 ms for a dial, a read or a write. And after a failure, redisCache skips Redis altogether
// for cacheSkipWindow: a refused connection costs microseconds, but a Redis
// that hangs (or a host that drops packets) would cost every call its
// timeout. An outage thus costs the requests of one instant their timeout
// (microseconds when the connection is refused, the common case), then
// nothing; after the window, the next calls try Redis again, and use it if
// it answers. Rather than a full circuit breaker with states and thresholds,
// one failure opens the window: a failure of a healthy Redis is rare, and
// costs only a second of cache misses.
const (
	redisTimeout    = 100 * time.Millisecond
	cacheSkipWindow = time.Second
	// redisPoolTimeout bounds the wait for a free connection. A request
	// that waits that long makes a cache miss, but a busy pool says
	// nothing about Redis: it does not open the skip window.
	redisPoolTimeout = 250 * time.Millisecond
)

// newRedisClient is the service's Redis client, configured to fail fast (see
// above). The connection pool is health-checked before each use, so a
// connection broken by a Redis restart is replaced, not failed on: command
// retries are not needed for that.
func newRedisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:         addr,
		PoolSize:     64,
		MinIdleConns: 8,
		DialTimeout:  redisTimeout,
		ReadTimeout:  redisTimeout,
		WriteTimeout: redisTimeout,
		PoolTimeout:  redisPoolTimeout,
		// One dial attempt per connection (go-redis's DialerRetries counts
		// attempts; 0 would mean its default of 5).
		DialerRetries: 1,
		MaxRetries:    -1, // no command retries
	})
}

// redisCache runs the cache calls of the requests, skipping Redis for
// cacheSkipWindow after a failure. A miss, a skipped call and a failed call
// look the same to the caller: read PostgreSQL.
type redisCache struct {
	rdb     *redis.Client
	log     *slog.Logger
	skipped prometheus.Counter
	// skipUntil is when Redis is tried again (unix nanoseconds).
	skipUntil atomic.Int64
}

// skip says whether Redis failed less than cacheSkipWindow ago, and counts
// the call skipped.
func (c *redisCache) skip() bool {
	if time.Now().UnixNano() < c.skipUntil.Load() {
		c.skipped.Inc()
		return true
	}
	return false
}

// failed logs a failure and opens the skip window, unless the request
// itself gave up (its context is done): that says nothing about Redis.
func (c *redisCache) failed(ctx context.Context, msg, key string, err error) {
	if ctx.Err() != nil || errors.Is(err, redis.ErrPoolTimeout) {
		return
	}
	c.skipUntil.Store(time.Now().Add(cacheSkipWindow).UnixNano())
	c.log.Warn(msg, "key", key, "err", err, "skip_for", cacheSkipWindow)
}

// get returns the cached value of key, if Redis has it and answers.
func (c *redisCache) get(ctx context.Context, key string) ([]byte, bool) {
	if c.skip() {
		return nil, false
	}
	b, err := c.rdb.Get(ctx, key).Bytes()
	switch {
	case err == nil:
		return b, true
	case !errors.Is(err, redis.Nil):
		c.failed(ctx, "cache read failed", key, err)
	}
	return nil, false
}

// set caches b under key for ttl, if Redis answers.
func (c *redisCache) set(ctx context.Context, key string, b []byte, ttl time.Duration) {
	if c.skip() {
		return
	}
	if err := c.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		c.failed(ctx, "cache write failed", key, err)
	}
}

// del deletes key, and says whether Redis did: when it did not, Redis may
// still hold the old value until its TTL.
func (c *redisCache) del(ctx context.Context, key string) bool {
	if c.skip() {
		return false
	}
	if err := c.rdb.Del(ctx, key).Err(); err != nil {
		c.failed(ctx, "cache invalidation failed", key, err)
		return false
	}
	return true
}
