// Package load is a closed-loop HTTP/1.1 load generator with latency
// histograms, in the manner of wrk and wrk2.
//
// Each of Config.Connections workers owns one keep-alive TCP connection and
// sends its next request when the previous one has been answered (closed
// loop). With Config.Rate set, the workers instead send on a fixed schedule
// that adds up to Rate requests per second (open loop), and the latency of a
// request is measured from the time the schedule meant it to be sent, not
// from the time it was actually sent: a server that stalls delays every
// request queued behind the stall, and those delays are counted as latency
// instead of being hidden (the "coordinated omission" correction of wrk2).
//
// The engine speaks HTTP/1.1 itself over net.Conn (requests written from a
// reused buffer, responses parsed and their bodies discarded in place), so
// that its own cost per request stays close to wrk's: a net/http Client
// hands every request between three goroutines and allocates a Request and
// a Response for each. Latencies go into HDR histograms (1 µs to 60 s, 3
// significant figures), one per mix entry, merged for the totals.
package load

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultConnections is the number of connections when Config.Connections is
// zero, as in wrk.
const DefaultConnections = 10

// Entry is one kind of request in a weighted mix. Path and Body may contain
// placeholders {name} drawn uniformly from Config.Vars[name] for each request.
type Entry struct {
	// Name keys the entry's results in Result.PerEntry; empty means
	// "METHOD path".
	Name string
	// Weight is the entry's share of the requests relative to the other
	// entries' weights; 0 counts as 1.
	Weight int
	// Method is the HTTP method; empty means GET.
	Method string
	// Path is appended to the path of Config.BaseURL; it may hold a query
	// string. Empty means the base URL itself (with its query string).
	Path string
	// Body is sent with a Content-Length; set a Content-Type in Header.
	Body string
	// Header is sent with this entry's requests, over Config.Header.
	Header http.Header
}

// Range is an inclusive range of integers a placeholder is drawn from.
type Range struct{ Min, Max int64 }

// Config describes one load run.
type Config struct {
	// BaseURL is an http or https URL; user:password in it is sent as basic
	// authentication.
	BaseURL string
	// Mix is the weighted set of requests; empty means GET BaseURL.
	Mix []Entry
	// Vars are the ranges of the placeholders used in the entries.
	Vars map[string]Range
	// Header is sent with every request (e.g. Authorization).
	Header http.Header
	// Connections is the number of workers, each with its own keep-alive
	// connection (closed loop: a worker sends its next request when the last
	// one answered). 0 means DefaultConnections.
	Connections int
	// Rate is the total number of requests per second, spread evenly over the
	// connections; 0 = closed loop as fast as answers come.
	Rate float64
	// Duration stops the run after this long (0 = no limit).
	Duration time.Duration
	// MaxRequests stops the run after this many requests (0 = no limit).
	MaxRequests int64
	// MinRequests, with Duration, keeps the run going past Duration until
	// this many requests have completed, so that a slow service still gives
	// enough requests for its figures to mean something; MaxDuration caps
	// the run then, and Result.Capped says the cap ended it. 0 = Duration
	// alone ends the run.
	MinRequests int64
	// MaxDuration caps a run that MinRequests keeps going; 0 means four
	// times Duration.
	MaxDuration time.Duration
	// Timeout bounds each request, connecting included (0 = no limit). A
	// request that times out counts as an error of kind "timeout" and its
	// connection is replaced.
	Timeout time.Duration
	// TLSConfig is used for https URLs; nil means the defaults, with the
	// server name taken from the URL.
	TLSConfig *tls.Config
	// Seed makes the choice of entries and placeholder values repeatable;
	// 0 picks a random seed.
	Seed uint64
	// Progress is optional; it is called about once a second from a
	// goroutine of its own, and never after Run returns.
	Progress func(Progress)
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	// RPS is the rate of completed requests since the previous Progress.
	RPS float64
}

