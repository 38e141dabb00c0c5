package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// knobRules are the rules whose findings each planted problem of the naive
// sampleapp gives: a knob is found when any of its rules is on screen.
var knobRules = map[string][]string{
	sampleapp.KnobIndex:      {"db.missing-index"},
	sampleapp.KnobNPlusOne:   {"db.n-plus-one"},
	sampleapp.KnobOverfetch:  {"db.overfetch"},
	sampleapp.KnobCache:      {"db.cache-candidate"},
	sampleapp.KnobPool:       {"pool.no-pooling", "pool.undersized", "pool.oversized"},
	sampleapp.KnobHops:       {"app.internal-hops"},
	sampleapp.KnobInline:     {"app.inline-work"},
	sampleapp.KnobLock:       {"app.lock-contention"},
	sampleapp.KnobGOMAXPROCS: {"runtime.gomaxprocs"},
}

// findingLine is a line of attach --headless saying a finding appeared (+)
// or left (-).
var findingLine = regexp.MustCompile(`^\d\d:\d\d:\d\d finding ([+-]) (\S+) `)

// timedLines records when each line written to it was completed, from start.
type timedLines struct {
	mu    sync.Mutex
	start time.Time
	part  bytes.Buffer
	lines []timedLine
}

type timedLine struct {
	at   time.Duration
	text string
}

func (w *timedLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := time.Since(w.start)
	w.part.Write(p)
	for {
		line, err := w.part.ReadString('\n')
		if err != nil {
			w.part.Reset()
			w.part.WriteString(line)
			return len(p), nil
		}
		w.lines = append(w.lines, timedLine{at: at, text: strings.TrimRight(line, "\n")})
	}
}

func (w *timedLines) all() []timedLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]timedLine(nil), w.lines...)
}

// BenchmarkAttachFirstFindings runs advisor attach --headless (in this
// process, with its defaults: --sample-every 500ms over the first 10 s,
// --hold-readings 3) against the naive sampleapp, every problem planted,
// under a steady load of 8 connections (advisor load, a process of its
// own), for ADVISOR_FIRST_SPAN (default 60s; 5m for the stability claim).
// It reports the time from attach's start until each knob's finding is
// first on screen, and how many of those findings left the screen
// afterwards while their knob stayed on.
//
//	go test -run '^$' -bench AttachFirstFindings -benchtime 1x -v ./cmd/advisor/
func BenchmarkAttachFirstFindings(b *testing.B) {
	span := 60 * time.Second
	if v := os.Getenv("ADVISOR_FIRST_SPAN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 20*time.Second {
			b.Fatalf("ADVISOR_FIRST_SPAN=%q: want a duration of at least 20s", v)
		}
		span = d
	}
	info := stacktest.Start(b)
	dsn := stacktest.NewDatabase(b, "attach_first")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := sampleapp.Seed(ctx, dsn, sampleapp.TestSize, true); err != nil {
		b.Fatal(err)
	}
	svc := startSampleapp(ctx, b, dsn, info.RedisAddr, "--profile", "naive", "--cache-namespace", "first")
	advisorBin := buildAdvisor(ctx, b)
	mixFile := writeMixFile(b, sampleapp.TestSize)
	load := exec.CommandContext(ctx, advisorBin, "load", "--url", svc.base, "--mix", mixFile,
		"-c", "8", "-d", (span + time.Minute).String(), "--json")
	if err := load.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = load.Wait() }()
	defer cancel()
	// Let the load reach the service before attach starts: attach is
	// timed, not the load's start.
	time.Sleep(2 * time.Second)

	b.ResetTimer()
	stderr := &timedLines{start: time.Now()}
	var out bytes.Buffer
	code := run(ctx, []string{"attach", "--headless", "--duration", span.String(),
		"--target", svc.base, "--pg", dsn, "--redis", info.RedisAddr}, &out, stderr)
	b.StopTimer()
	if code != exitOK {
		var all []string
		for _, l := range stderr.all() {
			all = append(all, l.text)
		}
		b.Fatalf("attach exit %d:\n%s", code, strings.Join(all, "\n"))
	}

	ruleKnob := map[string]string{}
	for knob, rs := range knobRules {
		for _, r := range rs {
			ruleKnob[r] = knob
		}
	}
	first := map[string]time.Duration{}
	left := map[string]int{}
	for _, l := range stderr.all() {
		m := findingLine.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		knob, ok := ruleKnob[m[2]]
		if !ok {
			continue
		}
		switch m[1] {
		case "+":
			if _, seen := first[knob]; !seen {
				first[knob] = l.at
				b.Logf("%6.1fs  %s", l.at.Seconds(), l.text)
			}
		case "-":
			left[knob]++
			b.Logf("%6.1fs  %s", l.at.Seconds(), l.text)
		}
	}
	knobs := make([]string, 0, len(knobRules))
	for k := range knobRules {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	var last time.Duration
	var missing []string
	leaves := 0
	for _, k := range knobs {
		at, ok := first[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		last = max(last, at)
		leaves += left[k]
		b.Logf("knob %-10s first on screen at %5.1fs, left %d times", k, at.Seconds(), left[k])
	}
	if len(missing) > 0 {
		// A figure, not a verdict: the metrics below say how many.
		b.Logf("not on screen within %s: %s", span, strings.Join(missing, ", "))
	}
	b.Logf("%d of %d knobs found, the last at %.1fs; %d leaves over %s", len(first), len(knobRules), last.Seconds(), leaves, span)
	b.ReportMetric(last.Seconds(), "last_first_s")
	b.ReportMetric(float64(len(first)), "knobs_found")
	b.ReportMetric(float64(leaves), "leaves")
}
