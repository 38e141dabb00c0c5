package rules

import (
	"slices"
	"sync"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// SampleMemo remembers what the rules read from each goroutine dump (each
// goroutine's handler, wait class and call site; the handlers waiting for
// a pool connection), from one analysis to the next. attach
// analyses a window of up to 30 s every interval, and consecutive windows
// share most of their dumps: without it every goroutine of every dump was
// classified again at each analysis, a sixth of attach's CPU under load.
//
// An analysis keeps the dumps of the analysis before that are in its own
// window and forgets the others, so the memo holds at most two windows'
// dumps. A memo serves one rule set at a time: given other patterns, it
// starts over. Safe for concurrent use; the zero value is ready.
type SampleMemo struct {
	mu       sync.Mutex
	patterns *Patterns
	// cur holds the dumps of the analysis under way, old those of the one
	// before.
	cur, old map[*pprof.GoroutineResult]*dumpFacts
}

// dumpFacts is what the rules read from one dump.
type dumpFacts struct {
	// samples is appSampleOf for each goroutine, index for index.
	samples []appSampled
	// handlers counts the goroutines attributed to a handler, poolWaiting
	// those of them waiting for a pool connection (poolAcquireRe).
	handlers, poolWaiting int
}

// factsOf reads a dump.
func factsOf(p *Patterns, dump *pprof.GoroutineResult) *dumpFacts {
	f := &dumpFacts{samples: make([]appSampled, len(dump.Goroutines))}
	acquire := remembered(poolAcquireRe.MatchString)
	for i := range dump.Goroutines {
		g := &dump.Goroutines[i]
		f.samples[i].s, f.samples[i].ok = appSampleOf(p, g.Attribution, g.Frames, g.State)
		if g.Attribution.Handler == "" {
			continue
		}
		f.handlers++
		if slices.ContainsFunc(g.Frames, func(fr pprof.Frame) bool { return acquire(fr.Func) }) {
			f.poolWaiting++
		}
	}
	return f
}

// NewSampleMemo returns an empty memo, for Input.Samples.
func NewSampleMemo() *SampleMemo { return &SampleMemo{} }

// next starts an analysis with the patterns p.
func (m *SampleMemo) next(p *Patterns) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p != m.patterns {
		m.patterns, m.cur = p, nil
	}
	m.old, m.cur = m.cur, make(map[*pprof.GoroutineResult]*dumpFacts, len(m.cur))
}

// of returns what the rules read from dump: remembered when an analysis
// since the one before read it.
func (m *SampleMemo) of(dump *pprof.GoroutineResult) *dumpFacts {
	m.mu.Lock()
	out, ok := m.cur[dump]
	if !ok {
		if out, ok = m.old[dump]; ok {
			m.cur[dump] = out
		}
	}
	p := m.patterns
	m.mu.Unlock()
	if ok {
		return out
	}
	out = factsOf(p, dump)
	m.mu.Lock()
	m.cur[dump] = out
	m.mu.Unlock()
	return out
}
