package sampleapp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The rate limiter of the API: a fixed window of rateWindow per principal,
// counted in Redis so that every instance shares it, as the scaling
// articles put it. The limit is far above what a load test sends: the
// limiter costs its round trips without refusing anything, which is what
// the ratelimit knob shows.
const (
	rateWindow = time.Second
	rateLimit  = 1_000_000
)

var errRateLimited = errors.New("rate limit exceeded")

// rateScript counts a request and starts the window on the first one: one
// round trip (EVALSHA; EVAL once after a Redis restart), atomic.
var rateScript = redis.NewScript(`local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// allow counts a request of user in its window and says whether it is
// under the limit. Redis failing or skipped lets the request through: a
// cache outage must not refuse the API.
func (a *App) allow(ctx context.Context, s *settings, user int64) bool {
	c := a.cache
	if c.skip() {
		return true
	}
	window := time.Now().UnixNano() / int64(rateWindow)
	key := a.cfg.CacheNamespace + ":rate:" + strconv.FormatInt(user, 10) + ":" + strconv.FormatInt(window, 10)
	var n int64
	var err error
	if s.rateScript {
		n, err = rateScript.Run(ctx, a.redis, []string{key}, rateWindow.Milliseconds()).Int64()
	} else {
		// The naive limiter: three round trips, one after the other.
		var cur int64
		cur, err = a.redis.Get(ctx, key).Int64()
		if errors.Is(err, redis.Nil) {
			cur, err = 0, nil
		}
		if err == nil && cur >= rateLimit {
			return false
		}
		if err == nil {
			n, err = a.redis.Incr(ctx, key).Result()
		}
		if err == nil {
			err = a.redis.Expire(ctx, key, 2*rateWindow).Err()
		}
	}
	if err != nil {
		c.failed(ctx, "rate limiter failed", key, err)
		return true
	}
	return n <= rateLimit
}

// writeRateLimited answers 429 with the time to the next window.
func writeRateLimited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusTooManyRequests, errRateLimited.Error())
}
