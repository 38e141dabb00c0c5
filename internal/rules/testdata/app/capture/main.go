// Command capture runs a small HTTP service with one application problem,
// drives it with an in-process closed-loop load, and writes what advisor's
// probes read from such a service: goroutine dumps (debug=2) sampled over the
// window, a CPU profile, block and mutex profile deltas, and two /metrics
// pages. The application rules' fixture tests read these files.
//
// Regenerate every capture from the repository root (-trimpath keeps paths
// of the machine out of the stacks):
//
//	for m in blocking inline lock hops gomaxprocs gc limit tuned; do
//	  go run -trimpath ./internal/rules/testdata/app/capture -mode $m -out internal/rules/testdata/app/$m
//	done
//
// Modes:
//
//	blocking    GET /quote calls a slow upstream (60 ms) synchronously
//	inline      POST /orders sends an e-mail over SMTP and renders a PDF
//	            before replying
//	lock        GET /counter holds a global mutex across 5 ms of work
//	hops        GET /profile calls two internal services over HTTP
//	gomaxprocs  GOMAXPROCS(1) and a CPU-bound handler
//	gc          GOGC=5 and a handler that allocates 256 kB per request
//	            beside a live heap of a million pointers
//	limit       a middleware lets 4 requests at a time into a handler that
//	            waits 20 ms; the others queue on its semaphore
//	tuned       a handler that does a little CPU work and nothing else
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"net/smtp"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/google/pprof/profile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	mode := flag.String("mode", "blocking", "blocking, inline, lock, hops, gomaxprocs or tuned")
	out := flag.String("out", "", "directory to write the capture to")
	conns := flag.Int("connections", 16, "load connections")
	window := flag.Duration("window", 3*time.Second, "observation window")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if err := run(*mode, *out, *conns, *window); err != nil {
		log.Fatal(err)
	}
}

// service is the program under observation.
type service struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	outbound *prometheus.CounterVec
	outDur   *prometheus.HistogramVec
	client   *http.Client

	upstream string // slow upstream base URL (blocking)
	smtpAddr string // SMTP sink (inline)
	internal []string
	// countOutbound exports client metrics of outbound calls (hops mode;
	// the blocking mode's service, like many, does not).
	countOutbound bool
	mu            sync.Mutex // the global lock (lock)
	counter       int
}

func newService() *service {
	s := &service{reg: prometheus.NewRegistry(), client: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."},
		[]string{"route", "method", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Latency.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"route", "method"})
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_requests_in_flight", Help: "In flight."})
	s.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_client_requests_total", Help: "Outbound calls."},
		[]string{"host", "code"})
	s.outDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_client_request_duration_seconds", Help: "Outbound latency.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"host"})
	s.reg.MustRegister(s.requests, s.duration, s.inFlight, s.outbound, s.outDur,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// route instruments a handler as promhttp users do.
func (s *service) route(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.Handle(method+" "+path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		rec := &recorder{ResponseWriter: w, code: 200}
		h(rec, r)
		s.requests.WithLabelValues(path, method, strconv.Itoa(rec.code)).Inc()
		s.duration.WithLabelValues(path, method).Observe(time.Since(start).Seconds())
	}))
}

type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// get calls url and counts the call by host.
func (s *service) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if s.countOutbound {
		s.outbound.WithLabelValues(req.URL.Host, code).Inc()
		s.outDur.WithLabelValues(req.URL.Host).Observe(time.Since(start).Seconds())
	}
	return err
}

// fetchQuote is the synchronous outbound call of the blocking mode.
func (s *service) fetchQuote(ctx context.Context) error {
	return s.get(ctx, s.upstream+"/rate")
}

func (s *service) quote(w http.ResponseWriter, r *http.Request) {
	if err := s.fetchQuote(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, `{"quote": 1.08}`)
}

