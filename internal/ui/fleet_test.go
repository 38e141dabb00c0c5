package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgadvisor/advisor/internal/probe/fleet"
)

// fixtureFleet is three instances read through Prometheus, the second busy
// and slow on another version, and a fourth gone during the window.
func fixtureFleet() *fleet.Fleet {
	in := func(name string, rps, p95ms, cpu, inUse float64, version string) fleet.Instance {
		return fleet.Instance{Name: name, Up: true, RPS: rps, P95Seconds: p95ms / 1000, HasP95: true, CPUCores: cpu, HasCPU: true,
			PoolInUse: inUse, PoolMax: 10, HasPool: true, Version: version}
	}
	return &fleet.Fleet{Prometheus: "http://prometheus:9090", Selector: `job="api"`, Range: 30 * time.Second,
		Instances: []fleet.Instance{
			in("10.0.3.15:8080", 20.1, 24, 0.21, 2, "1.4.0"),
			in("10.0.3.17:8080", 80.4, 482, 0.91, 9, "1.5.0-rc1"),
			in("10.0.3.21:8080", 19.8, 23, 0.2, 2, "1.4.0"),
			{Name: "10.0.3.30:8080", Gone: true},
		}}
}

// TestGoldenPoolsFleet renders the Pools pane of a fleet: the Instances
// table between the application's pools and the database's sessions,
// busiest first.
func TestGoldenPoolsFleet(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {100, 30}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := fixtureModel(t, size[0], size[1])
			w := fixtureWindow(39)
			w.Fleet = fixtureFleet()
			m.Update(AnalysisMsg{Window: w, Findings: fixtureFindings(), Split: fixtureSplit(w), At: fixtureStart.Add(82 * time.Second)})
			feed(m, keyMsg("5"))
			out := screen(t, m, size[0], size[1])
			for _, s := range []string{"Instances", "10.0.3.17:8080", "482 ms", "9/10", "gone"} {
				if !strings.Contains(out, s) {
					t.Errorf("screen lacks %q", s)
				}
			}
			if strings.Index(out, "10.0.3.17:8080") > strings.Index(out, "10.0.3.15:8080") {
				t.Errorf("the busiest instance is not first")
			}
			golden.RequireEqual(t, out)
		})
	}
}
