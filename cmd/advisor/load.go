package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/load"
)

type loadFlags struct {
	url         string
	connections int
	duration    time.Duration
	requests    int64
	rate        float64
	method      string
	body        string
	headers     []string
	mix         string
	timeout     time.Duration
	json        bool
}

func newLoadCmd() *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load URL",
		Short: "Send HTTP load to a service and measure its rate and latency",
		Long: `load sends HTTP/1.1 requests to URL (or --url) like wrk does: each of --connections
workers keeps one connection open and sends its next request as soon as the
last one is answered. With --rate the workers send on a fixed schedule
instead, and latency counts from the time a request was due, so a stalled
server's queueing shows in the percentiles (as wrk2 does).

It prints the rate, the latency percentiles (p50, p90, p95, p99, max), the
errors by kind and, for a mix, the same per entry; --json prints them as a
JSON object (schema advisor.load/v1, durations in milliseconds).

A mix file (--mix, YAML or JSON) holds weighted entries whose paths are
relative to --url, with placeholders drawn from ranges:

  headers: {Authorization: Bearer t0k3n}
  vars:
    user: {min: 1, max: 20000}
  entries:
    - {name: feed, weight: 6, path: "/users/{user}/feed"}
    - name: order
      method: POST
      path: /orders
      headers: {Content-Type: application/json}
      body: '{"user_id": {user}}'

The run stops after --duration or --requests, whichever comes first, or on
Ctrl-C, and prints what it measured so far. The exit status is 1 when every
request failed.`,
		Example: `  advisor load http://127.0.0.1:8080/health -c 64 -d 15s
  advisor load http://127.0.0.1:8080 --mix mix.yaml --rate 500 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("url") {
					return usageError{errors.New("the URL is given twice: as an argument and with --url")}
				}
				f.url = args[0]
			}
			cfg, err := f.config(cmd)
			if err != nil {
				return usageError{err}
			}
			return runLoad(cmd, cfg, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "the URL, as the argument gives it (http or https); with --mix, the entries' paths are relative to it")
	fl.IntVarP(&f.connections, "connections", "c", 10, "connections, each a worker with its own keep-alive connection")
	fl.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run (0: no limit; the default is 0 when --requests is set)")
	fl.Int64VarP(&f.requests, "requests", "n", 0, "stop after this many requests (0: no limit)")
	fl.Float64VarP(&f.rate, "rate", "R", 0, "fixed total rate in requests per second (0: as fast as answers come)")
	fl.StringVarP(&f.method, "method", "X", "GET", "HTTP method (not with --mix)")
	fl.StringVar(&f.body, "body", "", "request body (not with --mix); set a Content-Type with --header")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header 'Name: value' sent with every request (repeatable)")
	fl.StringVar(&f.mix, "mix", "", "YAML or JSON file with weighted entries, vars and headers")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "per-request timeout, connecting included (0: none)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
	return cmd
}

// config checks the flags and turns them into a load.Config.
func (f *loadFlags) config(cmd *cobra.Command) (load.Config, error) {
	var cfg load.Config
	if f.url == "" {
		return cfg, errors.New("no URL: advisor load URL (or --url URL)")
	}
	u, err := url.Parse(f.url)
	if err != nil {
		return cfg, fmt.Errorf("the URL: %w", redactedURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return cfg, fmt.Errorf("the URL %q: the scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return cfg, fmt.Errorf("the URL %q: no host", u.Redacted())
	}
	switch {
	case f.connections < 1:
		return cfg, fmt.Errorf("--connections must be at least 1, got %d", f.connections)
	case f.duration < 0:
		return cfg, fmt.Errorf("--duration must not be negative, got %s", f.duration)
	case f.requests < 0:
		return cfg, fmt.Errorf("--requests must not be negative, got %d", f.requests)
	case f.rate < 0:
		return cfg, fmt.Errorf("--rate must not be negative, got %g", f.rate)
	case f.timeout < 0:
		return cfg, fmt.Errorf("--timeout must not be negative, got %s", f.timeout)
	}
	duration := f.duration
	if f.requests > 0 && !cmd.Flags().Changed("duration") {
		duration = 0
	}
	header := http.Header{}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return cfg, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		header.Add(name, strings.TrimSpace(value))
	}
	cfg = load.Config{
		BaseURL:     f.url,
		Connections: f.connections,
		Rate:        f.rate,
		Duration:    duration,
		MaxRequests: f.requests,
		Timeout:     f.timeout,
	}
	if f.mix != "" {
		if cmd.Flags().Changed("method") || cmd.Flags().Changed("body") {
			return cfg, errors.New("--method and --body do not go with --mix: put them in the mix file's entries")
		}
		m, err := load.LoadMix(f.mix)
		if err != nil {
			return cfg, err
		}
		cfg.Mix, cfg.Vars = m.Entries, m.Vars
		for k, vs := range header { // the command line wins over the file
			m.Header[k] = vs
		}
		header = m.Header
	} else {
		cfg.Mix = []load.Entry{{Method: strings.ToUpper(f.method), Body: f.body}}
	}
	cfg.Header = header
	return cfg, nil
}

func runLoad(cmd *cobra.Command, cfg load.Config, asJSON bool) error {
	stderr := cmd.ErrOrStderr()
	progress := terminal(stderr)
	if progress {
		cfg.Progress = func(p load.Progress) {
			fmt.Fprintf(stderr, "\r\x1b[K%s  %d requests  %.0f req/s  %d errors",
				p.Elapsed.Round(time.Second), p.Requests, p.RPS, p.Errors)
		}
	}
	res, err := load.Run(cmd.Context(), cfg)
	if progress {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if res == nil {
		return usageError{err}
	}
	// An interrupted run still reports what it measured.
	out := cmd.OutOrStdout()
	if asJSON {
		err = load.WriteJSON(out, res)
	} else {
		err = load.WriteText(out, res)
	}
	if err != nil {
		return err
	}
	if res.Requests > 0 && res.Errors == res.Requests {
		return exitError{code: 1, err: errors.New("every request failed")}
	}
	return nil
}

// terminal reports whether w is a terminal, where a progress line that
// rewrites itself is welcome; CI logs get nothing.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// redactedURLError keeps a password in a malformed URL out of the message.
func redactedURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
