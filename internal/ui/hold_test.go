package ui

import (
	"fmt"
	"strings"
	"testing"

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
