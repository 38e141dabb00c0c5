package sampleapp

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mail is a message the SMTP sink received.
type Mail struct {
	From string
	To   []string
	Data string
	At   time.Time
}

// SMTPSink is a small SMTP server standing for a mail provider: it accepts
// every message and answers each command after 20 to 50 ms, the latency of a
// provider across the network. It keeps the last messages for inspection.
type SMTPSink struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	msgs []Mail
	conn map[net.Conn]struct{}
	done chan struct{}
	// hang makes the sink accept connections and never answer, as a mail
	// provider that hangs does (tests of shutdowns with jobs stuck).
	hang atomic.Bool
}

// maxKeptMails bounds the messages a sink remembers.
const maxKeptMails = 10_000

// StartSMTPSink listens on addr and serves until Close.
func StartSMTPSink(addr string) (*SMTPSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &SMTPSink{ln: ln, conn: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the sink's host:port.
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// Messages returns a copy of the messages received so far.
func (s *SMTPSink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// Close stops the sink and waits for its connections to end.
func (s *SMTPSink) Close() {
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SMTPSink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conn, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *SMTPSink) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	reply := func(line string) bool {
		if s.hang.Load() {
			<-s.done
			return false
		}
		select {
		case <-time.After(time.Duration(20+rand.IntN(31)) * time.Millisecond):
		case <-s.done:
			return false
		}
		_, err := io.WriteString(c, line+"\r\n")
		return err == nil
	}
	if !reply("220 sink.example.test ESMTP ready") {
		return
	}
	var cur Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if !reply("250-sink.example.test\r\n250 8BITMIME") {
				return
			}
		case "HELO", "NOOP":
			if !reply("250 ok") {
				return
			}
		case "RSET":
			cur = Mail{}
			if !reply("250 ok") {
				return
			}
		case "MAIL":
			cur = Mail{From: addrArg(arg)}
			if !reply("250 ok") {
				return
			}
		case "RCPT":
			cur.To = append(cur.To, addrArg(arg))
			if !reply("250 ok") {
				return
			}
		case "DATA":
			if !reply("354 end with <CRLF>.<CRLF>") {
				return
			}
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data, cur.At = b.String(), time.Now()
			s.mu.Lock()
			if len(s.msgs) >= maxKeptMails {
				s.msgs = s.msgs[1:]
			}
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			cur = Mail{}
			if !reply("250 queued") {
				return
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			if !reply("502 command not implemented") {
				return
			}
		}
	}
}

func addrArg(arg string) string {
	_, v, _ := strings.Cut(arg, ":")
	return strings.Trim(strings.TrimSpace(v), "<>")
}

// Delivery is a webhook call the receiver received.
type Delivery struct {
	IdempotencyKey string
	Body           json.RawMessage
	At             time.Time
}

// WebhookReceiver stands for a partner's webhook endpoint: it accepts JSON
// POSTs and answers 204 after 100 to 200 ms.
type WebhookReceiver struct {
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  []Delivery
	done chan struct{}
}

// StartWebhookReceiver listens on addr and serves until Close.
func StartWebhookReceiver(addr string) (*WebhookReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	wr := &WebhookReceiver{ln: ln, done: make(chan struct{})}
	wr.srv = &http.Server{Handler: http.HandlerFunc(wr.serve), ReadHeaderTimeout: 10 * time.Second}
	wr.wg.Add(1)
	go func() {
		defer wr.wg.Done()
		_ = wr.srv.Serve(ln)
	}()
	return wr, nil
}

// URL is where to POST webhooks.
func (wr *WebhookReceiver) URL() string { return "http://" + wr.ln.Addr().String() + "/hooks/orders" }

// Deliveries returns a copy of the deliveries received so far.
func (wr *WebhookReceiver) Deliveries() []Delivery {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]Delivery(nil), wr.got...)
}

// Close stops the receiver.
func (wr *WebhookReceiver) Close() {
	close(wr.done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := wr.srv.Shutdown(ctx); err != nil {
		_ = wr.srv.Close()
	}
	wr.wg.Wait()
}

func (wr *WebhookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/orders" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(100+rand.IntN(101)) * time.Millisecond):
	case <-wr.done:
	case <-r.Context().Done():
		return
	}
	wr.mu.Lock()
	if len(wr.got) >= maxKeptMails {
		wr.got = wr.got[1:]
	}
	wr.got = append(wr.got, Delivery{IdempotencyKey: r.Header.Get("Idempotency-Key"), Body: body, At: time.Now()})
	wr.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// DefaultLogger logs JSON to w, or text when w is a terminal.
func DefaultLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
