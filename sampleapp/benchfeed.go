package sampleapp

// The second half of the benchmark: the tuned feed endpoint against a bare
// net/http handler, in adjacent pairs.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/load"
)

// FeedPair is one adjacent measurement of the tuned feed endpoint and of a
// bare net/http handler, with the same connections and duration.
type FeedPair struct {
	Feed, Bare *load.Result
	// FeedFirst says which of the two ran first.
	FeedFirst bool
	// FeedCache is the state of the feed instance's cache (FeedCache).
	FeedCache FeedCache
}

// FeedCache says in what state of its cache the feed was measured. Each
// feed run has a cache namespace of its own, so that no entry an earlier
// run wrote expires during this one, and it reads every user's feed once
// (Primed of them, in PrimeTime), which is its warm-up: a run that began with
// the cache cold or half expired measured PostgreSQL more than the feed
// (1,000 to 2,800 Redis misses a second over the first half of a run,
// 2026-12-05). Queries is the DB queries per feed request during the
// measured run (a miss makes them); Expiring says the run ended after the
// first primed entries' TTL (feedTTL), some of them refilled during it.
// The run's keys are deleted after it.
type FeedCache struct {
	Primed    int
	PrimeTime time.Duration
	Queries   float64
	Expiring  bool
}

// Ratio is the feed's throughput against the bare handler's.
func (p FeedPair) Ratio() float64 {
	if p.Bare == nil || p.Bare.RPS == 0 {
		return 0
	}
	return p.Feed.RPS / p.Bare.RPS
}

// feedSeries are the pairs' figures, one value per pair in their order,
// for the printed summary and the JSON one.
type feedSeries struct{ feed, bare, ratio, queries, prime []float64 }

func feedSeriesOf(pairs []FeedPair) feedSeries {
	var s feedSeries
	for _, p := range pairs {
		s.feed, s.bare, s.ratio = append(s.feed, p.Feed.RPS), append(s.bare, p.Bare.RPS), append(s.ratio, p.Ratio())
		s.queries, s.prime = append(s.queries, p.FeedCache.Queries), append(s.prime, p.FeedCache.PrimeTime.Seconds())
	}
	return s
}

// benchFeed measures the feed endpoint alone on a tuned instance of its
// own, with a cache namespace of its own, every user's feed primed instead
// of a timed warm-up (FeedCache).
func benchFeed(ctx context.Context, cfg BenchConfig, since time.Time) (*load.Result, FeedCache, error) {
	var fc FeedCache
	ns := "bench-feed-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	p, _, err := startService(ctx, cfg, ProfileTuned, since, io.Discard, "--cache-namespace", ns)
	if err != nil {
		return nil, fc, err
	}
	defer p.stop()
	_, vars, header := LoadMix(cfg.Size)
	lc := load.Config{BaseURL: p.url, Header: header, Connections: cfg.Connections, Timeout: 60 * time.Second,
		Mix: []load.Entry{{Name: MixFeed, Method: http.MethodGet, Path: "/users/{uid}/feed"}}, Vars: vars}
	// Priming is the warm-up: it reads a feed per user, through the pools,
	// and a timed warm-up after it would only bring the first entries' TTL
	// closer.
	primeStart := time.Now()
	if fc.Primed, err = PrimeFeeds(ctx, lc, cfg.Connections); err != nil {
		return nil, fc, err
	}
	fc.PrimeTime = time.Since(primeStart)
	_, before, err := settle(ctx, p.url)
	if err != nil {
		return nil, fc, fmt.Errorf("before the run: %w", err)
	}
	lc.Duration, lc.MinRequests, lc.MaxDuration = cfg.Duration, cfg.MinRequests, cfg.MaxDuration
	res, err := load.Run(ctx, lc)
	if err != nil {
		return nil, fc, err
	}
	fc.Expiring = time.Since(primeStart) > feedTTL
	_, after, err := settle(ctx, p.url)
	if err != nil {
		return nil, fc, fmt.Errorf("after the run: %w", err)
	}
	fc.Queries = queriesPerFeed(before, after)
	// The next run's Redis must not spend its time expiring this run's
	// 20,000 entries (thousands a second, 30 s from now).
	if err := deleteKeys(ctx, cfg.RedisAddr, ns+":*"); err != nil {
		return nil, fc, err
	}
	return res, fc, nil
}

// deleteKeys unlinks the keys of Redis at addr that match pattern.
func deleteKeys(ctx context.Context, addr, pattern string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("delete the feed run's keys: %w", err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("delete the feed run's keys: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("delete the feed run's keys: %w", err)
	}
	return nil
}

// feedRoute is the feed's route label in the service's metrics.
const feedRoute = "/users/{id}/feed"

// queriesPerFeed is the DB queries per feed request between two readings of
// the service's counters; 0 when no feed request completed.
func queriesPerFeed(before, after samples) float64 {
	n := after.routeRequests(feedRoute) - before.routeRequests(feedRoute)
	if n <= 0 {
		return 0
	}
	return (after.queries(feedRoute) - before.queries(feedRoute)) / n
}

// printFeedCache says in what state of its cache a feed run was measured.
func printFeedCache(out io.Writer, fc FeedCache) {
	note := ""
	if fc.Expiring {
		note = fmt.Sprintf("; NOTE: the run ended past the entries' %s TTL, some refilled during it", feedTTL)
	}
	fmt.Fprintf(out, "         cache primed with %d feeds in %s; DB queries per feed request %.3f%s\n",
		fc.Primed, fc.PrimeTime.Round(10*time.Millisecond), fc.Queries, note)
}

func benchBare(ctx context.Context, cfg BenchConfig) (*load.Result, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	url := "http://" + addr
	p, err := startProcess(ctx, cfg.Exe, []string{"bare", "--addr", addr}, url, io.Discard)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	lc := load.Config{BaseURL: url, Connections: cfg.Connections, Timeout: 60 * time.Second,
		Mix: []load.Entry{{Name: "bare", Method: http.MethodGet, Path: "/"}}}
	if cfg.Warmup > 0 {
		wc := lc
		wc.Duration = cfg.Warmup
		if _, err := load.Run(ctx, wc); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	lc.Duration, lc.MinRequests, lc.MaxDuration = cfg.Duration, cfg.MinRequests, cfg.MaxDuration
	return load.Run(ctx, lc)
}

// BareHandler answers every request with a small JSON body, the ceiling of
// an HTTP endpoint on this machine.
func BareHandler() http.Handler {
	body := []byte(`{"status":"ok"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(body)
	})
}
