package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/internal/tune"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// BenchmarkAttachLongRun runs advisor attach --headless (in this process, at
// its default interval and analysis window) for ADVISOR_LONGRUN (default
// 10m) against sampleapp under a load that changes every 30 s: the number
// of connections cycles through 2, 16, none, 32 and 8 (advisor load, a
// process of its own), and a knob of the service is flipped each phase, so
// findings come and go. Every 15 s it samples this process' RSS, Go heap and
// goroutines. It reports RSS after the first minute (the analysis window
// full) and at the end, and fails if a goroutine attach started is still
// running after it stops (goleak).
//
//	go test -run '^$' -bench AttachLongRun -benchtime 1x -v ./cmd/advisor/
func BenchmarkAttachLongRun(b *testing.B) {
	length := 10 * time.Minute
	if v := os.Getenv("ADVISOR_LONGRUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 2*time.Minute {
			b.Fatalf("ADVISOR_LONGRUN=%q: want a duration of at least 2m", v)
		}
		length = d
	}
	const phase = 30 * time.Second
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "attach_longrun", sampleapp.TestSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := sampletest.StartProcess(ctx, b, dsn, info.RedisAddr, "--profile", "naive",
		"--knob", "pool=sized", "--knob", "gomaxprocs=default", "--cache-namespace", "longrun")
	base, knobs := svc.Base, tune.AdminKnobs{URL: svc.Admin}
	advisorBin := buildAdvisor(ctx, b)
	mixFile := writeMixFile(b, sampleapp.TestSize)

	// The load changes every phase, in a process of its own.
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		conns := []int{2, 16, 0, 32, 8}
		flips := []struct{ knob, a, b string }{
			{"nplusone", "batched", "per-row"}, {"cache", "redis", "none"}, {"overfetch", "columns", "select-star"},
			{"lock", "none", "global"}, {"hops", "inproc", "http"},
		}
		for i := 0; ctx.Err() == nil; i++ {
			f := flips[i%len(flips)]
			v := f.a
			if (i/len(flips))%2 == 1 {
				v = f.b
			}
			if err := knobs.SetKnob(ctx, f.knob, v); err != nil && ctx.Err() == nil {
				b.Errorf("knob %s=%s: %v", f.knob, v, err)
			}
			c := conns[i%len(conns)]
			if c == 0 {
				select {
				case <-ctx.Done():
				case <-time.After(phase):
				}
				continue
			}
			cmd := exec.CommandContext(ctx, advisorBin, "load", "--url", base, "--mix", mixFile,
				"-c", strconv.Itoa(c), "-d", phase.String(), "--json")
			_ = cmd.Run() // ends early, killed, when ctx ends
		}
	}()

	type sample struct {
		at         time.Duration
		rssMB      float64
		heapMB     float64
		goroutines int
	}
	var samples []sample
	take := func(at time.Duration) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, sample{at: at, rssMB: selfRSSMB(b), heapMB: float64(ms.HeapInuse) / (1 << 20),
			goroutines: runtime.NumGoroutine()})
	}
	before := goleak.IgnoreCurrent()
	b.ResetTimer()
	var stderr sampletest.LockedBuffer
	attachDone := make(chan int, 1)
	start := time.Now()
	go func() {
		var out bytes.Buffer
		attachDone <- run(ctx, []string{"attach", "--headless", "--duration", length.String(),
			"--target", base, "--pg", dsn, "--redis", info.RedisAddr}, &out, &stderr)
	}()
	tick := time.NewTicker(15 * time.Second)
	var code int
wait:
	for {
		select {
		case <-tick.C:
			take(time.Since(start))
		case code = <-attachDone:
			break wait
		}
	}
	tick.Stop()
	b.StopTimer()
	cancel()
	<-loadDone
	if code != exitOK {
		b.Fatalf("attach exit %d:\n%s", code, stderr.String())
	}
	analyses := len(headlessLine.FindAllString(stderr.String(), -1))
	if want := int(length / (4 * time.Second)); analyses < want {
		b.Errorf("%d analyses in %s, want at least %d", analyses, length, want)
	}
	// attach has stopped: every goroutine it started must have ended (the
	// knob client's idle connections are this benchmark's own).
	http.DefaultClient.CloseIdleConnections()
	if err := goleak.Find(before); err != nil {
		b.Errorf("goroutines left after attach stopped: %v", err)
	}

	var startS sample
	for _, s := range samples {
		b.Logf("%5.0fs  RSS %6.1f MB  heap in use %6.1f MB  goroutines %d", s.at.Seconds(), s.rssMB, s.heapMB, s.goroutines)
		if startS.at == 0 && s.at >= time.Minute {
			startS = s
		}
	}
	if len(samples) == 0 || startS.at == 0 {
		b.Fatal("too few samples")
	}
	end := samples[len(samples)-1]
	maxRSS := slices.MaxFunc(samples, func(x, y sample) int { return int(x.rssMB - y.rssMB) }).rssMB
	b.Logf("%d analyses; RSS %.1f MB at %s, %.1f MB at %s (max %.1f); goroutines %d then %d",
		analyses, startS.rssMB, startS.at.Round(time.Second), end.rssMB, end.at.Round(time.Second), maxRSS, startS.goroutines, end.goroutines)
	b.ReportMetric(startS.rssMB, "rss_start_MB")
	b.ReportMetric(end.rssMB, "rss_end_MB")
	b.ReportMetric(maxRSS, "rss_max_MB")
	b.ReportMetric(float64(end.goroutines-startS.goroutines), "goroutines_delta")
	b.ReportMetric(float64(startS.goroutines), "goroutines_start")
	b.ReportMetric(float64(end.goroutines), "goroutines_end")
}

// selfRSSMB is this process' resident set size (Linux /proc), in MB.
func selfRSSMB(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				tb.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// writeMixFile writes sampleapp's load mix as a mix file for advisor load.
func writeMixFile(tb testing.TB, size sampleapp.Size) string {
	tb.Helper()
	mix, vars, header := sampleapp.LoadMix(size)
	type entry struct {
		Name    string            `json:"name"`
		Weight  int               `json:"weight"`
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers,omitempty"`
		Body    string            `json:"body,omitempty"`
	}
	type rng struct {
		Min int64 `json:"min"`
		Max int64 `json:"max"`
	}
	doc := struct {
		Headers map[string]string `json:"headers"`
		Vars    map[string]rng    `json:"vars"`
		Entries []entry           `json:"entries"`
	}{Headers: map[string]string{}, Vars: map[string]rng{}}
	for k := range header {
		doc.Headers[k] = header.Get(k)
	}
	for k, r := range vars {
		doc.Vars[k] = rng{r.Min, r.Max}
	}
	for _, e := range mix {
		out := entry{Name: e.Name, Weight: e.Weight, Method: e.Method, Path: e.Path, Body: e.Body}
		if len(e.Header) > 0 {
			out.Headers = map[string]string{}
			for k := range e.Header {
				out.Headers[k] = e.Header.Get(k)
			}
		}
		doc.Entries = append(doc.Entries, out)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "mix.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
