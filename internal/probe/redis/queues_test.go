package redis

import (
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const (
	portQueues    = 26493
	portDiscovery = 26494
)

// TestQueues reads Celery, asynq and BullMQ shaped queues, found by their
// keys or named in Options.Queues, and their change between two readings.
func TestQueues(t *testing.T) {
	t.Parallel()
	r := startRedis(t, portQueues)
	c := client(t, &goredis.Options{Addr: r.Addr()})
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Minute)
	for _, err := range []error{
		c.LPush(ctx, "celery", "m1", "m2").Err(),
		c.LPush(ctx, "reports", "r1").Err(), // no binding names it: only --queues finds it
		c.HSet(ctx, "unacked", "tag1", "x").Err(),
		c.SAdd(ctx, "asynq:queues", "default").Err(),
		c.LPush(ctx, "asynq:{default}:pending", "t1").Err(),
		c.HSet(ctx, "asynq:{default}:t:t1", "pending_since", strconv.FormatInt(old.UnixNano(), 10)).Err(),
		c.HSet(ctx, "bull:mail:meta", "version", "5").Err(),
		c.LPush(ctx, "bull:mail:wait", "3").Err(),
		c.LPush(ctx, "bull:mail:active", "2").Err(),
		c.HSet(ctx, "bull:mail:3", "timestamp", strconv.FormatInt(old.UnixMilli(), 10)).Err(),
		c.Set(ctx, "plain", "v", 0).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := Open(r.Addr(), Options{Queues: []string{"reports", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s1 := p.Snapshot(ctx)
	if !s1.Queues.Status.Ok() || s1.Queues.Partial {
		t.Fatalf("queues: %+v", s1.Queues)
	}
	got := map[string]Queue{}
	for _, q := range s1.Queues.List {
		got[q.String()] = q
	}
	if len(got) != 4 {
		t.Errorf("queues %v, want celery, reports, asynq default, bullmq mail", got)
	}
	if q := got["celery queue celery"]; q.Waiting != 2 || q.Active != 1 || q.OldestID == "" || !q.Oldest.IsZero() {
		t.Errorf("celery: %+v", q)
	}
	if q := got["celery queue reports"]; q.Waiting != 1 {
		t.Errorf("reports: %+v", q)
	}
	if q := got["asynq queue default"]; q.Waiting != 1 || q.OldestID != "t1" || q.Oldest.Unix() != old.Unix() {
		t.Errorf("asynq: %+v", q)
	}
	if q := got["bullmq queue mail"]; q.Waiting != 1 || q.Active != 1 || q.Oldest.UnixMilli() != old.UnixMilli() {
		t.Errorf("bullmq: %+v", q)
	}

	if err := c.LPush(ctx, "celery", "m3", "m4").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	w := Diff(s1, p.Snapshot(ctx))
	for _, d := range w.Queues {
		switch d.Key {
		case "celery":
			// The same message is the oldest at both ends: at least the window.
			if d.Before != 2 || d.Waiting != 4 || d.GrowthPerS <= 0 || !d.AgeAtLeast || d.OldestAge <= 0 {
				t.Errorf("celery: %+v", d)
			}
		case "asynq:{default}:pending":
			if d.AgeAtLeast || d.OldestAge < 2*time.Minute {
				t.Errorf("asynq: %+v", d)
			}
		}
	}
	if cw := Diff(nil, s1); len(cw.Queues) != 4 || cw.Queues[0].Before != -1 {
		t.Errorf("cumulative window queues %+v", cw.Queues)
	}
}

// TestQueueDiscoveryReused: on a keyspace larger than one SCAN call, the
// queues found are reused for queueRediscoverEvery (a queue whose keys
// appear meanwhile is found at the next discovery), while the depths are
// read at every reading; a keyspace of one call is scanned every reading.
func TestQueueDiscoveryReused(t *testing.T) {
	t.Parallel()
	r := startRedis(t, portDiscovery)
	c := client(t, &goredis.Options{Addr: r.Addr()})
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range queueScanCount + 500 {
		pipe.Set(ctx, "cache:"+strconv.Itoa(i), "v", 0)
	}
	pipe.LPush(ctx, "celery", "m1")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := Open(r.Addr(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	clock := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return clock }
	names := func(s *Snapshot) map[string]int64 {
		t.Helper()
		if !s.Queues.Status.Ok() {
			t.Fatalf("queues: %+v", s.Queues.Status)
		}
		out := map[string]int64{}
		for _, q := range s.Queues.List {
			out[q.String()] = q.Waiting
		}
		return out
	}
	if got := names(p.Snapshot(ctx)); len(got) != 1 || got["celery queue celery"] != 1 {
		t.Fatalf("first reading: %v, want the celery queue", got)
	}
	if p.discovery.calls < 2 {
		t.Fatalf("discovery took %d SCAN calls on %d keys", p.discovery.calls, queueScanCount+500)
	}
	for _, err := range []error{
		c.HSet(ctx, "bull:mail:meta", "version", "5").Err(),
		c.LPush(ctx, "bull:mail:wait", "1").Err(),
		c.LPush(ctx, "celery", "m2").Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(queueRediscoverEvery / 2)
	if got := names(p.Snapshot(ctx)); len(got) != 1 || got["celery queue celery"] != 2 {
		t.Errorf("within %s: %v, want the celery queue alone, its depth read again (2)", queueRediscoverEvery, got)
	}
	clock = clock.Add(queueRediscoverEvery)
	if got := names(p.Snapshot(ctx)); len(got) != 2 || got["bullmq queue mail"] != 1 {
		t.Errorf("after %s: %v, want the BullMQ queue found too", queueRediscoverEvery, got)
	}

	// A keyspace one SCAN call reads is scanned at every reading.
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(queueRediscoverEvery)
	if got := names(p.Snapshot(ctx)); len(got) != 0 {
		t.Errorf("emptied: %v", got)
	}
	if err := c.LPush(ctx, "celery", "m3").Err(); err != nil {
		t.Fatal(err)
	}
	if got := names(p.Snapshot(ctx)); len(got) != 1 {
		t.Errorf("small keyspace, same instant: %v, want the new celery queue", got)
	}
}
