package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Job queue systems whose queues live in Redis.
const (
	Celery = "celery"
	Asynq  = "asynq"
	BullMQ = "bullmq"
)

// Queues are the job queues found in Redis: Celery's lists (the default
// "celery" and those its kombu bindings name), asynq's (the asynq:queues
// set) and BullMQ's (bull:NAME:meta keys), plus the names given in
// Options.Queues.
type Queues struct {
	Status source.Status
	List   []Queue
	// Partial says that discovery stopped before the end of the keyspace
	// (Options.ScanKeys keys looked at): queues beyond it need --queues.
	Partial bool
}

// Queue is one job queue's state at one instant.
type Queue struct {
	System string // Celery, Asynq or BullMQ
	Name   string
	// Key is the Redis key of the waiting jobs.
	Key string
	// Waiting is the number of jobs waiting for a worker.
	Waiting int64
	// Active is the number of jobs taken by a worker and not finished
	// (Celery: the unacked hash, shared by every queue of the broker; asynq:
	// the active list; BullMQ: the active list); -1 when unknown.
	Active int64
	// Oldest is when the oldest waiting job was enqueued, zero when the
	// queue system does not record it (Celery) or nothing waits.
	Oldest time.Time
	// OldestID identifies the oldest waiting job (a digest for Celery,
	// whose messages carry no time), to tell across two snapshots that the
	// same job still waits.
	OldestID string
}

// queueScanCalls bounds discovery: SCAN calls of queueScanCount keys each.
const (
	queueScanCalls = 20
	queueScanCount = 1000
)

// queueRediscoverEvery is how long a discovery that took more than one SCAN
// call (a keyspace of more than queueScanCount keys) is reused: on a
// production Redis, discovery reads up to 20,000 keys, and the queues it
// finds change far less often than attach reads (every 2 s, every 500 ms
// over its first 20 s). A smaller keyspace is scanned at every reading.
const queueRediscoverEvery = 30 * time.Second

// queueDiscovery is what one SCAN of the keyspace found.
type queueDiscovery struct {
	at    time.Time
	calls int
	// celery and bull are the queue names kombu's bindings and BullMQ's
	// meta keys give.
	celery, bull []string
	// keys are the keys seen; partial says that the scan stopped before
	// the end of the keyspace (every key may then exist).
	keys    map[string]bool
	partial bool
}

