package ui

import (
	"github.com/pgadvisor/advisor/internal/rules"
)

// DefaultHoldReadings is how many consecutive readings must agree before a
// finding appears on screen or leaves it.
const DefaultHoldReadings = 3

// hold keeps the findings on screen steady from one reading to the next
// (hysteresis): a finding appears once it was found in readings
// consecutive analyses, and leaves once it was missing from as many. A
// finding on screen that the latest analysis lacks stays with the numbers
// it last had, marked held. readings of 1 or less shows each analysis as
// it is.
type hold struct {
	readings int
	seen     map[string]*heldFinding
	// order is the fingerprints in the order they were first seen, so
	// that the output does not depend on map order.
	order []string
}

// heldFinding is what hold knows of one finding: its last numbers, whether
// it is on screen, and how many readings in a row found it or missed it.
type heldFinding struct {
	f               rules.Finding
	shown           bool
	present, absent int
}

func newHold(readings int) *hold {
	return &hold{readings: readings, seen: map[string]*heldFinding{}}
}

// step takes the findings of one analysis and returns those to show,
// sorted, and the fingerprints of the shown findings this analysis lacks
// (held from earlier readings).
func (h *hold) step(fs []rules.Finding) (shown []rules.Finding, held map[string]bool) {
	if h == nil || h.readings <= 1 {
		return fs, nil
	}
	found := map[string]bool{}
	for _, f := range fs {
		key := f.Fingerprint()
		found[key] = true
		s := h.seen[key]
		if s == nil {
			s = &heldFinding{}
			h.seen[key] = s
			h.order = append(h.order, key)
		}
		s.f = f
		s.present++
		s.absent = 0
		if s.present >= h.readings {
			s.shown = true
		}
	}
	held = map[string]bool{}
	keep := h.order[:0]
	for _, key := range h.order {
		s := h.seen[key]
		if !found[key] {
			s.present = 0
			s.absent++
			if !s.shown || s.absent >= h.readings {
				delete(h.seen, key)
				continue
			}
			held[key] = true
		}
		keep = append(keep, key)
		if s.shown {
			shown = append(shown, s.f)
		}
	}
	h.order = keep
	rules.SortFindings(shown)
	return shown, held
}
