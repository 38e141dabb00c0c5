// What advisor can tell of the service's host and runtime beyond its
// sources: the CPUs the host offers when it is this machine, and the pprof
// source of a service that is not written in Go.

package probe

import (
	"math"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// localServiceCPUs is the number of CPUs of this machine when the service's
// metrics (or its target) are served on loopback, so that the service runs
// here; 0 when its host is another machine or unknown.
func localServiceCPUs(src config.Sources) int {
	if _, ok := localURL(src.MetricsURL()); ok {
		return runtime.NumCPU()
	}
	return 0
}

// localURL parses raw and says whether it names a loopback host, one on
// this machine.
func localURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil, false
	}
	return u, source.LocalHost(u.Hostname())
}

// deeperEvidence says, per runtime, what gives a service's stacks when Go's
// pprof does not apply.
var deeperEvidence = map[string]string{
	metrics.LanguagePython: "py-spy (py-spy dump --pid PID for the threads' stacks, py-spy record for a flame graph) gives its stacks",
	metrics.LanguageNode:   "the Node inspector (node --inspect, or --cpu-prof) gives its CPU profile and stacks",
	metrics.LanguageJVM:    "jcmd PID Thread.print, async-profiler or JFR give its stacks and profiles",
}

// notApplicable is the pprof status of a service whose metrics say it is
// not written in Go: /debug/pprof is Go's, so its absence is no problem to
// report, and the detail says what would give deeper evidence.
func notApplicable(language string) source.Status {
	detail := "not applicable: a " + language + " service serves no Go profiles"
	if how := deeperEvidence[language]; how != "" {
		detail += "; " + how
	}
	return source.Status{State: source.Unavailable, Detail: detail}
}

// pprofStatusFor returns the pprof status of a window whose metrics tell the
// runtime: "not applicable" for a runtime other than Go when pprof could not
// be read, else st.
func pprofStatusFor(m *metrics.Window, st source.Status) source.Status {
	if st.Ok() || m == nil {
		return st
	}
	if lang := m.Runtime.Language; lang != "" && lang != metrics.LanguageGo {
		return notApplicable(lang)
	}
	return st
}

// hostCPUTimes are this machine's CPU times, all CPUs together, from
// /proc/stat: the busy and total clock ticks since boot; and, where the
// kernel keeps pressure stall information, the microseconds during which
// some runnable task waited for a CPU (/proc/pressure/cpu, "some").
type hostCPUTimes struct {
	busy, total uint64
	// own are advisor's own process's user and system ticks
	// (/proc/self/stat), in the same unit; hasOwn when read.
	own         uint64
	hasOwn      bool
	at          time.Time
	stalledUS   uint64
	hasPressure bool
	// runnable is the tasks running or ready to run at the reading
	// (procs_running), less the reading thread; hasRunnable when read.
	runnable    int
	hasRunnable bool
	// queued is the requests waiting in the kernel for the service
	// (readQueuedRequests); hasQueued when read.
	queued    int
	hasQueued bool
}

// RunnableReading is one reading of this machine's tasks running or ready
// to run (/proc/stat's procs_running, less the thread reading it).
type RunnableReading struct {
	Time  time.Time
	Tasks int
	// Queued is the requests waiting in the kernel for the service, when
	// it listens on this machine (readQueuedRequests); HasQueued when read.
	Queued    int
	HasQueued bool
}

// parseProcsRunning reads /proc/stat's procs_running, less one for the
// thread reading the file (it is running then); false without the line.
func parseProcsRunning(stat string) (int, bool) {
	for line := range strings.Lines(stat) {
		if v, ok := strings.CutPrefix(line, "procs_running "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				return 0, false
			}
			return n - 1, true
		}
	}
	return 0, false
}

// readRunnable reads this machine's tasks running or ready to run, and the
// requests waiting in the kernel for the service listening on port (0:
// none); false where it cannot (not Linux).
func readRunnable(port int) (RunnableReading, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return RunnableReading{}, false
	}
	n, ok := parseProcsRunning(string(b))
	r := RunnableReading{Time: time.Now(), Tasks: n}
	r.Queued, r.HasQueued = readQueuedRequests(port)
	return r, ok
}

