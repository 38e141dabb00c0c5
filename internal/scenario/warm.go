package scenario

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// AwaitSteadyHitRatio waits, while a load runs, until the hit ratio of the
// Redis at addr (INFO keyspace_hits and keyspace_misses) has settled: two
// successive spans of at least a second and 1000 lookups within 0.02 of
// each other, and at least minWait since the call (the service's pools warm
// too). It gives up after maxWait with settled false, so that the caller
// observes what there is. The trace lists each span's ratio and lookups.
func AwaitSteadyHitRatio(ctx context.Context, addr string, minWait, maxWait time.Duration) (settled bool, trace string, err error) {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	stats := func() (hits, misses int64, err error) {
		info, err := rdb.Info(ctx, "stats").Result()
		if err != nil {
			return 0, 0, fmt.Errorf("redis INFO: %w", err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "keyspace_hits:"); ok {
				hits, _ = strconv.ParseInt(v, 10, 64)
			} else if v, ok := strings.CutPrefix(line, "keyspace_misses:"); ok {
				misses, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return hits, misses, nil
	}
	start := time.Now()
	spanStart := start
	h0, m0, err := stats()
	if err != nil {
		return false, "", err
	}
	prev := -1.0
	var spans []string
	for {
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return false, strings.Join(spans, " "), ctx.Err()
		}
		now := time.Now()
		h, m, err := stats()
		if err != nil {
			return false, strings.Join(spans, " "), err
		}
		if n := (h - h0) + (m - m0); n >= 1000 && now.Sub(spanStart) >= time.Second {
			ratio := float64(h-h0) / float64(n)
			spans = append(spans, fmt.Sprintf("%.3f/%d", ratio, n))
			if prev >= 0 && math.Abs(ratio-prev) <= 0.02 && now.Sub(start) >= minWait {
				return true, strings.Join(spans, " "), nil
			}
			prev, h0, m0, spanStart = ratio, h, m, now
		}
		if now.Sub(start) >= maxWait {
			return false, strings.Join(spans, " "), nil
		}
	}
}
