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
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
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
var findingLine = regexp.MustCompile(`^\d\d:\d\d:\d\d finding ([+-]) (\S+) (.*?)(?: confidence .*)?$`)

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

// firstFindings is what attach --headless showed of the planted problems:
// when each knob's finding first came on screen, how many times the knob
// left the screen (its last finding on screen left), how many times any
// finding of its rules left (a second statement of the rule that came and
// went), and the finding lines of the knobs' rules with their times.
type firstFindings struct {
	first    map[string]time.Duration
	left     map[string]int
	findings map[string]int
	lines    []timedLine
}

// attachFirstFindings runs advisor attach --headless (in this process,
// with its defaults: --sample-every 500ms over the first 20 s,
// --hold-readings 3) against the naive sampleapp, every problem planted,
// under a steady load of 8 connections (advisor load, a process of its
// own), for span, and reads its finding lines. start, when set, is called
// as attach starts (the benchmark's timer).
func attachFirstFindings(tb testing.TB, span time.Duration, start func()) firstFindings {
	tb.Helper()
	info := stacktest.Start(tb)
	dsn := sampletest.Database(tb, "attach_first", sampleapp.TestSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := sampletest.StartProcess(ctx, tb, dsn, info.RedisAddr, "--profile", "naive", "--cache-namespace", "first")
	advisorBin := buildAdvisor(ctx, tb)
	mixFile := writeMixFile(tb, sampleapp.TestSize)
	load := exec.CommandContext(ctx, advisorBin, "load", "--url", svc.Base, "--mix", mixFile,
		"-c", "8", "-d", (span + time.Minute).String(), "--json")
	if err := load.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = load.Wait() }()
	defer cancel()
	// Let the load reach the service before attach starts: attach is
	// timed, not the load's start.
	time.Sleep(2 * time.Second)

	if start != nil {
		start()
	}
	stderr := &timedLines{start: time.Now()}
	var out bytes.Buffer
	code := run(ctx, []string{"attach", "--headless", "--duration", span.String(),
		"--target", svc.Base, "--pg", dsn, "--redis", info.RedisAddr}, &out, stderr)
	if code != exitOK {
		var all []string
		for _, l := range stderr.all() {
			all = append(all, l.text)
		}
		tb.Fatalf("attach exit %d:\n%s", code, strings.Join(all, "\n"))
	}

	ruleKnob := map[string]string{}
	for knob, rs := range knobRules {
		for _, r := range rs {
			ruleKnob[r] = knob
		}
	}
	ff := firstFindings{first: map[string]time.Duration{}, left: map[string]int{}, findings: map[string]int{}}
	shown := map[string]map[string]bool{} // knob -> rule and subject on screen
	for _, l := range stderr.all() {
		m := findingLine.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		knob, ok := ruleKnob[m[2]]
		if !ok {
			continue
		}
		ff.lines = append(ff.lines, l)
		if shown[knob] == nil {
			shown[knob] = map[string]bool{}
		}
		key := m[2] + " " + m[3]
		switch m[1] {
		case "+":
			if _, seen := ff.first[knob]; !seen {
				ff.first[knob] = l.at
			}
			shown[knob][key] = true
		case "-":
			ff.findings[knob]++
			delete(shown[knob], key)
			if len(shown[knob]) == 0 {
				ff.left[knob]++
			}
		}
	}
	return ff
}

// log writes the finding lines and each knob's first time and leaves, and
// returns the knobs not found, sorted, the time of the last knob found and
// the leaves.
func (ff firstFindings) log(tb testing.TB, span time.Duration) (missing []string, last time.Duration, leaves int) {
	tb.Helper()
	for _, l := range ff.lines {
		tb.Logf("%6.1fs  %s", l.at.Seconds(), l.text)
	}
	knobs := make([]string, 0, len(knobRules))
	for k := range knobRules {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	for _, k := range knobs {
		at, ok := ff.first[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		last = max(last, at)
		leaves += ff.left[k]
		tb.Logf("knob %-10s first on screen at %5.1fs, left %d times (findings of its rules that left: %d)",
			k, at.Seconds(), ff.left[k], ff.findings[k])
	}
	if len(missing) > 0 {
		tb.Logf("not on screen within %s: %s", span, strings.Join(missing, ", "))
	}
	tb.Logf("%d of %d knobs found, the last at %.1fs; %d leaves over %s", len(ff.first), len(knobRules), last.Seconds(), leaves, span)
	return missing, last, leaves
}

// firstFindingsTarget is issue 21's target: every planted problem on
// screen within 20 s of attach's start.
const firstFindingsTarget = 20 * time.Second

// TestAttachFirstFindings: attach --headless on the naive sampleapp shows
// each of the nine planted problems within 20 s, and none leaves the
// screen afterwards while its knob stays on (over 45 s here; the benchmark
// below measures 5 minutes).
func TestAttachFirstFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: 45 s of attach on the naive sampleapp under load")
	}
	span := 45 * time.Second
	ff := attachFirstFindings(t, span, nil)
	missing, _, _ := ff.log(t, span)
	if len(missing) > 0 {
		t.Errorf("not on screen within %s: %s", span, strings.Join(missing, ", "))
	}
	for k, at := range ff.first {
		if at > firstFindingsTarget {
			t.Errorf("%s first on screen at %.1fs, want within %s", k, at.Seconds(), firstFindingsTarget)
		}
	}
	// A planted problem leaves the screen when its last finding does; a
	// second statement of a rule that comes and goes is logged above.
	for k, n := range ff.left {
		if n > 0 {
			t.Errorf("%s left the screen %d times with its knob on", k, n)
		}
	}
}

// BenchmarkAttachFirstFindings runs attach --headless against the naive
// sampleapp as TestAttachFirstFindings does, for ADVISOR_FIRST_SPAN
// (default 60s; 5m for the stability claim). It reports the time from
// attach's start until each knob's finding is first on screen, and how
// many of those findings left the screen afterwards while their knob
// stayed on.
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
	ff := attachFirstFindings(b, span, b.ResetTimer)
	b.StopTimer()
	// A figure, not a verdict: the metrics say how many were found.
	_, last, leaves := ff.log(b, span)
	b.ReportMetric(last.Seconds(), "last_first_s")
	b.ReportMetric(float64(len(ff.first)), "knobs_found")
	b.ReportMetric(float64(leaves), "leaves")
	var findingLeaves int
	for _, n := range ff.findings {
		findingLeaves += n
	}
	b.ReportMetric(float64(findingLeaves), "finding_leaves")
}