// sendReceipt sends an e-mail over SMTP, inside the request (inline mode).
func (s *service) sendReceipt(id int) error {
	c, err := smtp.Dial(s.smtpAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("capture.example.test"); err != nil {
		return err
	}
	if err := c.Mail("shop@example.test"); err != nil {
		return err
	}
	if err := c.Rcpt("buyer@example.test"); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(wc, "Subject: order %d\r\n\r\nThanks.\r\n", id)
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// renderInvoice renders a PDF, inside the request (inline mode).
func renderInvoice(id int) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	for p := 0; p < 3; p++ {
		pdf.AddPage()
		pdf.SetFont("Helvetica", "", 12)
		for i := 0; i < 40; i++ {
			pdf.CellFormat(0, 6, fmt.Sprintf("order %d line %d: item %d x 3 = %d.00 EUR", id, i, i, 3*i), "", 1, "", false, 0, "")
		}
	}
	var b bytes.Buffer
	err := pdf.Output(&b)
	return b.Bytes(), err
}

func (s *service) postOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counter++
	id := s.counter
	s.mu.Unlock()
	if err := s.sendReceipt(id); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if _, err := renderInvoice(id); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *service) listItems(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, `{"items": []}`)
}

// bump holds the global lock across work (lock mode).
func (s *service) bump() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	spin(3 * time.Millisecond)
	s.counter++
	return s.counter
}

func (s *service) count(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, `{"n": %d}`+"\n", s.bump())
}

// loadProfile calls both internal services (hops mode).
func (s *service) loadProfile(ctx context.Context) error {
	for _, base := range s.internal {
		if err := s.get(ctx, base+"/v1/lookup"); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) profile(w http.ResponseWriter, r *http.Request) {
	if err := s.loadProfile(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, `{"name": "ada"}`)
}

// spin burns CPU for d.
func spin(d time.Duration) {
	sum := sha256.Sum256(nil)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 200; i++ {
			sum = sha256.Sum256(sum[:])
		}
	}
}

func (s *service) compute(w http.ResponseWriter, r *http.Request) {
	spin(2 * time.Millisecond)
	fmt.Fprintln(w, `{"ok": true}`)
}

// smtpSink answers each SMTP command after a delay, as a mail provider does.
func smtpSink(ln net.Listener, delay time.Duration) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			reply := func(s string) { time.Sleep(delay); fmt.Fprintf(c, "%s\r\n", s) }
			reply("220 sink ready")
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
				case "EHLO", "HELO":
					reply("250 sink")
				case "DATA":
					reply("354 go on")
					for {
						l, err := r.ReadString('\n')
						if err != nil || l == ".\r\n" {
							break
						}
					}
					reply("250 queued")
				case "QUIT":
					reply("221 bye")
					return
				default:
					reply("250 ok")
				}
			}
		}()
	}
}

// node is an element of the gc mode's long-lived heap, which the collector
// must scan.
type node struct {
	next *node
	id   int
}

var live []*node

func (s *service) allocate(w http.ResponseWriter, r *http.Request) {
	var sum int
	for i := 0; i < 64; i++ {
		b := make([]byte, 4096)
		b[i] = byte(i)
		sum += len(b)
	}
	fmt.Fprintf(w, `{"n": %d}`+"\n", sum)
}

// limit admits as many requests at a time as sem has room for: the others
// queue in front of the handler.
func limit(sem chan struct{}, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sem <- struct{}{}
		defer func() { <-sem }()
		h(w, r)
	}
}

func (s *service) report(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-r.Context().Done():
	}
	fmt.Fprintln(w, `{"rows": 0}`)
}