// Run sends requests as cfg describes until cfg.Duration has passed,
// cfg.MaxRequests have completed, or ctx is done, and returns what it
// measured. Requests interrupted by the end of the run are not counted.
//
// Failed requests are counted in the result, not returned as errors; Run
// returns an error for an invalid configuration, and ctx.Err() (with the
// results so far) when ctx ends the run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	plan, err := newPlan(cfg)
	if err != nil {
		return nil, err
	}
	conns := cfg.Connections
	if conns == 0 {
		conns = DefaultConnections
	}
	if conns < 0 {
		return nil, fmt.Errorf("load: connections must be positive, got %d", conns)
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("load: rate must not be negative, got %g", cfg.Rate)
	}
	if cfg.Duration < 0 || cfg.MaxRequests < 0 || cfg.Timeout < 0 || cfg.MinRequests < 0 || cfg.MaxDuration < 0 {
		return nil, errors.New("load: durations, request counts and timeout must not be negative")
	}
	if cfg.MinRequests > 0 && cfg.Duration == 0 {
		return nil, errors.New("load: a minimum number of requests needs a duration")
	}
	if cfg.MinRequests > 0 && cfg.MaxDuration == 0 {
		cfg.MaxDuration = 4 * cfg.Duration
	}
	if cfg.MinRequests > 0 && cfg.MaxDuration < cfg.Duration {
		return nil, fmt.Errorf("load: the cap %s is shorter than the duration %s", cfg.MaxDuration, cfg.Duration)
	}

	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		deadline := start.Add(cfg.Duration)
		if cfg.MinRequests > 0 {
			deadline = start.Add(cfg.MaxDuration)
		}
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithDeadline(runCtx, deadline)
		defer cancelTimeout()
	}

	shards := make([]*shard, min(conns, max(runtime.GOMAXPROCS(0), 1)))
	for i := range shards {
		shards[i] = newShard(len(plan.entries))
	}
	r := &runner{
		plan:    plan,
		cfg:     cfg,
		conns:   conns,
		stop:    cancel,
		dialer:  net.Dialer{KeepAlive: -1},
		tlsConf: plan.tlsConfig(cfg.TLSConfig),
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}

	stopWatch := context.AfterFunc(runCtx, func() { r.stopped.Store(true) })
	defer stopWatch()

	r.start = start
	if cfg.Duration > 0 {
		r.end = start.Add(cfg.Duration)
		if cfg.MinRequests > 0 {
			r.capEnd = start.Add(cfg.MaxDuration)
		}
	}
	var wg sync.WaitGroup
	for i := range conns {
		w := newWorker(r, i, shards[i%len(shards)], seed)
		wg.Go(func() { w.run(runCtx) })
	}
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go r.reportProgress(runCtx, progressDone)
	} else {
		close(progressDone)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	<-progressDone

	res := collect(plan, shards, elapsed)
	res.Capped = cfg.MinRequests > 0 && res.Requests < cfg.MinRequests && ctx.Err() == nil
	res.Connections = conns
	res.Rate = cfg.Rate
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// runner is what the workers of one run share.
type runner struct {
	plan    *plan
	cfg     Config
	conns   int
	start   time.Time
	end     time.Time // start + Duration; zero without one
	capEnd  time.Time // start + MaxDuration when MinRequests keeps the run going
	stop    context.CancelFunc
	dialer  net.Dialer
	tlsConf *tls.Config

	stopped  atomic.Bool  // the run is ending; cheaper to poll than ctx.Err
	issued   atomic.Int64 // requests started, against MaxRequests
	done     atomic.Int64 // requests completed, errors included
	failures atomic.Int64
}

// over says whether the run's Duration has passed at t. The workers check it
// themselves rather than wait for the run's context: the context learns of
// its deadline from a timer that may run late on a busy machine, while a dial
// past the deadline fails at once with "i/o timeout" (the dialer takes the
// context's deadline), and a worker that went on until the context is done
// would count a burst of timeouts the server never caused.
//
// With MinRequests the run goes on past Duration until that many requests
// have completed, or until MaxDuration.
func (r *runner) over(t time.Time) bool {
	if r.end.IsZero() || t.Before(r.end) {
		return false
	}
	if r.cfg.MinRequests > 0 && r.done.Load() < r.cfg.MinRequests {
		return !t.Before(r.capEnd)
	}
	return true
}

// claim reserves the next request; false when MaxRequests are already
// under way.
func (r *runner) claim() bool {
	if r.cfg.MaxRequests == 0 {
		return true
	}
	return r.issued.Add(1) <= r.cfg.MaxRequests
}

// finished records a completed request and ends the run at MaxRequests.
func (r *runner) finished(failed bool) {
	n := r.done.Add(1)
	if failed {
		r.failures.Add(1)
	}
	if r.cfg.MaxRequests > 0 && n >= r.cfg.MaxRequests {
		r.stop()
	}
	if r.cfg.MinRequests > 0 && n >= r.cfg.MinRequests && r.over(time.Now()) {
		// Kept going past Duration for MinRequests: they are in.
		r.stop()
	}
}

func (r *runner) reportProgress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := int64(0), r.start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := r.done.Load()
			rps := 0.0
			if d := now.Sub(lastAt).Seconds(); d > 0 {
				rps = float64(n-last) / d
			}
			r.cfg.Progress(Progress{
				Elapsed:  now.Sub(r.start),
				Requests: n,
				Errors:   r.failures.Load(),
				RPS:      rps,
			})
			last, lastAt = n, now
		}
	}
}

