// Package pprof reads the profiles a Go service serves with net/http/pprof
// (and fgprof when it serves it), parses its goroutine dump, attributes
// stacks to the HTTP handler they run under, and aggregates samples by
// function and by handler.
//
// Fetching (Client) is kept apart from parsing (ParseProfile,
// ParseGoroutines) and from aggregation (ByFunction, ByHandler), so each can
// be tested and fuzzed alone. Collect runs one round of fetches concurrently
// and returns a Snapshot.
package pprof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// HTTPOptions are how to reach a target that needs authentication or TLS.
// Timeout bounds each request that does not itself last a given number of
// seconds; a request that does (CPU, block, mutex, fgprof) gets this much on
// top of its duration. Zero means DefaultTimeout.
type HTTPOptions = source.HTTPOptions

// Defaults of HTTPOptions.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 512 << 20
)

// Client fetches profiles from one target.
type Client struct {
	root    *url.URL // scheme://host[/prefix], without /debug/pprof
	http    *http.Client
	header  http.Header
	timeout time.Duration
	maxBody int64
}

// NewClient returns a client for the target at baseURL: the service's base
// URL (http://host:6060) or its pprof index (http://host:6060/debug/pprof/).
func NewClient(baseURL string, opts HTTPOptions) (*Client, error) {
	u, err := source.ParseTargetURL("pprof target", baseURL)
	if err != nil {
		return nil, err
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/debug/pprof")
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	transport, err := source.NewTransport(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		root:    u,
		http:    &http.Client{Transport: transport},
		header:  opts.Header.Clone(),
		timeout: opts.Timeout,
		maxBody: opts.MaxBodyBytes,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	return c, nil
}

// String is the target's URL without credentials.
func (c *Client) String() string { return source.Redact(c.root.Redacted()) }

// Close closes the client's idle connections to the target: the client owns
// its transport, whose keep-alive connections would otherwise stay open,
// each with its goroutines, until the target closes them.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Reasons of a failed fetch, in source.StatusError.Reason.
const (
	// NotServed: the endpoint answered 404.
	NotServed = "not-served"
	// Unreachable: no connection could be made.
	Unreachable = "unreachable"
	// Timeout: the target did not answer in time.
	Timeout = "timeout"
	// Refused: the target answered 401 or 403.
	Refused = "refused"
	// HTTPStatus: the target answered another non-200 status.
	HTTPStatus = "http-status"
	// NotProfile: the body is not a profile (HTML, text, garbage).
	NotProfile = "not-profile"
	// Truncated: the body is a profile cut short or corrupt.
	Truncated = "truncated"
	// Disabled: the profile is empty because its sampling rate is zero.
	Disabled = "disabled"
)

// IsNotServed reports whether err is a fetch the target answered with 404
// (Reason NotServed).
func IsNotServed(err error) bool {
	var se *source.StatusError
	return errors.As(err, &se) && se.Reason == NotServed
}

// endpoint is where a profile kind is served and how to enable it.
func (c *Client) endpoint(path string, query url.Values) string {
	u := *c.root
	u.Path = c.root.Path + path
	u.RawQuery = query.Encode()
	return u.String()
}

// get fetches path and returns its body. extra is how long the target is
// expected to take on purpose (the profile's seconds).
func (c *Client) get(ctx context.Context, kind Kind, path string, query url.Values, extra time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout+extra)
	defer cancel()
	target := c.endpoint(path, query)
	shown := source.Redact((&url.URL{Scheme: c.root.Scheme, Host: c.root.Host, Path: c.root.Path + path}).String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &source.StatusError{Reason: Unreachable, State: source.Error, Detail: fmt.Sprintf("%s: bad request URL %s", kind, shown)}
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.root.User != nil {
		pw, _ := c.root.User.Password()
		req.SetBasicAuth(c.root.User.Username(), pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(ctx, kind, shown, c.timeout+extra, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &source.StatusError{Reason: NotServed, State: source.Unavailable, Detail: notServedDetail(kind, shown)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, &source.StatusError{Reason: Refused, State: source.Unavailable,
			Detail: fmt.Sprintf("%s: %s answered %s: give the header it needs (e.g. Authorization) in the target options", kind, shown, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &source.StatusError{Reason: HTTPStatus, State: source.Error,
			Detail: fmt.Sprintf("%s: %s answered %s: %s", kind, shown, resp.Status, source.Redact(firstLine(msg)))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, transportError(ctx, kind, shown, c.timeout+extra, err)
		}
		return nil, &source.StatusError{Reason: Truncated, State: source.Error, Err: err,
			Detail: fmt.Sprintf("%s: reading the body from %s failed: %s", kind, shown, source.Redact(err.Error()))}
	}
	if int64(len(body)) > c.maxBody {
		return nil, &source.StatusError{Reason: NotProfile, State: source.Error,
			Detail: fmt.Sprintf("%s: the body from %s is larger than %d bytes", kind, shown, c.maxBody)}
	}
	return body, nil
}

// transportError classifies an error of http.Client.Do.
func transportError(ctx context.Context, kind Kind, shown string, limit time.Duration, err error) error {
	var netErr net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &source.StatusError{Reason: Timeout, State: source.Unavailable, Err: err,
			Detail: fmt.Sprintf("%s: %s did not answer within %s", kind, shown, limit.Round(time.Millisecond))}
	}
	if errors.Is(err, context.Canceled) {
		return &source.StatusError{Reason: Timeout, State: source.Unavailable, Err: err,
			Detail: fmt.Sprintf("%s: fetching %s was cancelled", kind, shown)}
	}
	return &source.StatusError{Reason: Unreachable, State: source.Unavailable, Err: err,
		Detail: fmt.Sprintf("%s: cannot reach %s: %s", kind, shown, source.Redact(rootCause(err).Error()))}
}

// rootCause strips url.Error's repetition of the URL (which may carry a query).
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func notServedDetail(kind Kind, shown string) string {
	if kind == KindFgprof {
		return fmt.Sprintf("fgprof not served at %s (optional: mux.Handle(\"/debug/fgprof\", fgprof.Handler()) from github.com/felixge/fgprof)", shown)
	}
	if i := strings.Index(shown, "/debug/pprof/"); i >= 0 {
		shown = shown[:i+len("/debug/pprof/")]
	}
	return fmt.Sprintf("pprof not served at %s: import _ \"net/http/pprof\" (or register its handlers on your mux)", shown)
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

// ParseProfile parses a pprof profile (gzipped or not). It tells a body that
// is not a profile apart from a profile cut short, and never panics.
func ParseProfile(data []byte) (p *profile.Profile, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &source.StatusError{Reason: NotProfile, State: source.Error, Detail: "the body is empty, not a profile"}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, &source.StatusError{Reason: Truncated, State: source.Error, Detail: fmt.Sprintf("the profile is corrupt: %v", r)}
		}
	}()
	p, err = profile.ParseData(data)
	if err == nil {
		return p, nil
	}
	gzipped := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
	if gzipped {
		return nil, &source.StatusError{Reason: Truncated, State: source.Error, Err: err,
			Detail: "the profile is truncated or corrupt: " + err.Error()}
	}
	if looksLikeText(data) {
		return nil, &source.StatusError{Reason: NotProfile, State: source.Error, Err: err,
			Detail: fmt.Sprintf("the body is not a pprof profile (it starts %q)", firstLine(data[:min(len(data), 80)]))}
	}
	return nil, &source.StatusError{Reason: NotProfile, State: source.Error, Err: err,
		Detail: "the body is not a pprof profile: " + err.Error()}
}

func looksLikeText(b []byte) bool {
	n := min(len(b), 256)
	for _, c := range b[:n] {
		if c < 0x09 || (c > 0x0d && c < 0x20) {
			return false
		}
	}
	return true
}

// fetchProfile fetches and parses one profile, and returns the body too (a
// file go tool pprof opens as it is).
func (c *Client) fetchProfile(ctx context.Context, kind Kind, path string, query url.Values, extra time.Duration) (*profile.Profile, []byte, error) {
	body, err := c.get(ctx, kind, path, query, extra)
	if err != nil {
		return nil, nil, err
	}
	p, err := ParseProfile(body)
	if err != nil {
		var e *source.StatusError
		if errors.As(err, &e) {
			e.Detail = fmt.Sprintf("%s: %s from %s", kind, e.Detail, c.String()+path)
		}
		return nil, nil, err
	}
	return p, body, nil
}

// parsed drops the body of a fetchProfile result.
func parsed(p *profile.Profile, _ []byte, err error) (*profile.Profile, error) { return p, err }

func secondsQuery(seconds int) url.Values {
	return url.Values{"seconds": {strconv.Itoa(seconds)}}
}

// CPU fetches a CPU profile of the given length (at least one second).
func (c *Client) CPU(ctx context.Context, seconds int) (*profile.Profile, error) {
	return parsed(c.cpu(ctx, seconds))
}

func (c *Client) cpu(ctx context.Context, seconds int) (*profile.Profile, []byte, error) {
	seconds = max(seconds, 1)
	return c.fetchProfile(ctx, KindCPU, "/debug/pprof/profile", secondsQuery(seconds), time.Duration(seconds)*time.Second)
}

// Goroutine fetches the goroutine profile in proto form.
func (c *Client) Goroutine(ctx context.Context) (*profile.Profile, error) {
	return parsed(c.goroutine(ctx))
}

func (c *Client) goroutine(ctx context.Context) (*profile.Profile, []byte, error) {
	return c.fetchProfile(ctx, KindGoroutine, "/debug/pprof/goroutine", nil, 0)
}

// GoroutineText fetches the full goroutine dump (?debug=2) and parses it;
// size is the dump's length in bytes, what its stop of the target is
// estimated from (DumpStop). Goroutines that parsed are returned even when
// others did not.
func (c *Client) GoroutineText(ctx context.Context) (gs []Goroutine, size int, err error) {
	body, err := c.get(ctx, KindGoroutineText, "/debug/pprof/goroutine", url.Values{"debug": {"2"}}, 0)
	if err != nil {
		return nil, 0, err
	}
	gs, err = ParseGoroutines(bytes.NewReader(body))
	if err == nil && len(gs) == 0 {
		err = errors.New("no goroutine found")
	}
	if err != nil && len(gs) == 0 {
		return nil, len(body), &source.StatusError{Reason: NotProfile, State: source.Error, Err: err,
			Detail: fmt.Sprintf("%s: the body from %s is not a goroutine dump: %s", KindGoroutineText, c.String()+"/debug/pprof/goroutine?debug=2", firstLine([]byte(err.Error())))}
	}
	return gs, len(body), nil
}

// GoroutineCount reads how many goroutines the target runs from the
// header of its goroutine profile in text (?debug=1), which the runtime
// collects without stopping the target for long (since Go 1.19), unlike
// the full dump.
func (c *Client) GoroutineCount(ctx context.Context) (int, error) {
	body, err := c.get(ctx, KindGoroutine, "/debug/pprof/goroutine", url.Values{"debug": {"1"}}, 0)
	if err != nil {
		return 0, err
	}
	return ParseGoroutineCount(body)
}

// ParseGoroutineCount reads the first line of a goroutine profile in text
// (?debug=1): "goroutine profile: total N".
func ParseGoroutineCount(body []byte) (int, error) {
	line := firstLine(body)
	rest, ok := strings.CutPrefix(line, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("not a goroutine profile in text: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(rest))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("goroutine count %q: not a count", rest)
	}
	return n, nil
}

// Heap fetches the heap profile.
func (c *Client) Heap(ctx context.Context) (*profile.Profile, error) {
	return parsed(c.heap(ctx))
}

func (c *Client) heap(ctx context.Context) (*profile.Profile, []byte, error) {
	return c.fetchProfile(ctx, KindHeap, "/debug/pprof/heap", nil, 0)
}

// Block fetches the block profile as a delta over the given seconds (the
// cumulative profile when seconds <= 0). An empty profile whose cumulative
// form is empty too means the block profile rate is 0: the error says how to
// enable it.
func (c *Client) Block(ctx context.Context, seconds int) (*profile.Profile, error) {
	return parsed(c.contention(ctx, KindBlock, seconds))
}

// Mutex fetches the mutex profile like Block.
func (c *Client) Mutex(ctx context.Context, seconds int) (*profile.Profile, error) {
	return parsed(c.contention(ctx, KindMutex, seconds))
}

func (c *Client) contention(ctx context.Context, kind Kind, seconds int) (*profile.Profile, []byte, error) {
	path := "/debug/pprof/" + string(kind)
	var query url.Values
	if seconds > 0 {
		query = secondsQuery(seconds)
	}
	p, body, err := c.fetchProfile(ctx, kind, path, query, time.Duration(max(seconds, 0))*time.Second)
	if err != nil || len(p.Sample) > 0 {
		return p, body, err
	}
	if seconds > 0 {
		// The delta is empty: either nothing blocked in the window or the
		// rate is 0. A cumulative profile that is empty too means the rate
		// is 0, as any Go program records some blocking once it is on.
		total, _, err := c.fetchProfile(ctx, kind, path, nil, 0)
		if err != nil {
			return p, body, nil
		}
		if len(total.Sample) > 0 {
			return p, body, nil
		}
	}
	return nil, nil, &source.StatusError{Reason: Disabled, State: source.Unavailable, Detail: disabledDetail(kind)}
}

func disabledDetail(kind Kind) string {
	if kind == KindMutex {
		return "mutex profile is empty: mutex profiling is off; call runtime.SetMutexProfileFraction(10) at start-up (samples one contention event in 10; its cost is measured in advisor's docs/benchmarks.md)"
	}
	return "block profile is empty: block profiling is off; call runtime.SetBlockProfileRate(10000) at start-up (samples about one event per 10 µs spent blocked; its cost is measured in advisor's docs/benchmarks.md)"
}

// Fgprof fetches a wall-clock profile from /debug/fgprof when the target
// serves it; a 404 gives a source.StatusError with Reason NotServed.
func (c *Client) Fgprof(ctx context.Context, seconds int) (*profile.Profile, error) {
	return parsed(c.fgprof(ctx, seconds))
}

func (c *Client) fgprof(ctx context.Context, seconds int) (*profile.Profile, []byte, error) {
	seconds = max(seconds, 1)
	q := secondsQuery(seconds)
	q.Set("format", "pprof")
	return c.fetchProfile(ctx, KindFgprof, "/debug/fgprof", q, time.Duration(seconds)*time.Second)
}
