package pprof

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"testing"
	"time"
)

// TestDumpStop: the estimate against the stops BenchmarkDumpStop measured
// on a 2-core machine: never under them, at most 3.5 times them (the
// runtime writes a small dump faster per byte).
func TestDumpStop(t *testing.T) {
	for _, tc := range []struct {
		size     int
		measured time.Duration
	}{
		{463195, 2379 * time.Microsecond},
		{1538680, 12180 * time.Microsecond},
		{4678904, 79290 * time.Microsecond},
		{15582327, 453000 * time.Microsecond},
	} {
		est := DumpStop(tc.size)
		if est < tc.measured || est > tc.measured*7/2 {
			t.Errorf("%d bytes: estimated %s, measured %s", tc.size, est, tc.measured)
		}
	}
	if DumpStop(0) != 0 {
		t.Error("no dump, a stop")
	}
	// Past 64 MB the runtime truncates the dump: the buffers tried are
	// 1 + 2 + ... + 64 MB.
	if got, want := DumpStop(200<<20), 127*(1<<20)*dumpStopPerByte; got != want {
		t.Errorf("200 MB: %s, want %s", got, want)
	}
}

// BenchmarkDumpStop measures how long a full goroutine dump (?debug=2)
// stops a Go program with n goroutines parked 10 frames deep, and the
// concurrent profile (?debug=1) for comparison, from the runtime's own
// pause histogram (/sched/pauses/total/other:seconds, midpoints of its
// buckets), in this process. It reports DumpStop's estimate beside it.
//
//	go test -run '^$' -bench DumpStop -benchtime 5x ./internal/probe/pprof/
func BenchmarkDumpStop(b *testing.B) {
	release := make(chan struct{})
	defer close(release)
	running := 0
	for _, n := range []int{300, 1000, 3000, 10000} {
		for ; running < n; running++ {
			go parkDeep(10, release)
		}
		for _, debug := range []int{2, 1} {
			b.Run(fmt.Sprintf("goroutines=%d/debug=%d", n, debug), func(b *testing.B) {
				var w countingWriter
				runtime.GC()
				p0 := pausesTotal()
				for b.Loop() {
					if err := pprof.Lookup("goroutine").WriteTo(&w, debug); err != nil {
						b.Fatal(err)
					}
				}
				stop := (pausesTotal() - p0) / float64(b.N)
				b.ReportMetric(stop*1e3, "stop_ms")
				b.ReportMetric(float64(w.n)/float64(b.N), "bytes")
				if debug == 2 {
					b.ReportMetric(DumpStop(w.n/b.N).Seconds()*1e3, "estimate_ms")
				}
			})
		}
	}
}

func parkDeep(depth int, release chan struct{}) {
	if depth == 0 {
		<-release
		return
	}
	parkDeep(depth-1, release)
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// pausesTotal is the time this process's world was stopped for other
// reasons than the GC so far, in seconds, from the midpoints of the
// runtime's pause histogram.
func pausesTotal() float64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := s[0].Value.Float64Histogram()
	var total float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := max(h.Buckets[i], 0), h.Buckets[i+1]
		if math.IsInf(hi, 1) { // the last bucket is open
			hi = lo
		}
		total += float64(c) * (lo + hi) / 2
	}
	return total
}