// plan is a validated Config: the target and the compiled entries.
type plan struct {
	scheme  string
	addr    string // host:port to dial
	host    string // Host header
	entries []*compiledEntry
	cumul   []int // cumulative weights
	total   int
	vars    []Range
}

func newPlan(cfg Config) (*plan, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("load: base URL: %w", redactURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("load: base URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("load: base URL %q has no host", u.Redacted())
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("load: base URL %q has a fragment", u.Redacted())
	}
	p := &plan{scheme: u.Scheme, host: u.Host}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	p.addr = net.JoinHostPort(u.Hostname(), port)

	common := http.Header{}
	if u.User != nil {
		pass, _ := u.User.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pass))
		common.Set("Authorization", "Basic "+cred)
	}
	for k, vs := range cfg.Header {
		common[http.CanonicalHeaderKey(k)] = vs
	}

	mix := cfg.Mix
	if len(mix) == 0 {
		mix = []Entry{{Method: http.MethodGet}}
	}
	varIndex := map[string]int{}
	for name, rg := range cfg.Vars {
		if !isIdent(name) {
			return nil, fmt.Errorf("load: var %q: a name is letters, digits and underscores", name)
		}
		if rg.Min > rg.Max {
			return nil, fmt.Errorf("load: var %q: min %d is above max %d", name, rg.Min, rg.Max)
		}
	}
	basePath := strings.TrimSuffix(u.EscapedPath(), "/")
	names := map[string]bool{}
	for i, e := range mix {
		if e.Weight < 0 {
			return nil, fmt.Errorf("load: entry %d (%s): weight must not be negative", i+1, e.Name)
		}
		target := u.RequestURI()
		if e.Path != "" {
			if u.RawQuery != "" {
				return nil, fmt.Errorf("load: base URL %q has a query string; put it in the entries' paths", u.Redacted())
			}
			path := e.Path
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			target = basePath + path
		}
		ce, err := compileEntry(e, p.host, target, common, cfg.Vars, varIndex)
		if err != nil {
			return nil, fmt.Errorf("load: entry %d (%s): %w", i+1, ce.name, err)
		}
		if names[ce.name] {
			return nil, fmt.Errorf("load: entry %d: name %q is used twice", i+1, ce.name)
		}
		names[ce.name] = true
		weight := max(e.Weight, 1)
		p.total += weight
		p.cumul = append(p.cumul, p.total)
		p.entries = append(p.entries, ce)
	}
	p.vars = make([]Range, len(varIndex))
	for name, i := range varIndex {
		p.vars[i] = cfg.Vars[name]
	}
	return p, nil
}

func (p *plan) tlsConfig(base *tls.Config) *tls.Config {
	if p.scheme != "https" {
		return nil
	}
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(p.addr)
		if err == nil {
			c.ServerName = host
		}
	}
	c.NextProtos = []string{"http/1.1"}
	return c
}

// pick chooses an entry index for a uniform draw n in [0, total).
func (p *plan) pick(n int) int {
	for i, c := range p.cumul {
		if n < c {
			return i
		}
	}
	return len(p.cumul) - 1
}

// redactURLError keeps a password in a malformed URL out of the error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return &url.Error{Op: ue.Op, URL: u.Redacted(), Err: ue.Err}
		}
		return &url.Error{Op: ue.Op, URL: "(URL not shown)", Err: ue.Err}
	}
	return err
}
