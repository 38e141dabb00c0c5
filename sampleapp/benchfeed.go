package sampleapp

// The second half of the benchmark: the tuned feed endpoint against a bare
// net/http handler, in pairs whose two sides take turns.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/load"
)

// FeedPair is one measurement of the tuned feed endpoint against a bare
// net/http handler, with the same connections, the two taking turns
// (benchPair).
type FeedPair struct {
	// Feed and Bare are each side's turns added up (load.Merge).
	Feed, Bare *load.Result
	// FeedTurns and BareTurns are the RPS of each side's turns, Turn the
	// time of one turn.
	FeedTurns, BareTurns []float64
	Turn                 time.Duration
	// FeedFirst says which of the two took the first turn.
	FeedFirst bool
	// FeedCache is the state of the feed instance's cache (FeedCache).
	FeedCache FeedCache
}

// FeedCache says in what state of its cache the feed was measured. Each
// feed instance has a cache namespace of its own, so that no entry an
// earlier one wrote expires during its measurement, and it reads every
// user's feed once (Primed of them, in PrimeTime) before its warm-up: a
// run that began with the cache cold or half expired measured PostgreSQL
// more than the feed (1,000 to 2,800 Redis misses a second over the first
// half of a run, 2026-12-05). Its entries live benchFeedTTL. Queries is
// the DB queries per feed request during the measured turns (a miss makes
// them); Expiring says the pair ended after the first primed entries' TTL,
// some of them refilled during it. The keys are deleted after the pair.
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

// benchFeedTTL is the feed instance's cache TTL (--feed-ttl): its priming,
// warm-up and turns take about 30 s, the service's default TTL.
const benchFeedTTL = 2 * time.Minute

// pairTurns is how many turns each side of a feed/bare pair takes. The two
// services run side by side and take turns under the same load, F B B F
// F B B F (B F F B ... in every other pair), each turn an eighth of the
// pair's measured time (--duration): the background load of a shared
// machine, which moves over seconds, then falls on both sides alike.
// Measured one after the other, 15 s each, the ratios of one run's five
// pairs spread from 0.44 to 0.67 and the medians of three consecutive runs
// were 12% apart (2026-12-06).
const pairTurns = 4

// turnOrder is the order of a pair's turns, true for the feed's: the first
// side takes turns 1 and 4 of every four.
func turnOrder(feedFirst bool) []bool {
	out := make([]bool, 0, 2*pairTurns)
	for i := range 2 * pairTurns {
		first := i%4 == 0 || i%4 == 3
		out = append(out, first == feedFirst)
	}
	return out
}

