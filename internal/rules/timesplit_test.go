package rules

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// splitString prints a span's parts for test failures.
func splitString(s Span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s rps %.1f mean %.1f ms in flight %.1f (%s):", s.Route, s.RPS, s.MeanMS, s.InFlight, s.InFlightFrom)
	for _, p := range s.Parts {
		fmt.Fprintf(&b, " %s %.1f ms (%.0f%%)", p.Name, p.MSPerRequest, p.Share*100)
	}
	return b.String()
}

// TestSplitGoDumps: on the real captures of testdata/app, the goroutine
// dumps put the handlers' time where each capture's planted problem is.
func TestSplitGoDumps(t *testing.T) {
	for _, tc := range []struct {
		mode string
		part string // the largest part
	}{
		{"blocking", PartOutbound},
		{"lock", PartLock},
		{"hops", PartOutbound},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			in := appFixture(t, tc.mode)
			ts := Split(in)
			t.Log(splitString(ts.Service))
			for _, h := range ts.Handlers {
				t.Logf("handler %s", splitString(h))
			}
			if ts.Method != "goroutine dumps" || ts.Runtime != "go" {
				t.Fatalf("method %q runtime %q", ts.Method, ts.Runtime)
			}
			var sum float64
			best := Part{}
			for _, p := range ts.Service.Parts {
				sum += p.Share
				if p.Share > best.Share {
					best = p
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("shares add up to %v", sum)
			}
			if best.Name != tc.part {
				t.Errorf("largest part %s, want %s", best.Name, tc.part)
			}
			if ts.Service.RPS <= 0 || ts.Service.MeanMS <= 0 || len(ts.Routes) == 0 {
				t.Errorf("service %+v routes %d", ts.Service, len(ts.Routes))
			}
		})
	}
}
