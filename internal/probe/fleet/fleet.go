// Package fleet reads a service of many instances through the Prometheus
// server that already scrapes them, with client_golang's api/prometheus/v1
// client: the instances' series summed on the server into one aggregate
// metrics.Snapshot (what the rules read), and each instance's request rate,
// p95 latency, process CPU and pool, computed with PromQL (rate,
// histogram_quantile) over a range, for the per-instance views and
// service.imbalance.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Options say which Prometheus to read, which series are the service's, and
// over how long each instance's rates are taken.
type Options struct {
	// Selector is the label matchers of the service's series, as inside
	// PromQL's braces: job="api",namespace="prod". Braces are accepted.
	Selector string
	// Range is what each instance's rates and percentiles cover, ending at
	// the snapshot (default DefaultRange).
	Range time.Duration
	// HTTP is how to reach the server (headers, TLS); Timeout bounds one
	// query.
	HTTP source.HTTPOptions
}

// DefaultRange is the per-instance range without Options.Range.
const DefaultRange = 30 * time.Second

// InstanceLabels are the labels that tell one instance of the fleet from
// another; the aggregate sums over them.
var InstanceLabels = []string{"instance", "pod", "kubernetes_pod_name", "pod_name", "pod_ip", "pod_template_hash"}

// Collector reads one service through one Prometheus server. It is safe for
// concurrent use.
type Collector struct {
	api      v1.API
	address  string
	selector string
	rng      time.Duration
	timeout  time.Duration
	close    func()

	mu sync.Mutex
	// types of the families, from the metadata API, read once.
	types map[string]string
	// stitch keeps the aggregate counters monotone across instances that
	// leave or restart.
	stitch stitcher
	// startTime pins the fleet's process_start_time_seconds (the oldest
	// instance's at the first reading): an instance restarting must not
	// read as the whole fleet restarting.
	startTime *float64
}