// discover scans the keyspace for queues, or returns the last discovery
// while it may be reused.
func (p *Probe) discover(ctx context.Context) (*queueDiscovery, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if d := p.discovery; d != nil && d.calls > 1 && now.Sub(d.at) < queueRediscoverEvery {
		return d, nil
	}
	d := &queueDiscovery{at: now, keys: map[string]bool{}}
	var cursor uint64
	for {
		if d.calls == queueScanCalls {
			d.partial = true
			break
		}
		keys, next, err := p.client.Scan(ctx, cursor, "*", queueScanCount).Result()
		d.calls++
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			d.keys[k] = true
			switch {
			case strings.HasPrefix(k, "_kombu.binding."):
				members, err := p.client.SMembers(ctx, k).Result()
				if err != nil {
					continue
				}
				for _, m := range members {
					parts := strings.Split(m, kombuSep)
					d.celery = append(d.celery, parts[len(parts)-1])
				}
			case strings.HasPrefix(k, "bull:") && strings.HasSuffix(k, ":meta"):
				d.bull = append(d.bull, strings.TrimSuffix(strings.TrimPrefix(k, "bull:"), ":meta"))
			}
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	p.discovery = d
	return d, nil
}

// kombuSep separates the fields of a member of a kombu binding set:
// routing key, pattern, queue.
const kombuSep = "\x06\x16"

// queues reads the job queues. Only read commands: SCAN, TYPE, SMEMBERS,
// LLEN, HLEN, LINDEX, HGET.
func (p *Probe) queues(ctx context.Context) Queues {
	var out Queues
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	celery := []string{"celery"}
	var asynq, bull []string
	for _, n := range p.opts.Queues {
		celery, asynq, bull = append(celery, n), append(asynq, n), append(bull, n)
	}
	// Discovery: kombu bindings and BullMQ meta keys by SCAN, asynq's set.
	// Every lookup of a key counts as a keyspace hit or miss, which
	// redis.low-hit-ratio reads: once SCAN has seen every key, only keys
	// that exist are looked up.
	d, err := p.discover(ctx)
	if err != nil {
		out.Status = p.commandStatus("SCAN", err)
		return out
	}
	out.Partial = d.partial
	celery, bull = append(celery, d.celery...), append(bull, d.bull...)
	known := func(key string) bool { return d.partial || d.keys[key] }
	if known("asynq:queues") {
		if names, err := p.client.SMembers(ctx, "asynq:queues").Result(); err == nil {
			asynq = append(asynq, names...)
		}
	}
	seen := map[string]bool{}
	add := func(q Queue, ok bool) {
		if ok && !seen[q.Key] {
			seen[q.Key] = true
			out.List = append(out.List, q)
		}
	}
	for _, n := range uniq(celery) {
		add(p.celeryQueue(ctx, known, n))
	}
	for _, n := range uniq(asynq) {
		add(p.asynqQueue(ctx, known, n))
	}
	for _, n := range uniq(bull) {
		add(p.bullQueue(ctx, known, n))
	}
	out.Status = source.Status{State: source.OK}
	return out
}

func uniq(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// isList says whether key holds a list; known says whether the key may
// exist.
func (p *Probe) isList(ctx context.Context, known func(string) bool, key string) bool {
	if !known(key) {
		return false
	}
	t, err := p.client.Type(ctx, key).Result()
	return err == nil && t == "list"
}

// celeryQueue reads a Celery queue on Redis: kombu LPUSHes messages on a
// list named after the queue and workers BRPOP them, so the oldest is the
// last element. Messages carry no enqueue time.
func (p *Probe) celeryQueue(ctx context.Context, known func(string) bool, name string) (Queue, bool) {
	if !p.isList(ctx, known, name) {
		return Queue{}, false
	}
	q := Queue{System: Celery, Name: name, Key: name, Active: -1}
	pipe := p.client.Pipeline()
	llen := pipe.LLen(ctx, name)
	last := pipe.LIndex(ctx, name, -1)
	unacked := pipe.HLen(ctx, "unacked")
	_, _ = pipe.Exec(ctx)
	q.Waiting = llen.Val()
	if b, err := last.Bytes(); err == nil && len(b) > 0 {
		sum := sha256.Sum256(b)
		q.OldestID = hex.EncodeToString(sum[:8])
	}
	if unacked.Err() == nil {
		q.Active = unacked.Val()
	}
	return q, true
}

// asynqQueue reads an asynq queue: task ids LPUSHed on asynq:{NAME}:pending,
// each task a hash asynq:{NAME}:t:ID whose pending_since is in Unix
// nanoseconds.
func (p *Probe) asynqQueue(ctx context.Context, known func(string) bool, name string) (Queue, bool) {
	key := "asynq:{" + name + "}:pending"
	if !p.isList(ctx, known, key) {
		return Queue{}, false
	}
	return p.listQueue(ctx, Queue{System: Asynq, Name: name, Key: key}, "asynq:{"+name+"}:active",
		func(id string) string { return "asynq:{" + name + "}:t:" + id }, "pending_since",
		func(v int64) time.Time { return time.Unix(0, v) }), true
}

// bullQueue reads a BullMQ queue with the default prefix: job ids LPUSHed
// on bull:NAME:wait, each job a hash bull:NAME:ID whose timestamp is in
// Unix milliseconds.
func (p *Probe) bullQueue(ctx context.Context, known func(string) bool, name string) (Queue, bool) {
	key := "bull:" + name + ":wait"
	if !p.isList(ctx, known, key) && !(known("bull:"+name+":meta") && p.exists(ctx, "bull:"+name+":meta")) {
		return Queue{}, false
	}
	return p.listQueue(ctx, Queue{System: BullMQ, Name: name, Key: key}, "bull:"+name+":active",
		func(id string) string { return "bull:" + name + ":" + id }, "timestamp", time.UnixMilli), true
}

// listQueue reads a queue kept as a list of job ids (pushed on the left, so
// the oldest is the last) beside a list of the jobs being worked on, each
// job a hash whose field holds when it was queued: its depth, the jobs at
// work, and the oldest job's id and time.
func (p *Probe) listQueue(ctx context.Context, q Queue, activeKey string, jobKey func(id string) string, field string, toTime func(int64) time.Time) Queue {
	q.Active = -1
	pipe := p.client.Pipeline()
	llen := pipe.LLen(ctx, q.Key)
	active := pipe.LLen(ctx, activeKey)
	last := pipe.LIndex(ctx, q.Key, -1)
	_, _ = pipe.Exec(ctx)
	q.Waiting = llen.Val()
	if active.Err() == nil {
		q.Active = active.Val()
	}
	if id := last.Val(); id != "" {
		q.OldestID = id
		if v, err := p.client.HGet(ctx, jobKey(id), field).Result(); err == nil {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				q.Oldest = toTime(n)
			}
		}
	}
	return q
}

func (p *Probe) exists(ctx context.Context, key string) bool {
	n, err := p.client.Exists(ctx, key).Result()
	return err == nil && n > 0
}

// QueueDelta is one queue over a window.
type QueueDelta struct {
	Queue
	// Before is the number waiting at the window's start; -1 when the queue
	// was not seen then.
	Before int64
	// GrowthPerS is the change of Waiting per second over the window.
	GrowthPerS float64
	// OldestAge is how long the oldest waiting job has waited: from its
	// enqueue time, or, without one, at least the window when the same job
	// was the oldest at both ends; 0 when unknown.
	OldestAge time.Duration
	// AgeAtLeast says OldestAge is a lower bound (the window's length).
	AgeAtLeast bool
}

// diffQueues pairs the queues of two snapshots.
func diffQueues(prev, cur *Snapshot, seconds float64) []QueueDelta {
	var out []QueueDelta
	for _, q := range cur.Queues.List {
		d := QueueDelta{Queue: q, Before: -1}
		var old *Queue
		if prev != nil {
			for i := range prev.Queues.List {
				if prev.Queues.List[i].Key == q.Key {
					old = &prev.Queues.List[i]
				}
			}
		}
		if old != nil {
			d.Before = old.Waiting
			if seconds > 0 {
				d.GrowthPerS = float64(q.Waiting-old.Waiting) / seconds
			}
		}
		switch {
		case !q.Oldest.IsZero() && q.Waiting > 0:
			d.OldestAge = max(cur.Time.Sub(q.Oldest), 0)
		case old != nil && q.OldestID != "" && q.OldestID == old.OldestID && q.Waiting > 0:
			d.OldestAge, d.AgeAtLeast = cur.Time.Sub(prev.Time), true
		}
		out = append(out, d)
	}
	return out
}

// String names the queue as its system does.
func (q Queue) String() string { return fmt.Sprintf("%s queue %s", q.System, q.Name) }
