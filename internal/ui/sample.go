package ui

import (
	"context"
	"slices"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// goroutineSampler takes a goroutine dump between readings; a Prober that
// implements it (*probe.Probes) is sampled every SampleEvery between the
// readings after the first SampleFor, so that the app rules, which count
// goroutine samples, have as many in a window as in the first seconds.
type goroutineSampler interface {
	Goroutines(ctx context.Context) *pprof.GoroutineResult
	// DumpSpacing is the least time between two dumps that keeps their
	// stops of the service within its share (0: no constraint).
	DumpSpacing() time.Duration
}

var _ goroutineSampler = (*probe.Probes)(nil)

// sampleTick waits SampleEvery before the next goroutine dump between
// readings; nil when the readings come as often, the Prober takes no
// dumps, or no finding shown needs them (dumpsWanted).
func (m *Model) sampleTick() tea.Cmd {
	every := max(m.opts.SampleEvery, m.dumpSpacing())
	if _, ok := m.opts.Prober.(goroutineSampler); !ok || m.opts.SampleEvery <= 0 || every >= m.nextReading() || !m.dumpsWanted() {
		return nil
	}
	seq, ctx := m.sampleSeq, m.ctx
	return func() tea.Msg {
		t := time.NewTimer(every)
		defer t.Stop()
		select {
		case <-t.C:
			return sampleTickMsg{seq: seq}
		case <-ctx.Done():
			return nil
		}
	}
}

// dumpsWanted reports whether a finding shown (fading ones included) rests
// on a count of goroutine samples (rules.Registry.CountsDumps). Over the
// first SampleFor each reading takes a dump every SampleEvery; after it,
// the dumps between readings keep such a finding's samples as many as they
// were (without them the window would lose three in four as the first
// seconds age out of it, and the finding could leave). A service with no
// such finding pays for one dump a reading: each dump (debug=2) stops the
// service's world while its stacks are written.
func (m *Model) dumpsWanted() bool {
	return slices.ContainsFunc(m.data.Findings, m.opts.Registry.CountsDumps)
}

// sampleCmd takes a goroutine dump.
func (m *Model) sampleCmd() tea.Cmd {
	m.sampling = true
	s, ctx := m.opts.Prober.(goroutineSampler), m.ctx
	return func() tea.Msg { return goroutinesMsg{dump: s.Goroutines(ctx)} }
}

// nextReading is the time until the next reading: SampleEvery over the
// first SampleFor (or the dumps' spacing, when their stops of the service
// ask for more), Interval after.
func (m *Model) nextReading() time.Duration {
	d := m.opts.Interval
	if fast := max(m.opts.SampleEvery, m.dumpSpacing()); m.opts.SampleEvery > 0 && fast < d && m.opts.Now().Sub(m.start) < m.opts.SampleFor {
		d = fast
	}
	return d
}

// dumpSpacing is the Prober's least time between two goroutine dumps, 0
// when it takes none.
func (m *Model) dumpSpacing() time.Duration {
	if s, ok := m.opts.Prober.(goroutineSampler); ok {
		return s.DumpSpacing()
	}
	return 0
}

// sampleDue takes a dump unless the tick is of an earlier reading's chain
// or a reading is under way (the next reading starts a chain of its own).
func (m *Model) sampleDue(msg sampleTickMsg) tea.Cmd {
	if msg.seq != m.sampleSeq || m.sampling || m.polling {
		return nil
	}
	return m.sampleCmd()
}

// sampled keeps a dump for the next reading and waits for the next one; a
// dump that failed ends the chain until the next reading.
func (m *Model) sampled(msg goroutinesMsg) tea.Cmd {
	m.sampling = false
	if msg.dump == nil {
		return nil
	}
	m.dumps = append(m.dumps, msg.dump)
	return m.sampleTick()
}