// serve starts an HTTP server for h on a loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func run(mode, out string, conns int, window time.Duration) error {
	s := newService()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	runtime.SetBlockProfileRate(10000)
	runtime.SetMutexProfileFraction(10)

	var paths []string // the load's request paths, and methods
	method := http.MethodGet
	switch mode {
	case "blocking":
		up, stop, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(60 * time.Millisecond)
			fmt.Fprintln(w, "1.08")
		}))
		if err != nil {
			return err
		}
		defer stop()
		s.upstream = up
		s.route(mux, "GET", "/quote", s.quote)
		paths = []string{"/quote"}
	case "inline":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go smtpSink(ln, 15*time.Millisecond)
		s.smtpAddr = ln.Addr().String()
		s.route(mux, "POST", "/orders", s.postOrder)
		s.route(mux, "GET", "/items", s.listItems)
		paths = []string{"/orders"}
		method = http.MethodPost
	case "lock":
		s.route(mux, "GET", "/counter", s.count)
		paths = []string{"/counter"}
	case "hops":
		for i := 0; i < 2; i++ {
			in, stop, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				spin(time.Millisecond)
				time.Sleep(3 * time.Millisecond)
				fmt.Fprintln(w, `{"id": 1}`)
			}))
			if err != nil {
				return err
			}
			defer stop()
			s.internal = append(s.internal, in)
		}
		s.countOutbound = true
		s.route(mux, "GET", "/profile", s.profile)
		paths = []string{"/profile"}
	case "gomaxprocs":
		runtime.GOMAXPROCS(1)
		s.route(mux, "GET", "/compute", s.compute)
		paths = []string{"/compute"}
	case "gc":
		debug.SetGCPercent(5)
		var prev *node
		for i := 0; i < 1<<20; i++ {
			prev = &node{next: prev, id: i}
			live = append(live, prev)
		}
		s.route(mux, "GET", "/allocate", s.allocate)
		paths = []string{"/allocate"}
	case "limit":
		sem := make(chan struct{}, 4)
		s.route(mux, "GET", "/report", limit(sem, s.report))
		paths = []string{"/report"}
	case "tuned":
		s.route(mux, "GET", "/compute", s.compute)
		paths = []string{"/compute"}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	base, stop, err := serve(mux)
	if err != nil {
		return err
	}
	defer stop()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				req, _ := http.NewRequestWithContext(ctx, method, base+paths[n%len(paths)], strings.NewReader("{}"))
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(time.Second) // warm-up

	fetch := func(path, file string) error {
		resp, err := http.Get(base + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if strings.HasSuffix(file, ".pb.gz") {
			// Keep the machine's paths (the binary in the build cache,
			// libc) out of the profile: only their base names.
			p, err := profile.ParseData(b)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, m := range p.Mapping {
				m.File = filepath.Base(m.File)
			}
			var z bytes.Buffer
			if err := p.Write(&z); err != nil {
				return err
			}
			b = z.Bytes()
		}
		if strings.HasSuffix(file, ".txt.gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			if _, err := zw.Write(b); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			b = z.Bytes()
		}
		return os.WriteFile(filepath.Join(out, file), b, 0o644)
	}
	start := time.Now()
	if err := fetch("/metrics", "metrics-1.txt.gz"); err != nil {
		return err
	}
	secs := int(window / time.Second)
	errs := make(chan error, 3)
	for _, p := range []struct{ path, file string }{
		{"/debug/pprof/profile?seconds=" + strconv.Itoa(secs), "cpu.pb.gz"},
		{"/debug/pprof/mutex?seconds=" + strconv.Itoa(secs), "mutex.pb.gz"},
		{"/debug/pprof/block?seconds=" + strconv.Itoa(secs), "block.pb.gz"},
	} {
		go func() { errs <- fetch(p.path, p.file) }()
	}
	const dumps = 5
	for i := 1; i <= dumps; i++ {
		if err := fetch("/debug/pprof/goroutine?debug=2", fmt.Sprintf("goroutine-%d.txt.gz", i)); err != nil {
			return err
		}
		if i < dumps {
			time.Sleep(window / (dumps - 1))
		}
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	if err := fetch("/metrics", "metrics-2.txt.gz"); err != nil {
		return err
	}
	seconds := time.Since(start).Seconds()
	cancel()
	wg.Wait()
	return os.WriteFile(filepath.Join(out, "window.txt"), []byte(strconv.FormatFloat(seconds, 'f', 3, 64)+"\n"), 0o644)
}
