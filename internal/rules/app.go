package rules

import (
	"cmp"
	"math"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appRules are the detectors of the application rules: what the service
// does inside its HTTP handlers, read from its goroutine dumps, CPU and
// contention profiles and HTTP metrics.
var appRules = []Detector{appBlockingIO, appInlineWork, appLockContention, appInternalHops}

// appProfilerPackages are packages whose handlers are the profilers advisor
// itself calls (a CPU profile sleeps in its handler for the whole window):
// their goroutines are not the service's requests.
var appProfilerPackages = []string{
	"net/http/pprof",
	"github.com/felixge/fgprof",
	"github.com/prometheus/client_golang/prometheus/promhttp",
	"github.com/prometheus/client_golang/prometheus", // the registry gathering /metrics
}

// appClosure matches the name of a function literal: main.handler.func1,
// pkg.(*T).m.func2.1.
var appClosure = regexp.MustCompile(`\.func\d+(\.\d+)*$`)

// appSample is one goroutine (or CPU sample) under an HTTP handler.
type appSample struct {
	// handler is the handler's function, with the closures of middleware
	// between the router and the handler's own function skipped.
	handler string
	class   *WaitPattern
	// site is the leaf-most frame of the service's own code: the line that
	// called what the goroutine waits in.
	site pprof.Frame
	// api is the outermost frame the class's functions matched (what the
	// service called: net/smtp.(*Client).Mail), zero when the class matched
	// on state alone.
	api pprof.Frame
	// queued is set for a goroutine waiting for a slot of a concurrency
	// limit: blocked sending to or receiving from a channel (a buffered
	// channel used as a semaphore), or in a semaphore's Acquire.
	queued bool
}

// appSemaphore matches semaphores' acquire functions.
var appSemaphore = regexp.MustCompile(`^golang\.org/x/sync/semaphore\.\(\*Weighted\)\.Acquire$|\.\(\*[A-Za-z]*[Ss]emaphore\)\.Acquire$`)

// appSampleOf classifies one stack, leaf first, in the given state; ok is
// false outside handlers and in the profilers' own handlers.
func appSampleOf(p *Patterns, att pprof.Attribution, frames []pprof.Frame, state string) (appSample, bool) {
	if !att.Server || att.Handler == "" || slices.Contains(appProfilerPackages, pprof.FuncPackage(att.Handler)) {
		return appSample{}, false
	}
	funcs := make([]string, len(frames))
	for i, f := range frames {
		funcs[i] = f.Func
	}
	s := appSample{handler: appHandlerName(att, frames), site: att.CallSite}
	s.class = p.Classify(state, funcs)
	if s.class != nil && len(s.class.Functions) > 0 {
		for i := len(frames) - 1; i >= 0; i-- {
			if !p.MatchFunction(s.class, frames[i].Func) {
				continue
			}
			s.api = frames[i]
			// The call site is the service's frame nearest to the call,
			// at or above it: wrappers the call goes through (an
			// instrumented transport) are not where it is made.
			module := appModule(pprof.FuncPackage(att.Handler))
			for j := i; j < len(frames); j++ {
				if appModule(pprof.FuncPackage(frames[j].Func)) == module {
					s.site = frames[j]
					break
				}
			}
			break
		}
	}
	if s.site.IsZero() {
		s.site = att.WaitIn
	}
	if s.class != nil && s.class.Kind == WaitChannel {
		s.queued = state == "chan send" || state == "chan receive" ||
			slices.ContainsFunc(funcs, appSemaphore.MatchString)
	}
	return s, true
}

// appModule guesses the module of a package as the attribution does:
// host/owner/repo for the usual hosts, the first element otherwise.
func appModule(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) >= 3 && strings.Contains(parts[0], ".") {
		return strings.Join(parts[:3], "/")
	}
	return parts[0]
}

// appHandlerName names the handler of a stack: the handler frame the
// attribution found, or, when that is a function literal (middleware that
// wraps the handler, as router helpers do), the first named function it
// leads to in the service's code.
func appHandlerName(att pprof.Attribution, frames []pprof.Frame) string {
	h := slices.Index(frames, att.HandlerFrame)
	if h < 0 || !appClosure.MatchString(att.Handler) {
		return att.Handler
	}
	last := att.Handler // the innermost closure so far
	for i := h - 1; i >= 0; i-- {
		name := frames[i].Func
		if appClosure.MatchString(name) {
			last = name
			continue
		}
		pkg := pprof.FuncPackage(name)
		if first, _, _ := strings.Cut(pkg, "/"); pkg != "main" && !strings.Contains(first, ".") {
			// The standard library: the handler's own code ended.
			break
		}
		if frames[i] == att.CallSite {
			// The named function is what the handler calls, not a
			// handler under middleware: the closure is the handler.
			return last
		}
		return name
	}
	return last
}

