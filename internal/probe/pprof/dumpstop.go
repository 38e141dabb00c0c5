package pprof

import "time"

// A full goroutine dump (?debug=2) stops the target: the runtime writes
// every goroutine's stack with the world stopped (runtime.Stack(buf,
// true)), into a 1 MB buffer, and again into one twice as large while they
// do not fit (up to 64 MB). The concurrent goroutine profile (?debug=1 or
// the protobuf one) stops it for well under a millisecond instead.
// BenchmarkDumpStop measures it, in a test binary whose goroutines are
// parked 10 frames deep (1.5 kB each in the dump), on a 2-core machine
// with Go 1.26:
//
//	goroutines  dump      stopped  (debug=1)
//	       300  463 kB     2.4 ms   0.10 ms
//	     1,000  1.5 MB    12 ms     0.06 ms
//	     3,000  4.7 MB    79 ms     0.10 ms
//	    10,000  15.6 MB  453 ms     0.15 ms
const (
	// dumpStopPerByte is the stop per byte the runtime writes, the most
	// the figures above give (at 10,000 goroutines; 5 ns at 300).
	dumpStopPerByte = 16 * time.Nanosecond
	// BytesPerGoroutine is a goroutine's length in a dump of an HTTP
	// service (sampleapp's handlers: 780 bytes), to estimate a dump from
	// a goroutine count.
	BytesPerGoroutine = 800
	dumpFirstBuffer   = 1 << 20
	dumpMaxBuffer     = 64 << 20
)

// DumpStop estimates how long a full goroutine dump of size bytes stopped
// its target: every buffer the runtime tried, filled, at dumpStopPerByte.
func DumpStop(size int) time.Duration {
	if size <= 0 {
		return 0
	}
	written := 0
	for buf := dumpFirstBuffer; ; buf *= 2 {
		written += min(size, buf)
		if size < buf || buf >= dumpMaxBuffer {
			break
		}
	}
	return time.Duration(written) * dumpStopPerByte
}
