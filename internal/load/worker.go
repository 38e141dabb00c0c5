package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

const readBufferSize = 16 << 10

// worker is one connection of a run: it sends a request, reads the answer,
// and repeats.
type worker struct {
	r     *runner
	id    int
	shard *shard
	rng   *rand.Rand
	draw  func(v int) int64
	buf   []byte // the request being sent, when it has placeholders
	body  []byte // scratch for bodies with placeholders

	conn net.Conn // raw, or TLS over raw
	br   *bufio.Reader
	used bool // conn has answered a request already

	mu      sync.Mutex // guards raw and stopped, shared with interrupt
	raw     net.Conn
	stopped bool
}

func newWorker(r *runner, id int, s *shard, seed uint64) *worker {
	w := &worker{
		r:     r,
		id:    id,
		shard: s,
		rng:   rand.New(rand.NewPCG(seed, uint64(id))),
		buf:   make([]byte, 0, 512),
	}
	w.draw = func(v int) int64 { return drawRange(w.rng, w.r.plan.vars[v]) }
	return w
}

// run sends requests until ctx is done, the run's Duration has passed or its
// request budget is spent.
func (w *worker) run(ctx context.Context) {
	stopInterrupt := context.AfterFunc(ctx, w.interrupt)
	defer stopInterrupt()
	defer w.closeConn()

	r := w.r
	// Open loop: this worker's share of the rate, its first send offset so
	// that the workers' sends interleave evenly.
	var interval time.Duration
	var next time.Time
	var timer *time.Timer
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(r.conns) / r.cfg.Rate * float64(time.Second))
		next = r.start.Add(time.Duration(float64(w.id) / r.cfg.Rate * float64(time.Second)))
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	plan := r.plan
	for !r.stopped.Load() && !r.over(time.Now()) && r.claim() {
		intended := time.Now()
		if interval > 0 {
			intended, next = next, next.Add(interval)
			if r.over(intended) {
				return // scheduled past the end of the run
			}
			if d := time.Until(intended); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		idx := 0
		if len(plan.entries) > 1 {
			idx = plan.pick(w.rng.IntN(plan.total))
		}
		ce := plan.entries[idx]
		status, err := w.do(ctx, ce)
		if err != nil && (ctx.Err() != nil || r.over(time.Now())) {
			// Interrupted by the end of the run, or failed past its
			// deadline before the context said so: not counted.
			return
		}
		latency := time.Since(intended)
		var kind errKind
		switch {
		case err != nil:
			kind = classify(err)
		case status < 200 || status >= 400:
			kind = errKind{status: status}
		}
		w.shard.record(idx, latency, err == nil, kind)
		r.finished(kind != (errKind{}))
	}
}

// do sends one request of ce and reads its answer, on the open connection or
// a new one.
func (w *worker) do(ctx context.Context, ce *compiledEntry) (int, error) {
	start := time.Now()
	var deadline time.Time
	if w.r.cfg.Timeout > 0 {
		deadline = start.Add(w.r.cfg.Timeout)
	}
	req := ce.static
	if req == nil {
		w.buf = ce.appendRequest(w.buf[:0], &w.body, w.draw)
		req = w.buf
	}
	for attempt := 0; ; attempt++ {
		if w.conn == nil {
			if err := w.connect(ctx, deadline); err != nil {
				return 0, err
			}
		} else if !deadline.IsZero() {
			if err := w.conn.SetDeadline(deadline); err != nil {
				w.closeConn()
				return 0, err
			}
		}
		reused := w.used
		_, err := w.conn.Write(req)
		var status int
		var mustClose, started bool
		if err == nil {
			status, mustClose, started, err = readResponse(w.br, ce.head)
		}
		if err != nil {
			w.closeConn()
			// The server closed a keep-alive connection before this request
			// reached it: send it again on a new one, as net/http does, if it
			// is safe to repeat.
			if reused && !started && attempt == 0 && ce.idempotent && isClosedByPeer(err) {
				continue
			}
			return status, err
		}
		w.used = true
		if mustClose {
			w.closeConn()
		}
		return status, nil
	}
}

func (w *worker) connect(ctx context.Context, deadline time.Time) error {
	d := w.r.dialer
	d.Deadline = deadline
	raw, err := d.DialContext(ctx, "tcp", w.r.plan.addr)
	if err != nil {
		return err
	}
	w.mu.Lock()
	stopped := w.stopped
	if !stopped {
		w.raw = raw
	}
	w.mu.Unlock()
	if stopped {
		raw.Close()
		return context.Canceled
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if !deadline.IsZero() {
		_ = raw.SetDeadline(deadline)
	}
	conn := raw
	if w.r.tlsConf != nil {
		tc := tls.Client(raw, w.r.tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			w.closeRaw()
			return err
		}
		conn = tc
	}
	w.conn = conn
	w.used = false
	if w.br == nil {
		w.br = bufio.NewReaderSize(conn, readBufferSize)
	} else {
		w.br.Reset(conn)
	}
	return nil
}

// interrupt ends the request in flight when the run ends; it runs on a
// goroutine of its own.
func (w *worker) interrupt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.raw != nil {
		w.raw.Close()
	}
}

func (w *worker) closeConn() {
	w.conn = nil
	w.closeRaw()
}

func (w *worker) closeRaw() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw != nil {
		w.raw.Close()
		w.raw = nil
	}
}

// errKind is the class of a failed request: an HTTP status, or a kind of
// transport error.
type errKind struct {
	status int
	kind   string
}

func (k errKind) String() string {
	if k.status != 0 {
		return "status " + itoa(k.status)
	}
	return k.kind
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// Kinds of transport errors in Result.ErrorsByKind; statuses outside
// 200-399 appear as "status NNN".
const (
	KindTimeout           = "timeout"
	KindConnectionRefused = "connection refused"
	KindConnectionReset   = "connection reset"
	KindConnectionClosed  = "connection closed"
	KindBadResponse       = "bad response"
	KindDNS               = "dns"
	KindTLS               = "tls"
	KindOther             = "other"
)

func classify(err error) errKind {
	var netErr net.Error
	var dnsErr *net.DNSError
	var recErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &dnsErr):
		return errKind{kind: KindDNS}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return errKind{kind: KindTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return errKind{kind: KindConnectionRefused}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errKind{kind: KindConnectionReset}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errKind{kind: KindConnectionClosed}
	case errors.Is(err, errBadResponse):
		return errKind{kind: KindBadResponse}
	case errors.As(err, &recErr), errors.As(err, &certErr):
		return errKind{kind: KindTLS}
	default:
		return errKind{kind: KindOther}
	}
}

func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
