package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/load"
)

// PrimeFeeds reads the feed of every user of lc's load mix once (its uid
// range), eight at a time, so that a service with its cache on starts a
// measurement with each feed and profile cached, as it would be once the
// load has run for a while. It returns how many feeds it read. The time is
// bounded by ctx and by a minute.
func PrimeFeeds(ctx context.Context, lc load.Config) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	uids := lc.Vars["uid"]
	if uids.Max < uids.Min {
		return 0, errors.New("prime the cache: the load mix has no uid range")
	}
	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	ids := make(chan int64)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range ids {
				if err := getFeed(ctx, client, lc, id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	n := 0
feed:
	for id := uids.Min; id <= uids.Max; id++ {
		select {
		case ids <- id:
			n++
		case err := <-errs:
			errs <- err
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return n, fmt.Errorf("prime the cache: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return n, fmt.Errorf("prime the cache: %w", err)
	}
	return n, nil
}

func getFeed(ctx context.Context, client *http.Client, lc load.Config, id int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, lc.BaseURL+"/users/"+strconv.FormatInt(id, 10)+"/feed", nil)
	if err != nil {
		return err
	}
	req.Header = lc.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return nil
}

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
