package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
