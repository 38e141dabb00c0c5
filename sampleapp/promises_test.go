package sampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// The load and the failures of TestPromisesThroughRestarts. The clients pace
// themselves so that the workers can keep up (each job is an SMTP
// conversation of 7 slow replies, a PDF and a slow webhook), and the queue
// drains within seconds of the end of the load: about 20 orders a second
// (an outage of Redis no longer slows the clients down). The load runs for
// promisesSettle before, between and after the restarts, whatever they take.
const (
	promisesRedisPort   = 26476
	promisesClients     = 8
	promisesSettle      = 2 * time.Second
	promisesThinkMin    = 300 * time.Millisecond
	promisesThinkJitter = 200 * time.Millisecond
	promisesAttempts    = 10 // per Idempotency-Key, first try included
	promisesDrain       = 60 * time.Second
)

// sentOrder is what a client knows of one Idempotency-Key.
type sentOrder struct {
	key      string
	order    NewOrder
	id       int64 // the order id of the 2xx answer; 0 if none
	code     int   // the 2xx code (201, or 200 for a replay)
	attempts int
	took     time.Duration // from the first attempt to the 2xx answer
	lastErr  string        // of the last failed attempt
}

// promiseCounts are the clients' counters.
type promiseCounts struct {
	retries       atomic.Int64 // attempts after the first, same key
	non2xx        atomic.Int64 // 5xx answers
	non2xxRedis   atomic.Int64 // of which while Redis was down
	transportErrs atomic.Int64 // no answer at all (error or client timeout)
	unexpected    atomic.Int64 // 4xx: never expected for a valid order
}