// readHostCPU reads /proc/stat's cpu line, and the requests waiting in the
// kernel for the service listening on port (0: none); false where it
// cannot (not Linux).
func readHostCPU(port int) (hostCPUTimes, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPUTimes{}, false
	}
	first, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(first)
	if len(fields) < 5 || fields[0] != "cpu" {
		return hostCPUTimes{}, false
	}
	var t hostCPUTimes
	// user nice system idle iowait irq softirq steal (guest time is in
	// user already).
	for i, f := range fields[1:min(len(fields), 9)] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return hostCPUTimes{}, false
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	t.at = time.Now()
	t.runnable, t.hasRunnable = parseProcsRunning(string(stat))
	t.queued, t.hasQueued = readQueuedRequests(port)
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		t.own, t.hasOwn = parseOwnTicks(string(b))
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		t.stalledUS, t.hasPressure = parseCPUPressure(string(b))
	}
	return t, true
}

// userHZ is the unit of the kernel's clock ticks in /proc (USER_HZ), 100
// on every Linux architecture Go supports, as prometheus/procfs assumes.
const userHZ = 100

// ownStartTime is advisor's own process's start, in seconds since the
// epoch, as Prometheus's process collector computes its
// process_start_time_seconds (boot time + start ticks / USER_HZ); false
// where it cannot be read (not Linux). It does not change: read once.
var ownStartTime = sync.OnceValues(func() (float64, bool) {
	stat, err1 := os.ReadFile("/proc/self/stat")
	host, err2 := os.ReadFile("/proc/stat")
	if err1 != nil || err2 != nil {
		return 0, false
	}
	// starttime is field 22.
	start, ok := statField(string(stat), 22)
	if !ok {
		return 0, false
	}
	for line := range strings.Lines(string(host)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, false
			}
			return float64(boot) + float64(start)/userHZ, true
		}
	}
	return 0, false
})

// servedByAdvisor reports whether the service whose process start time the
// metrics give runs in advisor's own process (a test's, or a benchmark's,
// in-process service): then its process CPU counts advisor's.
func servedByAdvisor(m *metrics.Snapshot) bool {
	if m == nil || m.Process.StartTimeSeconds == nil {
		return false
	}
	own, ok := ownStartTime()
	return ok && math.Abs(*m.Process.StartTimeSeconds-own) < 1
}

// parseOwnTicks reads a process's user and system clock ticks from its
// /proc/<pid>/stat line: fields 14 (utime) and 15 (stime).
func parseOwnTicks(stat string) (uint64, bool) {
	utime, ok1 := statField(stat, 14)
	stime, ok2 := statField(stat, 15)
	return utime + stime, ok1 && ok2
}

// statField reads the numeric field n (counted from 1, as proc(5) does) of
// a /proc/<pid>/stat line. The fields are counted after the command name
// (field 2), which is in parentheses and may hold spaces and parentheses.
func statField(stat string, n int) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || n < 3 {
		return 0, false
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3
	if len(fields) <= n-3 {
		return 0, false
	}
	v, err := strconv.ParseUint(fields[n-3], 10, 64)
	return v, err == nil
}

// parseCPUPressure reads the total of the "some" line of
// /proc/pressure/cpu: the microseconds since boot during which at least one
// runnable task waited for a CPU.
func parseCPUPressure(text string) (uint64, bool) {
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "some" {
			continue
		}
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// hostCPUPressure is the share of the time between two readings during
// which some runnable task of this machine waited for a CPU, 0..1; nil when
// unknown (no pressure stall information).
func hostCPUPressure(prev, cur *hostCPUTimes) *float64 {
	if prev == nil || cur == nil || !prev.hasPressure || !cur.hasPressure || !cur.at.After(prev.at) || cur.stalledUS < prev.stalledUS {
		return nil
	}
	p := min(1, float64(cur.stalledUS-prev.stalledUS)/float64(cur.at.Sub(prev.at).Microseconds()))
	return &p
}

// ownCores is the mean number of CPUs advisor's own process kept busy
// between two readings (its probes, and a load generator running in it); 0
// when unknown.
func ownCores(prev, cur *hostCPUTimes, cpus int) float64 {
	if prev == nil || cur == nil || cpus <= 0 || !prev.hasOwn || !cur.hasOwn || cur.total <= prev.total || cur.own < prev.own {
		return 0
	}
	return float64(cur.own-prev.own) / float64(cur.total-prev.total) * float64(cpus)
}

// hostBusyCores is the mean number of this machine's CPUs busy between two
// readings; 0 when unknown.
func hostBusyCores(prev, cur *hostCPUTimes, cpus int) float64 {
	if prev == nil || cur == nil || cpus <= 0 || cur.total <= prev.total {
		return 0
	}
	return float64(cur.busy-prev.busy) / float64(cur.total-prev.total) * float64(cpus)
}
