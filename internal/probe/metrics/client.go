// Package metrics reads a service's Prometheus /metrics endpoint, recognises
// the families advisor reasons about (HTTP requests per route, in-flight
// requests, outbound calls, connection pools, the runtime the service runs
// on (Go, Python, Node, JVM) with the Go runtime's figures and Node's event
// loop, and the process), and turns two snapshots into a Window of rates,
// deltas and latency percentiles.
//
// Fetching (Client) is kept apart from parsing (Parse) and recognition
// (NewSnapshot); Diff is pure.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// HTTPOptions are how to reach a target that needs authentication or TLS.
// Timeout bounds one scrape (default DefaultTimeout).
type HTTPOptions = source.HTTPOptions

// Defaults of HTTPOptions.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBodyBytes = 64 << 20
)

// acceptHeader asks for the classic text format, which Parse reads.
const acceptHeader = "text/plain; version=0.0.4; charset=utf-8"

// Client scrapes one /metrics endpoint.
type Client struct {
	url     *url.URL
	http    *http.Client
	header  http.Header
	timeout time.Duration
	maxBody int64
}

// NewClient returns a client for metricsURL. A URL without a path (or with
// "/") gets /metrics appended; any other path is used as given.
func NewClient(metricsURL string, opts HTTPOptions) (*Client, error) {
	u, err := source.ParseTargetURL("metrics target", metricsURL)
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	t, err := source.NewTransport(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{url: u, http: &http.Client{Transport: t}, header: opts.Header.Clone(), timeout: opts.Timeout, maxBody: opts.MaxBodyBytes}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	return c, nil
}

// String is the endpoint's URL without credentials or query.
func (c *Client) String() string {
	u := *c.url
	u.User, u.RawQuery = nil, ""
	return source.Redact(u.String())
}

// Close closes the client's idle connections to the endpoint: the client
// owns its transport, whose keep-alive connections would otherwise stay
// open, each with its goroutines, until the target closes them.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Fetch scrapes the endpoint and returns the body. Failures are
// *source.StatusError values with a status a person can act on.
func (c *Client) Fetch(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	shown := c.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return nil, &source.StatusError{State: source.Error, Detail: "metrics: bad request URL " + shown}
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", acceptHeader)
	if c.url.User != nil {
		pw, _ := c.url.User.Password()
		req.SetBasicAuth(c.url.User.Username(), pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(ctx, shown, c.timeout, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, &source.StatusError{State: source.Unavailable,
			Detail: fmt.Sprintf("metrics not served at %s (404): expose promhttp.Handler() there, or give the right --metrics URL", shown)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, &source.StatusError{State: source.Unavailable,
			Detail: fmt.Sprintf("metrics: %s answered %s: give the header it needs (e.g. Authorization) in the target options", shown, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &source.StatusError{State: source.Error,
			Detail: fmt.Sprintf("metrics: %s answered %s: %s", shown, resp.Status, source.Redact(firstLine(msg)))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, transportError(ctx, shown, c.timeout, err)
		}
		return nil, &source.StatusError{State: source.Error, Err: err, Detail: fmt.Sprintf("metrics: reading %s failed: %s", shown, source.Redact(err.Error()))}
	}
	if int64(len(body)) > c.maxBody {
		return nil, &source.StatusError{State: source.Error, Detail: fmt.Sprintf("metrics: the body from %s is larger than %d bytes", shown, c.maxBody)}
	}
	return body, nil
}

// Scrape fetches, parses and recognises the endpoint's metrics. It never
// returns nil: a failure is the snapshot's Status.
func (c *Client) Scrape(ctx context.Context, names Names) *Snapshot {
	start := time.Now()
	body, err := c.Fetch(ctx)
	var fams Families
	if err == nil {
		fams, err = ParseBytes(body)
		if err != nil {
			err = &source.StatusError{State: source.Error, Err: err, Detail: fmt.Sprintf("metrics: %s: %s", c.String(), err.Error())}
		}
	}
	s := NewSnapshot(start, fams, names)
	s.Target = c.String()
	s.Status = source.StatusOf(err, time.Since(start))
	if err == nil && len(fams) == 0 {
		s.Status.Detail = fmt.Sprintf("metrics: %s serves no metrics", c.String())
	}
	return s
}

func transportError(ctx context.Context, shown string, limit time.Duration, err error) error {
	var netErr net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &source.StatusError{State: source.Unavailable, Err: err, Detail: fmt.Sprintf("metrics: %s did not answer within %s", shown, limit.Round(time.Millisecond))}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &source.StatusError{State: source.Unavailable, Err: err, Detail: fmt.Sprintf("metrics: cannot reach %s: %s", shown, source.Redact(err.Error()))}
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
