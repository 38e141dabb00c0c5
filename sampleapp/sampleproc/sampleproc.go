// Package sampleproc runs sampleapp as a process of its own: the way
// advisor tune starts it, and the tests and benchmarks that measure it apart
// from the load generator and advisor's probes.
package sampleproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// StartTimeout bounds how long Start waits for the service to answer
// /health: it migrates its database first, which takes well under a second
// on a seeded one.
const StartTimeout = 30 * time.Second

// stopTimeout is how long Stop waits after the interrupt before it kills
// the process: the service drains its requests and job workers in up to
// 15 s.
const stopTimeout = 20 * time.Second

// logLines is how many of the service's last log lines a Process keeps, for
// the error that says why it failed.
const logLines = 40

// Process is a sampleapp serving in a process of its own.
type Process struct {
	// Base and Admin are the base URLs of its API (also /metrics and
	// /debug/pprof) and of its loopback admin endpoint (the knobs).
	Base, Admin string
	PID         int

	cmd      *exec.Cmd
	log      *tail
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // set before exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Start runs command (the program and the arguments that make it serve:
// "sampleapp serve", or "advisor sampleapp serve") with the service's flags
// on free loopback ports, and returns once it answers /health. The service
// takes the ports itself (port 0) and logs them: a port found free here and
// closed again could be taken by another process before it listened. A
// service that exits or does not answer within StartTimeout is an error
// with its last log lines.
func Start(ctx context.Context, command []string, dsn, redisAddr string, flags ...string) (*Process, error) {
	if len(command) == 0 {
		return nil, errors.New("sampleproc: no command")
	}
	args := append(append([]string{}, command[1:]...),
		"--pg", dsn, "--redis", redisAddr, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	args = append(args, flags...)
	cmd := exec.Command(command[0], args...)
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("sampleproc: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sampleapp: %w", err)
	}
	p := &Process{PID: cmd.Process.Pid, cmd: cmd, log: &tail{max: logLines}, exited: make(chan struct{})}
	ready := make(chan [2]string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		p.log.read(stderr, ready)
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to its end first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	fail := func(err error) (*Process, error) {
		_ = p.Stop()
		return nil, fmt.Errorf("sampleapp (%s) did not start: %w\n%s", strings.Join(command, " "), err, p.Log())
	}
	select {
	case urls := <-ready:
		p.Base, p.Admin = urls[0], urls[1]
	case <-p.exited:
		return fail(fmt.Errorf("it exited: %v", p.waitErr))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	err = AwaitHealth(ctx, &http.Client{Timeout: 2 * time.Second}, p.Base, 50*time.Millisecond, p.exited, nil)
	if errors.Is(err, ErrExited) {
		return fail(fmt.Errorf("it exited: %v", p.waitErr))
	}
	if err != nil {
		return fail(err)
	}
	return p, nil
}

// ErrExited is AwaitHealth's error when the process exited first.
var ErrExited = errors.New("the process exited")

// AwaitHealth asks the service at base for /health every interval until
// it answers 200 OK and ready, when set, returns nil too (e.g. its worker
// processes are up). It returns ErrExited once exited is closed, and
// ctx's error with the last answer when ctx ends first.
func AwaitHealth(ctx context.Context, client *http.Client, base string, every time.Duration, exited <-chan struct{}, ready func() error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return ErrExited
		default:
		}
		err := Health(ctx, client, base)
		if err == nil && ready != nil {
			err = ready()
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Health asks a service at base for /health and says whether it answered
// 200 OK: sampleapp, and the reference targets of other languages, answer
// so once they serve.
func Health(ctx context.Context, client *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health: %s", resp.Status)
	}
	return nil
}

// Stop interrupts the service, as a terminal's Ctrl-C does, and waits for
// it to drain and exit; it kills the process after 20 s. A second call
// returns the first's result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.exited:
			case <-time.After(stopTimeout):
				_ = p.cmd.Process.Kill()
				<-p.exited
				p.stopErr = fmt.Errorf("sampleapp (pid %d) did not stop within %s: killed", p.PID, stopTimeout)
				return
			}
		}
		var exit *exec.ExitError
		if p.waitErr != nil && !errors.As(p.waitErr, &exit) {
			p.stopErr = p.waitErr
		} else if exit != nil && !exit.Exited() {
			// Ended by a signal other than ours' handling: not a clean stop.
			p.stopErr = fmt.Errorf("sampleapp (pid %d): %v", p.PID, exit)
		} else if exit != nil {
			p.stopErr = fmt.Errorf("sampleapp (pid %d) exited with status %d\n%s", p.PID, exit.ExitCode(), p.Log())
		}
	})
	return p.stopErr
}

// Log is the service's last log lines.
func (p *Process) Log() string { return p.log.String() }

// tail keeps a process's last log lines.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

// read reads the log to its end, keeping its last lines, and sends the API
// and admin URLs of the "sampleapp started" line on ready once.
func (t *tail) read(r io.Reader, ready chan<- [2]string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		t.add(line)
		if !sent {
			if api, admin, ok := Started(line); ok {
				ready <- [2]string{api, admin}
				sent = true
			}
		}
	}
	// A line longer than the buffer ends the scan: drain the rest so that
	// the process never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// Started reads the API and admin URLs from a line of the service's log:
// the JSON line "sampleapp started".
func Started(line string) (api, admin string, ok bool) {
	var l struct {
		Msg   string `json:"msg"`
		API   string `json:"api"`
		Admin string `json:"admin"`
	}
	if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "sampleapp started" && l.API != "" && l.Admin != "" {
		return l.API, l.Admin, true
	}
	return "", "", false
}