// benchPair measures the tuned feed endpoint against a bare handler, each
// in a process of its own and both running, taking turns under the load
// (turnOrder). The feed instance has a cache namespace of its own with
// every user's feed primed (FeedCache), then both are warmed up for
// cfg.Warmup: after priming alone, the feed's first turn served 15% less
// than the mean of its four and its third and fourth 7% more (15 pairs,
// 2026-12-06), while the bare handler's turns were level.
func benchPair(ctx context.Context, cfg BenchConfig, since time.Time, feedFirst bool) (FeedPair, error) {
	pair := FeedPair{FeedFirst: feedFirst}
	bare, bareLC, err := startBare(ctx, cfg)
	if err != nil {
		return pair, err
	}
	defer bare.stop()

	ns := "bench-feed-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	feed, _, err := startService(ctx, cfg, ProfileTuned, since, io.Discard, "--cache-namespace", ns,
		"--feed-ttl", benchFeedTTL.String())
	if err != nil {
		return pair, err
	}
	defer feed.stop()
	_, vars, header := LoadMix(cfg.Size)
	feedLC := load.Config{BaseURL: feed.url, Header: header, Connections: cfg.Connections, Timeout: 60 * time.Second,
		Mix: []load.Entry{{Name: MixFeed, Method: http.MethodGet, Path: "/users/{uid}/feed"}}, Vars: vars}
	// Priming reads a feed per user, through the pools; the warm-up then
	// serves them from the cache, as the turns will.
	primeStart := time.Now()
	if pair.FeedCache.Primed, err = PrimeFeeds(ctx, feedLC, cfg.Connections); err != nil {
		return pair, err
	}
	pair.FeedCache.PrimeTime = time.Since(primeStart)
	if err := warmUp(ctx, feedLC, cfg.Warmup); err != nil {
		return pair, err
	}
	_, before, err := settle(ctx, feed.url)
	if err != nil {
		return pair, fmt.Errorf("before the run: %w", err)
	}

	// Each side's turns add up to half the measured time, its minimum
	// number of requests and its cap split among them.
	turn := cfg.Duration / (2 * pairTurns)
	minRequests := (cfg.MinRequests + pairTurns - 1) / pairTurns
	maxDuration := max(cfg.MaxDuration/pairTurns, turn)
	var feeds, bares []*load.Result
	for _, isFeed := range turnOrder(feedFirst) {
		lc := bareLC
		if isFeed {
			lc = feedLC
		}
		lc.Duration, lc.MinRequests, lc.MaxDuration = turn, minRequests, maxDuration
		res, err := load.Run(ctx, lc)
		if err != nil {
			return pair, err
		}
		if isFeed {
			feeds = append(feeds, res)
		} else {
			bares = append(bares, res)
		}
	}
	pair.Feed, pair.Bare = load.Merge(feeds...), load.Merge(bares...)
	pair.FeedTurns, pair.BareTurns, pair.Turn = turnRates(feeds), turnRates(bares), turn
	pair.FeedCache.Expiring = time.Since(primeStart) > benchFeedTTL

	_, after, err := settle(ctx, feed.url)
	if err != nil {
		return pair, fmt.Errorf("after the run: %w", err)
	}
	pair.FeedCache.Queries = queriesPerFeed(before, after)
	// The next pair's Redis must not spend its time expiring this one's
	// 20,000 entries (thousands a second, 30 s from now).
	if err := deleteKeys(ctx, cfg.RedisAddr, ns+":*"); err != nil {
		return pair, err
	}
	return pair, nil
}

// turnRates are the RPS of each turn of one side, in their order.
func turnRates(turns []*load.Result) []float64 {
	out := make([]float64, len(turns))
	for i, r := range turns {
		out[i] = r.RPS
	}
	return out
}

// startBare starts the bare handler in a process of its own and warms it
// up; the load.Config is its load, without a duration.
func startBare(ctx context.Context, cfg BenchConfig) (*process, load.Config, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, load.Config{}, err
	}
	url := "http://" + addr
	p, err := startProcess(ctx, cfg.Exe, []string{"bare", "--addr", addr}, url, io.Discard)
	if err != nil {
		return nil, load.Config{}, err
	}
	lc := load.Config{BaseURL: url, Connections: cfg.Connections, Timeout: 60 * time.Second,
		Mix: []load.Entry{{Name: "bare", Method: http.MethodGet, Path: "/"}}}
	if err := warmUp(ctx, lc, cfg.Warmup); err != nil {
		p.stop()
		return nil, load.Config{}, err
	}
	return p, lc, nil
}

// warmUp runs lc's load, unmeasured, for d (nothing when d is 0).
func warmUp(ctx context.Context, lc load.Config, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	lc.Duration = d
	if _, err := load.Run(ctx, lc); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
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
		note = fmt.Sprintf("; NOTE: the pair ended past the entries' %s TTL, some refilled during it", benchFeedTTL)
	}
	fmt.Fprintf(out, "         cache primed with %d feeds in %s; DB queries per feed request %.3f%s\n",
		fc.Primed, fc.PrimeTime.Round(10*time.Millisecond), fc.Queries, note)
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

// printTurns writes the RPS of each turn of one side.
func printTurns(out io.Writer, rps []float64) {
	parts := make([]string, len(rps))
	for i, v := range rps {
		parts[i] = fmt.Sprintf("%.0f", v)
	}
	fmt.Fprintf(out, "         RPS by turn: %s\n", strings.Join(parts, " "))
}
