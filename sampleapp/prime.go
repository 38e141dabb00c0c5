package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
)

// PrimeFeeds reads the feed of every user of lc's load mix once (its uid
// range), workers at a time, so that a service with its cache on starts a
// measurement with each feed and profile cached, as it would be once the
// load has run for a while. It returns how many feeds it read. The time is
// bounded by ctx and by a minute.
func PrimeFeeds(ctx context.Context, lc load.Config, workers int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	uids := lc.Vars["uid"]
	if uids.Max < uids.Min {
		return 0, errors.New("prime the cache: the load mix has no uid range")
	}
	workers = max(workers, 1)
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
