package probe

import (
	"os"
	"testing"
	"time"
)

// TestCPUPressure reads /proc/pressure/cpu as a Linux 6 kernel wrote it
// (a shared 2-core machine under load), and the share of a window during
// which some task waited for a CPU.
func TestCPUPressure(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-pressure-cpu.txt")
	if err != nil {
		t.Fatal(err)
	}
	total, ok := parseCPUPressure(string(b))
	if !ok || total != 7320810320 {
		t.Fatalf("some total %d, %v; want 7320810320 (the \"some\" line, not \"full\")", total, ok)
	}
	if _, ok := parseCPUPressure("cpu  1 2 3\n"); ok {
		t.Error("a text without a some line parsed")
	}
	t0 := time.Unix(1000, 0)
	prev := &hostCPUTimes{at: t0, stalledUS: total, hasPressure: true}
	cur := &hostCPUTimes{at: t0.Add(4 * time.Second), stalledUS: total + 1_000_000, hasPressure: true}
	if p := hostCPUPressure(prev, cur); p == nil || *p != 0.25 {
		t.Errorf("1 s stalled of 4: %v, want 0.25", p)
	}
	for name, c := range map[string]*hostCPUTimes{
		"no pressure information": {at: cur.at, stalledUS: cur.stalledUS},
		"same instant":            {at: t0, stalledUS: cur.stalledUS, hasPressure: true},
		"counter went back":       {at: cur.at, stalledUS: 5, hasPressure: true},
	} {
		if p := hostCPUPressure(prev, c); p != nil {
			t.Errorf("%s: %v, want unknown", name, *p)
		}
	}
}
