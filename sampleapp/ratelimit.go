package sampleapp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
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
	// rateSync is how often the batched limiter adds the requests it
	// counted in the process to Redis.
	rateSync = 100 * time.Millisecond
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
	if s.rateBatched {
		if n, ok := a.rates.add(key); ok {
			return n <= rateLimit
		}
		// The first request of this principal's window in this process:
		// counted in Redis at once, which also tells what the other
		// instances counted so far.
		n, err = rateScript.Run(ctx, a.redis, []string{key}, rateWindow.Milliseconds()).Int64()
		if err == nil {
			a.rates.learn(key, window, n)
		}
	} else if s.rateScript {
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

// rateCounts is the batched limiter's state: per key (principal and
// window), the count Redis last returned and the requests counted here
// since. A request is allowed on that sum, without a round trip; every
// rateSync the pending counts go to Redis in one pipeline (INCRBY and
// PEXPIRE per key), whose replies bring the other instances' requests in.
// The price is the limit's precision: instances can together pass up to
// one sync period of requests past it, as Kong's rate limiting does with
// sync_rate. A flush that fails loses its counts: the limiter fails open,
// as the others do when Redis is down.
type rateCounts struct {
	mu   sync.Mutex
	keys map[string]*rateCount
}

type rateCount struct {
	window  int64 // the key's window, to forget it once over
	global  int64 // Redis's count at the last reply
	pending int64 // counted here, not yet sent
}

func newRateCounts() *rateCounts { return &rateCounts{keys: map[string]*rateCount{}} }

// add counts a request under key and returns the count it knows, or false
// when the key has no count here yet.
func (r *rateCounts) add(key string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.keys[key]
	if !ok {
		return 0, false
	}
	c.pending++
	return c.global + c.pending, true
}

// learn keeps the count Redis returned for key.
func (r *rateCounts) learn(key string, window, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.keys[key]
	if !ok {
		r.keys[key] = &rateCount{window: window, global: n}
		return
	}
	c.global = max(c.global, n)
}

// flush sends the pending counts to Redis in one pipeline and keeps what it
// returns; keys of windows before current are forgotten once sent.
func (r *rateCounts) flush(ctx context.Context, rdb *redis.Client, current int64) error {
	type sent struct {
		key   string
		delta int64
		incr  *redis.IntCmd
	}
	var batch []sent
	r.mu.Lock()
	for key, c := range r.keys {
		if c.pending > 0 {
			batch = append(batch, sent{key: key, delta: c.pending})
			c.pending = 0
		}
		if c.window < current {
			delete(r.keys, key)
		}
	}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	pipe := rdb.Pipeline()
	for i := range batch {
		batch[i].incr = pipe.IncrBy(ctx, batch[i].key, batch[i].delta)
		pipe.PExpire(ctx, batch[i].key, 2*rateWindow)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range batch {
		if c, ok := r.keys[b.key]; ok {
			c.global = max(c.global, b.incr.Val())
		}
	}
	return nil
}

// syncRates flushes the batched limiter's counts every rateSync until ctx
// is done, then once more.
func (a *App) syncRates(ctx context.Context) {
	t := time.NewTicker(rateSync)
	defer t.Stop()
	flush := func(ctx context.Context) {
		now := time.Now().UnixNano() / int64(rateWindow)
		if err := a.rates.flush(ctx, a.redis, now); err != nil {
			a.cache.failed(ctx, "rate limiter sync failed", a.cfg.CacheNamespace+":rate:*", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), time.Second)
			flush(final)
			cancel()
			return
		case <-t.C:
			if !a.cache.skip() {
				flush(ctx)
			}
		}
	}
}

// writeRateLimited answers 429 with the time to the next window.
func writeRateLimited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusTooManyRequests, errRateLimited.Error())
}
