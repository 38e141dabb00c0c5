package ui

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// bigAnalysis is the fixture's window with n statement deltas, and the later
// snapshot's n statement rows, as a real window holds them.
func bigAnalysis(n int) AnalysisMsg {
	w := fixtureWindow(39)
	rows := make([]postgres.StatementDelta, n)
	var total float64
	for i := range rows {
		q := fmt.Sprintf("SELECT id, user_id, kind, payload, created_at FROM events_%d WHERE user_id = $1 AND kind = $2 AND created_at > $3 ORDER BY created_at DESC LIMIT $4 /* statement %d of the generated set */", i%97, i)
		rows[i] = stmt(int64(i+1), q, float64(1+i%300), float64(i%53)/7+0.01, int64(1+i%20))
		total += rows[i].TotalTime
	}
	for i := range rows {
		rows[i].Share = rows[i].TotalTime / total
	}
	w.Postgres.Statements.Rows = rows
	w.Postgres.Statements.TotalTime = total
	w.Postgres.Cur.Statements.Rows = make([]postgres.Statement, n)
	for i := range rows {
		w.Postgres.Cur.Statements.Rows[i] = rows[i].Statement
	}
	return AnalysisMsg{Window: w, Findings: fixtureFindings(), At: fixtureStart}
}

// vmRSS is the process' resident set size in bytes, from /proc/self/status.
func vmRSS(b *testing.B) float64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Skip("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkView5000Statements renders frames of every pane in turn (the
// Queries pane listing 5,000 statements) after 150 windows of 5,000
// statements went through the model (a full history), and reports the 99th
// percentile of the frame times and the process' RSS.
func BenchmarkView5000Statements(b *testing.B) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			m := fixtureModel(b, size[0], size[1])
			for range DefaultHistory {
				msg := bigAnalysis(5000)
				// The model keeps the previous snapshot too.
				m.session.Keep(&probe.Snapshot{Postgres: msg.Window.Postgres.Cur})
				m.Update(msg)
			}
			runtime.GC()
			m.Update(keyMsg("3"))
			if got := m.queries.list.len(); got != 5000 {
				b.Fatalf("%d statements listed", got)
			}
			frames := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				m.Update(keyMsg(strconv.Itoa(1 + i%7)))
				start := time.Now()
				_ = m.View()
				frames = append(frames, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(frames)
			b.ReportMetric(float64(frames[len(frames)*99/100].Microseconds())/1000, "p99-ms/frame")
			b.ReportMetric(vmRSS(b)/(1<<20), "RSS-MB")
		})
	}
}

// BenchmarkAnalysis5000Statements is the cost of taking in one window of
// 5,000 statements: every pane's SetData (sorting included).
func BenchmarkAnalysis5000Statements(b *testing.B) {
	m := fixtureModel(b, 160, 48)
	msg := bigAnalysis(5000)
	b.ResetTimer()
	for range b.N {
		m.Update(msg)
	}
}
