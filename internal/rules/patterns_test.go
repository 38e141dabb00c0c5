package rules

import (
	"testing"
)

// TestClassifyRemembered checks that Classify, which remembers the classes
// each function name and state matches, picks the class the catalogue's
// order gives (the first whose Match holds) for every goroutine of the
// captures, the first time and once remembered.
func TestClassifyRemembered(t *testing.T) {
	set := loadBuiltin(t)
	p := set.Patterns
	if len(p.Classes) > 64 {
		t.Fatalf("%d classes: the remembered masks hold 64", len(p.Classes))
	}
	naive := func(state string, funcs []string) *WaitPattern {
		for _, w := range p.Classes {
			if w.Match(state, funcs) {
				return w
			}
		}
		return nil
	}
	name := func(w *WaitPattern) string {
		if w == nil {
			return "(none)"
		}
		return w.Class
	}
	classes := map[string]int{}
	for _, mode := range []string{"inline", "lock", "hops", "blocking", "limit", "tuned"} {
		in := appFixture(t, mode)
		for pass := range 2 {
			for _, dump := range in.Window.Goroutines {
				for _, g := range dump.Goroutines {
					funcs := make([]string, len(g.Frames))
					for i, f := range g.Frames {
						funcs[i] = f.Func
					}
					got, want := p.Classify(g.State, funcs), naive(g.State, funcs)
					if got != want {
						t.Fatalf("%s, pass %d: goroutine %d [%s]: Classify %s, the catalogue's order %s", mode, pass, g.ID, g.State, name(got), name(want))
					}
					if got != nil {
						for _, fn := range funcs {
							if p.MatchFunction(got, fn) != matchesAny(got.Functions, fn) {
								t.Fatalf("MatchFunction(%s, %s) disagrees with its expressions", got.Class, fn)
							}
						}
					}
					classes[name(got)]++
				}
			}
		}
	}
	// The captures exercise several classes, not only the fallbacks.
	if len(classes) < 5 {
		t.Errorf("classes seen: %v", classes)
	}
	t.Logf("classes seen: %v", classes)
}