// New makes a collector for the server at address; it connects to nothing
// yet. It fails on a malformed address or selector, or unreadable TLS files.
func New(address string, opts Options) (*Collector, error) {
	u, err := source.ParseTargetURL("prometheus", address)
	if err != nil {
		return nil, err
	}
	sel, err := NormaliseSelector(opts.Selector)
	if err != nil {
		return nil, err
	}
	t, err := source.NewTransport(opts.HTTP)
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = t
	if len(opts.HTTP.Header) > 0 {
		rt = headerTripper{next: t, header: opts.HTTP.Header.Clone()}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		rt = basicTripper{next: rt, user: u.User.Username(), password: pw}
		u.User = nil
	}
	client, err := api.NewClient(api.Config{Address: u.String(), RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	c := &Collector{api: v1.NewAPI(client), address: source.Redact(u.String()), selector: sel, rng: opts.Range,
		timeout: opts.HTTP.Timeout, close: t.CloseIdleConnections, stitch: stitcher{}}
	if c.rng <= 0 {
		c.rng = DefaultRange
	}
	if c.timeout <= 0 {
		c.timeout = metrics.DefaultTimeout
	}
	return c, nil
}

// NormaliseSelector checks a selector's shape and returns its matchers
// without braces. The server checks the matchers themselves.
func NormaliseSelector(sel string) (string, error) {
	s := strings.TrimSpace(sel)
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"))
	if s == "" {
		return "", errors.New(`prometheus: a --selector is needed: the label matchers of the service's series, e.g. job="api"`)
	}
	if strings.ContainsAny(s, "{}") || strings.Count(s, `"`)%2 != 0 && strings.Count(s, "`")%2 != 0 {
		return "", fmt.Errorf("prometheus: selector %q is not a list of label matchers (LABEL=\"value\",...)", sel)
	}
	return s, nil
}

// String is the server's address, without credentials.
func (c *Collector) String() string { return c.address }

// Selector is the normalised selector.
func (c *Collector) Selector() string { return c.selector }

// Range is what each instance's figures cover.
func (c *Collector) Range() time.Duration { return c.rng }

// Close releases idle connections.
func (c *Collector) Close() { c.close() }

type headerTripper struct {
	next   http.RoundTripper
	header http.Header
}

func (h headerTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range h.header {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return h.next.RoundTrip(r)
}

type basicTripper struct {
	next           http.RoundTripper
	user, password string
}

func (b basicTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// queryError turns a failed query into a status error a person can act on.
func (c *Collector) queryError(ctx context.Context, what string, err error) error {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		msg := apiErr.Msg
		if apiErr.Type == v1.ErrBadData {
			return &source.StatusError{State: source.Error, Err: err,
				Detail: fmt.Sprintf("prometheus %s rejected the %s query: %s (check --selector)", c.address, what, source.Redact(msg))}
		}
		if strings.Contains(apiErr.Detail, "401") || strings.Contains(apiErr.Detail, "403") ||
			strings.Contains(msg, "401") || strings.Contains(msg, "403") {
			return &source.StatusError{State: source.Unavailable, Err: err,
				Detail: fmt.Sprintf("prometheus %s refused the query (%s): give the header it needs, e.g. --header 'Authorization: Bearer TOKEN'", c.address, source.Redact(firstLine(msg)))}
		}
		return &source.StatusError{State: source.Error, Err: err,
			Detail: fmt.Sprintf("prometheus %s: %s query failed: %s", c.address, what, source.Redact(firstLine(msg+" "+apiErr.Detail)))}
	}
	var netErr net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &source.StatusError{State: source.Unavailable, Err: err,
			Detail: fmt.Sprintf("prometheus %s did not answer within %s", c.address, c.timeout.Round(time.Millisecond))}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &source.StatusError{State: source.Unavailable, Err: err,
		Detail: fmt.Sprintf("prometheus: cannot reach %s: %s", c.address, source.Redact(firstLine(err.Error())))}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Snapshot reads the fleet at the current time: the aggregate as a metrics
// snapshot, for the rules, and each instance's figures over the range. It
// never returns a nil snapshot: a failure is its Status. The fleet is nil
// when the server could not be read or the selector matched nothing.
func (c *Collector) Snapshot(ctx context.Context, names metrics.Names) (*metrics.Snapshot, *Fleet) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	// The server's clock decides what "now" holds; a whole second keeps
	// every query of one snapshot at the same evaluation time.
	t := start.Truncate(time.Millisecond)
	fams, err := c.aggregate(ctx, t)
	snap := metrics.NewSnapshot(t, fams, names)
	snap.Target = c.Describe()
	if err != nil {
		snap.Status = source.StatusOf(err, time.Since(start))
		return snap, nil
	}
	if len(fams) == 0 {
		snap.Status = source.Status{State: source.Unavailable, Took: time.Since(start),
			Detail: fmt.Sprintf("prometheus %s: no series match {%s}: check --selector against the targets Prometheus scrapes (its /targets page)", c.address, c.selector)}
		return snap, nil
	}
	f, err := c.instances(ctx, t, snap, names)
	snap.Status = source.Status{State: source.OK, Took: time.Since(start)}
	if err != nil {
		snap.Status.Detail = "per-instance figures: " + err.Error()
		return snap, nil
	}
	snap.Status.Detail = f.Summary()
	return snap, f
}

// Describe names the source: the server and the selector.
func (c *Collector) Describe() string {
	return fmt.Sprintf("%s {%s}", c.address, c.selector)
}

// Summary is the status line's detail: how many instances, and those gone
// or down.
func (f *Fleet) Summary() string {
	var gone, down []string
	for _, in := range f.Instances {
		switch {
		case in.Gone:
			gone = append(gone, in.Name)
		case !in.Up:
			down = append(down, in.Name)
		}
	}
	s := fmt.Sprintf("via prometheus %s, %d instances", f.Prometheus, f.Live())
	if len(down) > 0 {
		s += fmt.Sprintf(", down: %s", strings.Join(down, ", "))
	}
	if len(gone) > 0 {
		s += fmt.Sprintf(", gone during the last %s: %s", f.Range, strings.Join(gone, ", "))
	}
	return s
}
