package rules

import (
	"context"
	"reflect"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// len is the number of dumps the memo holds for the analysis under way
// and for the one before.
func (m *SampleMemo) len() (cur, old int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur), len(m.old)
}

// distinctDumps returns n dumps copied from the fixture's, each a value of
// its own (attach's dumps are each read once), round robin.
func distinctDumps(in *Input, n int) []*pprof.GoroutineResult {
	src := in.Window.Goroutines
	out := make([]*pprof.GoroutineResult, n)
	for i := range out {
		d := *src[i%len(src)]
		d.Goroutines = append([]pprof.Goroutine(nil), d.Goroutines...)
		out[i] = &d
	}
	return out
}

// windowOf is the fixture's window holding the given dumps.
func windowOf(in *Input, dumps []*pprof.GoroutineResult) *probe.Window {
	w := *in.Window
	w.Goroutines = dumps
	return &w
}

// TestSampleMemo: analyses of sliding windows with one memo find what
// fresh analyses find, classify a dump once while consecutive windows hold
// it, forget the dumps that left the window, and start over with another
// rule set.
func TestSampleMemo(t *testing.T) {
	in := appFixture(t, "inline")
	set, reg := loadBuiltin(t), Builtin()
	dumps := distinctDumps(in, 12)
	memo := NewSampleMemo()
	ctx := context.Background()
	var first *dumpFacts
	for i, span := range [][2]int{{0, 6}, {2, 8}, {4, 10}, {10, 12}} {
		w := windowOf(in, dumps[span[0]:span[1]])
		with := &Input{Window: w, Samples: memo}
		got := Analyse(ctx, with, set, reg)
		want := Analyse(ctx, &Input{Window: w}, set, reg)
		if len(got.Findings) == 0 {
			t.Fatalf("window %d: no finding on the inline fixture", i)
		}
		if !reflect.DeepEqual(got.Findings, want.Findings) || !reflect.DeepEqual(got.Split, want.Split) {
			t.Errorf("window %d: with the memo\n%v\nfresh\n%v", i, got.Findings, want.Findings)
		}
		cur, old := memo.len()
		switch i {
		case 0:
			first = with.dump(dumps[4])
		case 1, 2:
			// dumps[4] is in the first three windows: classified once.
			if with.dump(dumps[4]) != first {
				t.Errorf("window %d: dumps[4] classified again", i)
			}
			if cur != 6 || old != 6 {
				t.Errorf("window %d: memo holds %d dumps of this analysis and %d of the one before, want 6 and 6", i, cur, old)
			}
		case 3:
			// Only the window before's dumps are kept, and only until the
			// analysis after.
			if cur != 2 || old != 6 {
				t.Errorf("last window: memo holds %d and %d dumps, want 2 and 6", cur, old)
			}
		}
	}
	// Another rule set (its own wait patterns): classified anew.
	other := loadBuiltin(t)
	with := &Input{Window: windowOf(in, dumps[10:12]), Samples: memo}
	Analyse(ctx, with, other, reg)
	if cur, old := memo.len(); cur != 2 || old != 0 {
		t.Errorf("after a new rule set: memo holds %d and %d dumps, want 2 and 0", cur, old)
	}
}