// TestPromisesThroughRestarts: under a bounded load of POST /orders from
// concurrent clients that retry with the same Idempotency-Key, with the job
// workers restarted and Redis restarted mid-run, every order answered 2xx is
// in the database exactly once with its items, and every job enqueued is
// completed, once or after retries; the invoice is written once and the
// e-mail and the webhook sent at least once per order.
func TestPromisesThroughRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("a load of orders through worker and Redis restarts: not with -short")
	}
	began := time.Now()
	ctx := context.Background()
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "sampleapp_promises")
	size := Size{Users: 60, Events: 600, Products: 30, Orders: 20, PayloadBytes: 600}
	if _, err := Seed(ctx, dsn, size, false); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	var seededMax int64
	var seededJobs int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0), (SELECT count(*) FROM river_job) FROM orders").Scan(&seededMax, &seededJobs); err != nil {
		t.Fatal(err)
	}
	if seededJobs != 0 {
		t.Fatalf("%d river jobs before the load, want none", seededJobs)
	}

	// A Redis of this test's own, so that it may restart it.
	redisDir := t.TempDir()
	rd, err := stack.StartRedis(ctx, redisDir, promisesRedisPort, stack.RedisOptions{})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		if err := rd.Stop(context.Background()); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	var redisDown atomic.Bool
	var redisDowntimes []time.Duration // from the stop to the answer after the start
	restartRedis := func(down time.Duration) {
		t.Helper()
		redisDown.Store(true)
		began := time.Now()
		if err := rd.Stop(ctx); err != nil {
			t.Fatalf("stop redis: %v", err)
		}
		time.Sleep(down)
		r, err := stack.StartRedis(ctx, redisDir, promisesRedisPort, stack.RedisOptions{})
		if err != nil {
			t.Fatalf("start redis again: %v", err)
		}
		rd = r
		redisDown.Store(false)
		redisDowntimes = append(redisDowntimes, time.Since(began).Round(100*time.Millisecond))
	}

	// The services' warnings, and go-redis's own lines ("failed to dial"
	// while Redis is down), are kept for the report of a failure.
	logs := &lockedBuffer{}
	redis.SetLogger(redisLogger{logs})
	t.Cleanup(func() { redis.SetLogger(redisLogger{os.Stderr}) })
	appCfg := func(workers int) func(*Config) {
		return func(c *Config) {
			c.RedisAddr = rd.Addr()
			c.Workers = workers
			c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	queued := map[string]string{KnobInline: "queued"}
	api := startApp(t, dsn, queued, appCfg(-1)) // API only: jobs wait for the workers
	workers := []*App{startApp(t, dsn, queued, appCfg(0))}
	inFlight := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var restartedInFlight []int
	restartWorkers := func() {
		t.Helper()
		old := workers[len(workers)-1]
		restartedInFlight = append(restartedInFlight, inFlight())
		if err := old.Close(); err != nil { // waits for the jobs in flight
			t.Errorf("close the worker instance: %v", err)
		}
		workers = append(workers, startApp(t, dsn, queued, appCfg(0)))
	}

	// The load: each client sends orders with keys of its own, retrying a
	// key on a transport error or a 5xx with a small backoff, as a real
	// client would, until the restarts are over and promisesSettle more has
	// passed.
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: promisesClients}}
	defer hc.CloseIdleConnections()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var counts promiseCounts
	sent := make([][]*sentOrder, promisesClients)
	loadStart := time.Now()
	var loadOver atomic.Bool
	// A failure below stops the clients before the services close.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancelLoad()
		wg.Wait()
	}()
	for c := range promisesClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(loadStart.UnixNano())))
			for n := 0; !loadOver.Load() && loadCtx.Err() == nil; n++ {
				o := &sentOrder{key: fmt.Sprintf("promise-%s-%d-%d", run, c, n), order: randomOrder(rng, size)}
				sendOrder(loadCtx, hc, api.URL, o, &counts, &redisDown)
				sent[c] = append(sent[c], o)
				sleepCtx(loadCtx, promisesThinkMin+time.Duration(rng.Int64N(int64(promisesThinkJitter))))
			}
		}()
	}

	// The failures, one at a time, while the load runs.
	time.Sleep(promisesSettle)
	restartWorkers()
	time.Sleep(promisesSettle)
	restartRedis(1500 * time.Millisecond)
	time.Sleep(promisesSettle)
	restartWorkers()
	time.Sleep(promisesSettle)
	restartRedis(time.Second)
	time.Sleep(promisesSettle)
	loadOver.Store(true)
	wg.Wait()
	loadTook := time.Since(loadStart)

	// The service uses Redis again after its restarts: what the load cached
	// since the last one, or else a profile read caches the profile.
	// (go-redis probes a Redis that was down once a second before it dials
	// again, and the service skips Redis for a second after a failure.)
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer rc.Close()
	cachedKeys, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("redis after its restarts: %v", err)
	}
	eventually(t, 10*time.Second, "a profile cached in Redis after its restarts", func() bool {
		n, err := rc.DBSize(ctx).Result()
		if err == nil && n > 0 {
			return true
		}
		mustStatus(t, http.StatusOK, "GET", api.URL+"/users/7", "")
		return false
	})
	mustStatus(t, http.StatusOK, "GET", api.URL+"/health", "")

	var all []*sentOrder
	for _, s := range sent {
		all = append(all, s...)
	}
	accepted := map[string]*sentOrder{}
	created, replayed := 0, 0
	var slowest time.Duration
	for _, o := range all {
		switch {
		case o.id != 0:
			accepted[o.key] = o
			slowest = max(slowest, o.took)
			if o.code == http.StatusCreated {
				created++
			} else {
				replayed++
			}
		case o.lastErr != "":
			t.Errorf("key %s: no 2xx answer in %d attempts, last: %s", o.key, o.attempts, o.lastErr)
		}
	}
	if n := counts.unexpected.Load(); n != 0 {
		t.Errorf("%d answers 4xx to valid orders", n)
	}
	if len(accepted) < 50 {
		t.Fatalf("only %d orders accepted: the load did not run", len(accepted))
	}

	// Every job done (or given up on: the checks below say which).
	drainStart := time.Now()
	var pending int
	eventually(t, promisesDrain, "every order_fulfilment job finished", func() bool {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job
			WHERE kind = 'order_fulfilment' AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
	drainTook := time.Since(drainStart)

	// Orders: one row per key answered 2xx, with the id returned and the
	// items sent; no other order.
	type dbOrder struct {
		id       int64
		key      *string
		userID   int64
		total    int64
		products []int64
		qtys     []int32
		sum      int64
	}
	rows, err := conn.Query(ctx, `SELECT o.id, o.idempotency_key, o.user_id, o.total_cents,
			coalesce(array_agg(i.product_id ORDER BY i.id) FILTER (WHERE i.id IS NOT NULL), '{}'),
			coalesce(array_agg(i.quantity ORDER BY i.id) FILTER (WHERE i.id IS NOT NULL), '{}'),
			coalesce(sum(i.quantity * i.price_cents), 0)::bigint
		FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id > $1 GROUP BY o.id`, seededMax)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]dbOrder{}
	orders := map[int64]dbOrder{}
	for rows.Next() {
		var o dbOrder
		if err := rows.Scan(&o.id, &o.key, &o.userID, &o.total, &o.products, &o.qtys, &o.sum); err != nil {
			t.Fatal(err)
		}
		orders[o.id] = o
		if o.key == nil {
			t.Errorf("order %d has no Idempotency-Key: no client of the test made it", o.id)
			continue
		}
		byKey[*o.key] = append(byKey[*o.key], o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sentKeys := map[string]bool{}
	for _, o := range all {
		sentKeys[o.key] = true
	}
	for key, got := range byKey {
		if !sentKeys[key] {
			t.Errorf("order %d has key %q that no client sent", got[0].id, key)
		}
	}
	mismatched := 0
	for key, s := range accepted {
		got := byKey[key]
		if len(got) != 1 {
			t.Errorf("key %s answered %d with order %d: %d rows in orders, want 1", key, s.code, s.id, len(got))
			continue
		}
		o := got[0]
		want := s.order
		switch {
		case o.id != s.id:
			t.Errorf("key %s: answered with order %d, the database has %d", key, s.id, o.id)
		case o.userID != want.UserID || !sameItems(want.Items, o.products, o.qtys):
			t.Errorf("key %s: order %d is user %d with items %v x %v, sent user %d with %+v", key, o.id, o.userID, o.products, o.qtys, want.UserID, want.Items)
		case o.total != o.sum || len(o.products) == 0:
			t.Errorf("key %s: order %d totals %d, its %d items %d", key, o.id, o.total, len(o.products), o.sum)
		default:
			continue
		}
		mismatched++
	}
	// Keys answered only with errors may have an order (the answer was
	// lost): those must have their job too, and are checked with the rest.
	unanswered := len(orders) - len(accepted)

	// Jobs: exactly one per order, completed; none for another order.
	type job struct {
		state   string
		attempt int
	}
	jobs := map[int64][]job{}
	rows, err = conn.Query(ctx, "SELECT (args->>'order_id')::bigint, state, attempt FROM river_job WHERE kind = 'order_fulfilment'")
	if err != nil {
		t.Fatal(err)
	}
	totalJobs := 0
	for rows.Next() {
		var id int64
		var j job
		if err := rows.Scan(&id, &j.state, &j.attempt); err != nil {
			t.Fatal(err)
		}
		jobs[id] = append(jobs[id], j)
		totalJobs++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	completed, retried, failed := 0, 0, 0
	for id, js := range jobs {
		if _, ok := orders[id]; !ok {
			t.Errorf("%d order_fulfilment jobs for order %d, which was not created by the load", len(js), id)
		}
		if len(js) != 1 {
			t.Errorf("order %d has %d jobs, want 1: %+v", id, len(js), js)
		}
		for _, j := range js {
			switch j.state {
			case "completed":
				completed++
				if j.attempt > 1 {
					retried++
				}
			default:
				failed++
				t.Errorf("order %d: job %s after %d attempts", id, j.state, j.attempt)
			}
		}
	}
	for id := range orders {
		if len(jobs[id]) == 0 {
			t.Errorf("order %d has no order_fulfilment job", id)
		}
	}

	// Invoices once (the primary key), mails and webhooks at least once.
	var invoiced []int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(array_agg(order_id), '{}') FROM invoices WHERE order_id > $1", seededMax).Scan(&invoiced); err != nil {
		t.Fatal(err)
	}
	invoices := map[int64]int{}
	for _, id := range invoiced {
		invoices[id]++
	}
	mails, hooks := map[int64]int{}, map[int64]int{}
	subject := regexp.MustCompile(`Subject: Order #(\d+) confirmed`)
	for _, w := range workers {
		for _, m := range w.Mail() {
			if sm := subject.FindStringSubmatch(m.Data); sm != nil {
				id, _ := strconv.ParseInt(sm[1], 10, 64)
				mails[id]++
			}
		}
		for _, d := range w.Webhooks() {
			id, _ := strconv.ParseInt(strings.TrimPrefix(d.IdempotencyKey, "order-"), 10, 64)
			hooks[id]++
		}
	}
	if n, h := len(api.Mail()), len(api.Webhooks()); n+h != 0 {
		t.Errorf("the API-only instance sent %d mails and %d webhooks", n, h)
	}
	dupMails, dupHooks := 0, 0
	for id := range orders {
		if invoices[id] != 1 {
			t.Errorf("order %d has %d invoices, want 1", id, invoices[id])
		}
		if mails[id] < 1 || hooks[id] < 1 {
			t.Errorf("order %d: %d mails, %d webhooks, want at least 1 each", id, mails[id], hooks[id])
		}
		dupMails += max(mails[id]-1, 0)
		dupHooks += max(hooks[id]-1, 0)
	}
	for id := range mails {
		if _, ok := orders[id]; !ok {
			t.Errorf("a mail for order %d, which the load did not create", id)
		}
	}

	t.Logf("promises: %d orders accepted (%d answered 201, %d answered 200 to a retried key; %d orders whose every answer was lost) "+
		"from %d clients in %s (slowest %s); %d client retries, %d non-2xx answers (%d while Redis was down), %d transport errors; "+
		"%d worker restarts (jobs running at each: %v), %d Redis restarts (down %v; %d Redis errors absorbed, %d cache calls skipped after one, %d keys cached by the load after); "+
		"%d of %d jobs completed, %d after more than one attempt, %d not completed; %d invoices; "+
		"%d duplicate mails, %d duplicate webhooks; %d mismatched orders; queue drained %s after the load; test took %s",
		len(accepted), created, replayed, unanswered, promisesClients, loadTook.Round(100*time.Millisecond), slowest.Round(time.Millisecond),
		counts.retries.Load(), counts.non2xx.Load(), counts.non2xxRedis.Load(), counts.transportErrs.Load(),
		len(restartedInFlight), restartedInFlight, len(redisDowntimes), redisDowntimes, logs.count(`msg="cache `), int(cacheSkipped(t, api)), cachedKeys,
		completed, totalJobs, retried, failed, len(invoiced),
		dupMails, dupHooks, mismatched, drainTook.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	// The same figures as key=value, for make bench-report (docs/benchmarks.md).
	t.Logf("bench-report: orders_accepted=%d orders_201=%d orders_200=%d unanswered=%d worker_restarts=%d redis_restarts=%d "+
		"jobs=%d jobs_completed=%d jobs_retried=%d jobs_not_completed=%d invoices=%d duplicate_mails=%d duplicate_webhooks=%d "+
		"mismatched=%d slowest_ms=%d",
		len(accepted), created, replayed, unanswered, len(restartedInFlight), len(redisDowntimes),
		totalJobs, completed, retried, failed, len(invoiced), dupMails, dupHooks, mismatched, slowest.Milliseconds())
	if t.Failed() {
		t.Logf("service warnings and errors (last 40 lines):\n%s", logs.tail(40))
	}
}

// randomOrder is 1 to 3 distinct products of the seeded catalogue for a
// seeded user.
func randomOrder(rng *rand.Rand, size Size) NewOrder {
	o := NewOrder{UserID: 1 + rng.Int64N(size.Users)}
	for _, p := range rng.Perm(int(size.Products))[:1+rng.IntN(3)] {
		o.Items = append(o.Items, NewOrderItem{ProductID: int64(p + 1), Quantity: 1 + rng.IntN(3)})
	}
	return o
}

// sendOrder posts o until an answer 2xx (recorded in o), an answer 4xx, or
// promisesAttempts attempts, retrying on a transport error or a 5xx after a
// growing backoff. It runs on the clients' goroutines: it never calls t.
func sendOrder(ctx context.Context, hc *http.Client, baseURL string, o *sentOrder, counts *promiseCounts, redisDown *atomic.Bool) {
	body, err := json.Marshal(o.order)
	if err != nil {
		o.lastErr = err.Error()
		return
	}
	backoff := 50 * time.Millisecond
	start := time.Now()
	for o.attempts < promisesAttempts && ctx.Err() == nil {
		if o.attempts > 0 {
			counts.retries.Add(1)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, time.Second)
		}
		o.attempts++
		down := redisDown.Load()
		code, b, err := postOnce(ctx, hc, baseURL, o.key, body)
		switch {
		case err != nil:
			counts.transportErrs.Add(1)
			o.lastErr = err.Error()
		case code == http.StatusCreated || code == http.StatusOK:
			var got Order
			if err := json.Unmarshal(b, &got); err != nil || got.ID == 0 {
				o.lastErr = fmt.Sprintf("status %d with a bad body: %.200s", code, b)
				counts.unexpected.Add(1)
				return
			}
			o.id, o.code, o.took, o.lastErr = got.ID, code, time.Since(start), ""
			return
		case code >= 500:
			counts.non2xx.Add(1)
			if down || redisDown.Load() {
				counts.non2xxRedis.Add(1)
			}
			o.lastErr = fmt.Sprintf("status %d: %.200s", code, b)
		default:
			counts.unexpected.Add(1)
			o.lastErr = fmt.Sprintf("status %d: %.200s", code, b)
			return
		}
	}
}

func postOnce(ctx context.Context, hc *http.Client, baseURL, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/orders", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+LoadTestToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sameItems says whether the stored items are the items sent, in any order.
func sameItems(sent []NewOrderItem, products []int64, qtys []int32) bool {
	if len(sent) != len(products) || len(products) != len(qtys) {
		return false
	}
	a := make([]string, len(sent))
	b := make([]string, len(sent))
	for i, it := range sent {
		a[i] = fmt.Sprintf("%d x%d", it.ProductID, it.Quantity)
		b[i] = fmt.Sprintf("%d x%d", products[i], qtys[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// lockedBuffer collects the services' log lines, safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is the number of lines containing s.
func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// redisLogger writes go-redis's log lines to w.
type redisLogger struct{ w io.Writer }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(l.w, "redis: "+format+"\n", v...)
}
