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

// TestPoolWaitParts: a goroutine waiting for a connection from pgxpool or
// database/sql is in the db-pool part; one waiting for go-redis's pool is
// Redis time, which a statement fix does not shorten and a larger database
// pool does not end.
func TestPoolWaitParts(t *testing.T) {
	p := loadBuiltin(t).Patterns
	for _, c := range []struct {
		state string
		funcs []string
		part  string
	}{
		{"select", []string{"github.com/jackc/puddle/v2.(*Pool[...]).Acquire", "github.com/jackc/pgx/v5/pgxpool.(*Pool).Acquire",
			"github.com/jackc/pgx/v5/pgxpool.(*Pool).Query", "main.getFeed"}, PartDBPool},
		{"select", []string{"database/sql.(*DB).conn", "database/sql.(*DB).query", "main.getFeed"}, PartDBPool},
		{"chan receive", []string{"github.com/redis/go-redis/v9/internal/pool.(*ConnPool).waitTurn",
			"github.com/redis/go-redis/v9/internal/pool.(*ConnPool).Get", "github.com/redis/go-redis/v9.(*baseClient).getConn", "main.getFeed"}, PartRedis},
	} {
		w := p.Classify(c.state, c.funcs)
		if got := partOfClass(w); got != c.part {
			name := "(none)"
			if w != nil {
				name = w.Class
			}
			t.Errorf("%s: class %s, part %s, want %s", c.funcs[0], name, got, c.part)
		}
	}
}
