package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// TestHoldHysteresis: a finding shows once three readings in a row found
// it, stays (held) through fewer than three readings without it, and goes
// after three; one reading is not enough to appear, two misses not enough to
// go.
func TestHoldHysteresis(t *testing.T) {
	a := rules.Finding{Rule: "app.inline-work", Subject: "a", Severity: rules.Warning}
	b := rules.Finding{Rule: "runtime.gomaxprocs", Subject: "b", Severity: rules.Warning}
	h := newHold(3)
	readings := []struct {
		in   []rules.Finding
		want string
	}{
		{[]rules.Finding{a, b}, ""},
		{[]rules.Finding{a}, ""},
		{[]rules.Finding{a, b}, "a"},
		{[]rules.Finding{a, b}, "a"},
		{[]rules.Finding{a, b}, "a b"},
		{[]rules.Finding{b}, "a(held) b"},
		{[]rules.Finding{}, "a(held) b(held)"},
		{[]rules.Finding{a}, "a b(held)"},
		{[]rules.Finding{a}, "a"},
		{nil, "a(held)"},
		{nil, "a(held)"},
		{nil, ""},
		{[]rules.Finding{a}, ""},
	}
	for i, r := range readings {
		shown, held := h.step(r.in)
		var got []string
		for _, f := range shown {
			s := f.Subject
			if held[f.Fingerprint()] {
				s += "(held)"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != r.want {
			t.Errorf("reading %d: shown %q, want %q", i+1, g, r.want)
		}
	}
}

// TestHoldOffShowsEachReading: hold-readings 1 is no hysteresis.
func TestHoldOffShowsEachReading(t *testing.T) {
	h := newHold(1)
	fs := []rules.Finding{{Rule: "r", Subject: "x"}}
	shown, held := h.step(fs)
	if len(shown) != 1 || len(held) != 0 {
		t.Fatalf("shown %v held %v", shown, held)
	}
	if shown, _ := h.step(nil); len(shown) != 0 {
		t.Fatalf("shown %v after an empty reading", fmt.Sprint(shown))
	}
}

// TestHoldUntilAFreshWindowMisses: analysis windows overlap, so the
// readings right after one that found a finding share its evidence; it
// leaves only once a window that starts after the last one that found it
// misses it too (and three readings in a row did).
func TestHoldUntilAFreshWindowMisses(t *testing.T) {
	a := rules.Finding{Rule: "app.inline-work", Subject: "a", Severity: rules.Warning}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	h := newHold(3)
	readings := []struct {
		in         []rules.Finding
		start, end int
		want       string
	}{
		{[]rules.Finding{a}, 0, 1, ""},
		{[]rules.Finding{a}, 0, 2, ""},
		{[]rules.Finding{a}, 0, 3, "a"},
		{nil, 0, 5, "a(held)"},
		{nil, 0, 7, "a(held)"},
		{nil, 0, 9, "a(held)"}, // three misses, windows still from 0
		{nil, 2, 31, "a(held)"},
		{nil, 3, 33, ""}, // starts at the end of the last window that found it
	}
	for i, r := range readings {
		shown, held := h.stepWindow(r.in, at(r.start), at(r.end))
		var got []string
		for _, f := range shown {
			s := f.Subject
			if held[f.Fingerprint()] {
				s += "(held)"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != r.want {
			t.Errorf("reading %d: shown %q, want %q", i+1, g, r.want)
		}
	}
}

// samplingProber is a fakeProber that takes goroutine dumps between
// readings, as *probe.Probes does.
type samplingProber struct {
	fakeProber
	dumps   int
	spacing time.Duration
}

func (s *samplingProber) DumpSpacing() time.Duration { return s.spacing }

func (s *samplingProber) Goroutines(context.Context) *pprof.GoroutineResult {
	s.dumps++
	return &pprof.GoroutineResult{Status: source.Status{State: source.OK}}
}

// TestSampleBetweenReadings: after the first SampleFor, readings come every
// Interval and, while a finding shown counts goroutine samples, a dump is
// taken every SampleEvery between them;
// the next reading's analysis window holds them, between its two
// snapshots' dumps. A tick of an earlier reading's chain takes none.
func TestSampleBetweenReadings(t *testing.T) {
	ok := source.Status{State: source.OK}
	snap := func(s int) *probe.Snapshot {
		return &probe.Snapshot{Time: fixtureStart.Add(time.Duration(s) * time.Second), Status: map[string]source.Status{probe.Pprof: ok},
			Goroutines: &pprof.GoroutineResult{Status: ok}}
	}
	sp := &samplingProber{}
	m := New(Options{Prober: sp, Interval: 50 * time.Millisecond, SampleEvery: time.Millisecond, SampleFor: time.Nanosecond,
		AnalysisSpan: time.Minute, HoldReadings: 1, Registry: rules.Builtin()})
	_, first := m.Update(snapshotMsg{snap: snap(0)})
	for _, msg := range run(first) {
		if a, isAnalysis := msg.(AnalysisMsg); isAnalysis {
			m.Update(a)
		}
	}
	seq := m.sampleSeq
	for range 2 {
		_, cmd := m.Update(sampleTickMsg{seq: seq})
		if cmd == nil {
			t.Fatal("no dump taken on the chain's tick")
		}
		m.Update(cmd())
	}
	if _, cmd := m.Update(sampleTickMsg{seq: seq - 1}); cmd != nil {
		t.Error("a stale chain's tick took a dump")
	}
	_, cmd := m.Update(snapshotMsg{snap: snap(2)})
	var analysis *AnalysisMsg
	for _, msg := range run(cmd) {
		if a, isAnalysis := msg.(AnalysisMsg); isAnalysis {
			analysis = &a
		}
	}
	if sp.dumps != 2 || len(m.dumps) != 0 {
		t.Fatalf("%d dumps taken, %d left for the next reading", sp.dumps, len(m.dumps))
	}
	if analysis == nil || len(analysis.Window.Goroutines) != 4 {
		t.Fatalf("analysis window: %+v", analysis)
	}
}

// TestDumpsOnlyWhileAFindingCountsThem: past the first SampleFor, a reading
// starts a chain of dumps between readings only while a finding shown rests
// on a count of goroutine samples; over the first SampleFor the readings
// themselves come every SampleEvery.
func TestDumpsOnlyWhileAFindingCountsThem(t *testing.T) {
	lock := rules.Finding{Rule: "app.lock-contention", Subject: "mu"}
	stacks := rules.Finding{Rule: "pool.undersized", Evidence: map[string]any{"evidence_from": "goroutine stacks"}}
	metrics := rules.Finding{Rule: "pool.undersized", Evidence: map[string]any{"evidence_from": "pool metrics"}}
	nplus := rules.Finding{Rule: "db.n-plus-one"}
	for _, c := range []struct {
		name      string
		sampleFor time.Duration
		shown     []rules.Finding
		want      bool
	}{
		{"steady, nothing shown", time.Nanosecond, nil, false},
		{"steady, findings of counters and statements", time.Nanosecond, []rules.Finding{metrics, nplus}, false},
		{"steady, lock contention shown", time.Nanosecond, []rules.Finding{nplus, lock}, true},
		{"steady, pool waits counted in the stacks", time.Nanosecond, []rules.Finding{stacks}, true},
		{"first seconds: the readings sample", time.Hour, []rules.Finding{lock}, false},
	} {
		m := New(Options{Prober: &samplingProber{}, Registry: rules.Builtin(), Interval: 50 * time.Millisecond,
			SampleEvery: time.Millisecond, SampleFor: c.sampleFor})
		m.data.Findings = c.shown
		if got := m.sampleTick() != nil; got != c.want {
			t.Errorf("%s: chain of dumps started %v, want %v", c.name, got, c.want)
		}
	}
}

// TestDumpSpacing: a service whose goroutine dumps stop it long (the
// Prober's DumpSpacing) is read no more often than that over the first
// SampleFor, and sampled no more often than that between readings after.
func TestDumpSpacing(t *testing.T) {
	lock := rules.Finding{Rule: "app.lock-contention", Subject: "mu"}
	for _, c := range []struct {
		name             string
		spacing          time.Duration
		sampleFor        time.Duration
		wantNext         time.Duration
		wantChainStarted bool
	}{
		{"cheap dumps: every SampleEvery", 100 * time.Millisecond, time.Hour, 500 * time.Millisecond, false},
		{"costly dumps: spaced", 2 * time.Second, time.Hour, 2 * time.Second, false},
		{"costlier than the interval: every Interval", time.Minute, time.Hour, 5 * time.Second, false},
		{"steady, cheap dumps: sampled between readings", 100 * time.Millisecond, time.Nanosecond, 5 * time.Second, true},
		{"steady, dumps spaced past the interval: none between", 6 * time.Second, time.Nanosecond, 5 * time.Second, false},
	} {
		m := New(Options{Prober: &samplingProber{spacing: c.spacing}, Registry: rules.Builtin(), Interval: 5 * time.Second,
			SampleEvery: 500 * time.Millisecond, SampleFor: c.sampleFor})
		m.data.Findings = []rules.Finding{lock}
		if got := m.nextReading(); got != c.wantNext {
			t.Errorf("%s: next reading in %s, want %s", c.name, got, c.wantNext)
		}
		if got := m.sampleTick() != nil; got != c.wantChainStarted {
			t.Errorf("%s: chain of dumps started %v, want %v", c.name, got, c.wantChainStarted)
		}
	}
}
