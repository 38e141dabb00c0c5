package ui

import (
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
)

// DefaultHoldReadings is how many consecutive readings must agree before a
// finding appears on screen or leaves it.
const DefaultHoldReadings = 3

// hold keeps the findings on screen steady from one reading to the next
// (hysteresis): a finding appears once it was found in readings
// consecutive analyses, and leaves once it was missing from as many and
// from an analysis whose window starts after the end of the last window
// that found it. A finding on screen that the latest analysis lacks stays
// with the numbers it last had, marked held. readings of 1 or less shows
// each analysis as it is.
//
// The second condition is why a finding that shows stays: consecutive
// analysis windows overlap (each reaches back over the analysis span), so
// the readings that miss a finding right after one that found it share
// most of its evidence, and a rule whose evidence sits near its bar (a few
// goroutine samples, a share at its threshold) flips on noise. Only a
// window that shares nothing with the last one that found the finding says
// anew that it is gone. A problem fixed leaves the screen about one
// analysis span later, when the windows no longer hold the time before the
// fix.
type hold struct {
	readings int
	seen     map[string]*heldFinding
	// order is the fingerprints in the order they were first seen, so
	// that the output does not depend on map order.
	order []string
}

// heldFinding is what hold knows of one finding: its last numbers, whether
// it is on screen, how many readings in a row found it or missed it, and
// the end of the last window that found it.
type heldFinding struct {
	f               rules.Finding
	shown           bool
	present, absent int
	lastFound       time.Time
}

func newHold(readings int) *hold {
	return &hold{readings: readings, seen: map[string]*heldFinding{}}
}

// step takes the findings of one analysis and returns those to show,
// sorted, and the fingerprints of the shown findings this analysis lacks
// (held from earlier readings); the analysis' window is not known, so a
// finding leaves after readings misses (stepWindow).
func (h *hold) step(fs []rules.Finding) (shown []rules.Finding, held map[string]bool) {
	return h.stepWindow(fs, time.Time{}, time.Time{})
}

// stepWindow is step for the findings of a window from start to end.
func (h *hold) stepWindow(fs []rules.Finding, start, end time.Time) (shown []rules.Finding, held map[string]bool) {
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
		s.lastFound = end
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
			// A window that starts before the last one that found it
			// ended shares its evidence: not yet gone.
			fresh := !start.Before(s.lastFound)
			if !s.shown || (s.absent >= h.readings && fresh) {
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