// appSiteStat is the samples of one call site.
type appSiteStat struct {
	site    pprof.Frame
	api     pprof.Frame
	samples float64
	cpu     float64
	// queued counts the samples waiting at a concurrency limit.
	queued float64
}

// appClassStat is the samples of one wait class under one handler.
type appClassStat struct {
	class   *WaitPattern
	samples float64
	// cpu is the CPU profile's value (nanoseconds) and cpuSamples its
	// number of samples.
	cpu, cpuSamples float64
	sites           map[pprof.Frame]*appSiteStat
}

// topSite is the site with the most goroutine samples (then CPU).
func (c *appClassStat) topSite() *appSiteStat {
	var best *appSiteStat
	for _, s := range c.sites {
		if best == nil || s.samples > best.samples || (s.samples == best.samples && s.cpu > best.cpu) ||
			(s.samples == best.samples && s.cpu == best.cpu && s.site.Location() < best.site.Location()) {
			best = s
		}
	}
	return best
}

// appHandlerStat is the samples of one handler.
type appHandlerStat struct {
	name            string
	samples         float64
	cpu, cpuSamples float64
	classes         map[string]*appClassStat
}

func (h *appHandlerStat) class(w *WaitPattern) *appClassStat {
	c := h.classes[w.Class]
	if c == nil {
		c = &appClassStat{class: w, sites: map[pprof.Frame]*appSiteStat{}}
		h.classes[w.Class] = c
	}
	return c
}

// appView is every request goroutine of the window, classified.
type appView struct {
	// samples counts handler goroutines over every dump; dumps the dumps.
	samples float64
	dumps   int
	// perDump counts handler goroutines in each dump, perServerDump the
	// goroutines under the server.
	perDump, perServerDump []float64
	// server counts the goroutines under the HTTP server (in handlers or
	// reading the next request) and serverRunnable those of them runnable:
	// woken, but waiting for a CPU.
	server, serverRunnable float64
	cpu                    float64
	handlers               map[string]*appHandlerStat
}

func (v *appView) handler(name string) *appHandlerStat {
	h := v.handlers[name]
	if h == nil {
		h = &appHandlerStat{name: name, classes: map[string]*appClassStat{}}
		v.handlers[name] = h
	}
	return h
}

// sortedHandlers returns the handlers by name, for a stable output.
func (v *appView) sortedHandlers() []*appHandlerStat {
	out := make([]*appHandlerStat, 0, len(v.handlers))
	for _, h := range v.handlers {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b *appHandlerStat) int { return cmp.Compare(a.name, b.name) })
	return out
}

// appObserve classifies the handler goroutines of every goroutine dump of
// the window and the samples of its CPU profile (or fgprof's wall-clock
// profile for goroutines when there are no dumps). Rules read it through
// Input.app, which computes it once per input.
func appObserve(in *Input) *appView {
	v := &appView{handlers: map[string]*appHandlerStat{}}
	w := in.Window
	if w == nil {
		return v
	}
	for _, dump := range w.Goroutines {
		if dump == nil || !dump.Status.Ok() {
			continue
		}
		v.dumps++
		var n, server float64
		samples := in.dump(dump).samples
		for i := range dump.Goroutines {
			g := &dump.Goroutines[i]
			if a := g.Attribution; a.Server && !slices.Contains(appProfilerPackages, pprof.FuncPackage(a.Handler)) {
				server++
				v.server++
				if g.State == "runnable" {
					v.serverRunnable++
				}
			}
			s, ok := samples[i].s, samples[i].ok
			if !ok {
				continue
			}
			n++
			v.addGoroutine(s, 1)
		}
		v.perDump = append(v.perDump, n)
		v.perServerDump = append(v.perServerDump, server)
		v.samples += n
	}
	if w.Profiles != nil && w.Profiles.CPU != nil && w.Profiles.CPU.Status.Ok() && w.Profiles.CPU.Profile != nil {
		v.addCPU(in.Patterns, w.Profiles.CPU)
	}
	if fg := appProfile(w, pprof.KindFgprof); v.dumps == 0 && fg != nil {
		v.addFgprof(in.Patterns, fg)
	}
	return v
}

func (v *appView) addGoroutine(s appSample, weight float64) {
	h := v.handler(s.handler)
	h.samples += weight
	if s.class == nil {
		return
	}
	c := h.class(s.class)
	c.samples += weight
	site := c.sites[s.site]
	if site == nil {
		site = &appSiteStat{site: s.site, api: s.api}
		c.sites[s.site] = site
	}
	site.samples += weight
	if s.queued {
		site.queued += weight
	}
}

// addCPU classifies each sample of a CPU profile under a handler as
// running.
func (v *appView) addCPU(p *Patterns, cpu *pprof.ProfileResult) {
	att := pprof.DefaultAttributor()
	appStacks(cpu.Profile, pprof.SampleIndex(cpu.Profile), func(frames []pprof.Frame, val float64) {
		v.cpu += val
		s, ok := appSampleOf(p, att.Attribute(frames), frames, "running")
		if !ok {
			return
		}
		h := v.handler(s.handler)
		h.cpu += val
		h.cpuSamples++
		if s.class == nil {
			return
		}
		c := h.class(s.class)
		c.cpu += val
		c.cpuSamples++
		site := c.sites[s.site]
		if site == nil {
			site = &appSiteStat{site: s.site, api: s.api}
			c.sites[s.site] = site
		}
		site.cpu += val
	})
}

// addFgprof counts the samples of fgprof's wall-clock profile (every
// goroutine, on or off CPU, at about 99 Hz) as goroutine samples. fgprof
// records no goroutine state, so classes that need one (mutex waits, other
// network I/O) do not match; function patterns do.
func (v *appView) addFgprof(p *Patterns, fg *pprof.ProfileResult) {
	att := pprof.DefaultAttributor()
	vi := pprof.SampleIndex(fg.Profile)
	for i, st := range fg.Profile.SampleType {
		if st != nil && st.Type == "samples" {
			vi = i
		}
	}
	appStacks(fg.Profile, vi, func(frames []pprof.Frame, val float64) {
		if s, ok := appSampleOf(p, att.Attribute(frames), frames, ""); ok {
			v.samples += val
			v.addGoroutine(s, val)
		}
	})
}

// appStacks calls fn with the frames (leaf first, inlined calls expanded)
// and the value at index vi of each sample of prof.
func appStacks(prof *profile.Profile, vi int, fn func(frames []pprof.Frame, val float64)) {
	if prof == nil || vi < 0 {
		return
	}
	var frames []pprof.Frame
	for _, smp := range prof.Sample {
		if smp == nil || vi >= len(smp.Value) || smp.Value[vi] == 0 {
			continue
		}
		frames = frames[:0]
		for _, loc := range smp.Location {
			if loc == nil {
				continue
			}
			for _, ln := range loc.Line {
				if ln.Function != nil {
					frames = append(frames, pprof.Frame{Func: ln.Function.Name, File: ln.Function.Filename, Line: int(ln.Line)})
				}
			}
		}
		fn(frames, float64(smp.Value[vi]))
	}
}

// appProfile returns the window's profile of a kind when it was read.
func appProfile(w *probe.Window, kind pprof.Kind) *pprof.ProfileResult {
	if w == nil || w.Profiles == nil {
		return nil
	}
	for _, pr := range w.Profiles.Profiles() {
		if pr != nil && pr.Kind == kind && pr.Status.Ok() && pr.Profile != nil {
			return pr
		}
	}
	return nil
}

// appRound keeps evidence readable: 3 decimals.
func appRound(x float64) float64 { return math.Round(x*1000) / 1000 }

// appTop is the key with the largest value (then the smallest key).
func appTop(m map[string]float64) string {
	var best string
	for k, n := range m {
		if best == "" || n > m[best] || (n == m[best] && k < best) {
			best = k
		}
	}
	return best
}

// appInternalHost reports whether an outbound host (host or host:port) is
// of the same system: loopback, a private range, or named in internal.
func appInternalHost(host string, internal []string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, want := range internal {
		if strings.EqualFold(want, host) || strings.EqualFold(want, name) {
			return true
		}
	}
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

// appInternalHostsOf returns the window's internal hosts plus the given
// ones (a rule's internal_hosts).
func appInternalHostsOf(in *Input, more []string) []string {
	var hosts []string
	if in.Window != nil {
		hosts = append(hosts, in.Window.InternalHosts...)
	}
	return append(hosts, more...)
}
