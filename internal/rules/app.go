package rules

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appDetectors are the detectors of the application rules: what the service
// does inside its HTTP handlers, read from its goroutine dumps, CPU and
// contention profiles and HTTP metrics.
var appRules = legacyRules(map[string]func(ctx context.Context, in *Input, r *Rule) ([]Finding, error){
	"app.blocking-io":     appBlockingIO,
	"app.inline-work":     appInlineWork,
	"app.lock-contention": appLockContention,
	"app.internal-hops":   appInternalHops,
})

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
			if !slices.ContainsFunc(s.class.Functions, func(re *regexp.Regexp) bool { return re.MatchString(frames[i].Func) }) {
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
// profile for goroutines when there are no dumps).
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
		for i := range dump.Goroutines {
			g := &dump.Goroutines[i]
			if a := g.Attribution; a.Server && !slices.Contains(appProfilerPackages, pprof.FuncPackage(a.Handler)) {
				server++
				v.server++
				if g.State == "runnable" {
					v.serverRunnable++
				}
			}
			s, ok := appSampleOf(in.Patterns, g.Attribution, g.Frames, g.State)
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

// appFuncShort drops the import path of a function name:
// "github.com/x/y/pkg.(*T).m" -> "pkg.(*T).m".
func appFuncShort(name string) string {
	pkg := pprof.FuncPackage(name)
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// appBlockingKinds are the wait kinds app.blocking-io reports.
var appBlockingKinds = []WaitKind{WaitNetwork, WaitDisk, WaitSleep}

// appBlockingIO flags handlers whose goroutines wait on network I/O that
// is not the service's data stores, on files or on sleep, by call site.
// Classes of inline work are left to app.inline-work, and outbound HTTP to
// hosts of the same system to app.internal-hops when the metrics show that
// outbound calls go there.
func appBlockingIO(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	minShare, minSamples := r.Float("min_share"), r.Float("min_samples")
	v := appObserve(in)
	hopsExplainHTTP := appOutboundMostlyInternal(in, nil)
	var out []Finding
	for _, h := range v.sortedHandlers() {
		if h.samples < minSamples {
			continue
		}
		// Group the blocking samples by the service function that waits.
		type group struct {
			samples float64
			classes map[string]float64
			site    *appSiteStat
		}
		groups := map[string]*group{}
		for _, c := range h.classes {
			if c.class.InlineWork || !slices.Contains(appBlockingKinds, c.class.Kind) {
				continue
			}
			if hopsExplainHTTP && c.class.Class == "outbound-http" {
				continue
			}
			for _, s := range c.sites {
				if s.samples == 0 {
					continue
				}
				g := groups[s.site.Func]
				if g == nil {
					g = &group{classes: map[string]float64{}}
					groups[s.site.Func] = g
				}
				g.samples += s.samples
				g.classes[c.class.Class] += s.samples
				if g.site == nil || s.samples > g.site.samples {
					g.site = s
				}
			}
		}
		for fn, g := range groups {
			share := g.samples / h.samples
			if share < minShare {
				continue
			}
			class := appTop(g.classes)
			ev := map[string]any{
				"handler":         h.name,
				"function":        fn,
				"wait_class":      class,
				"share":           appRound(share),
				"samples":         h.samples,
				"waiting_samples": g.samples,
				"dumps":           v.dumps,
			}
			if !g.site.api.IsZero() {
				ev["calls"] = g.site.api.Func
			}
			out = append(out, Finding{
				Subject:  h.name + " -> " + fn,
				Evidence: ev,
				Location: g.site.site.Location(),
				Impact:   g.samples / v.samples,
				Fix:      Fix{Code: appBlockingCode(class)},
			})
		}
	}
	return out, nil
}

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

func appBlockingCode(class string) string {
	switch class {
	case "sleep":
		return "// Retry with a bounded backoff outside the request, or not at all:\n" +
			"// a request should never sleep while a client waits."
	default:
		return "ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)\n" +
			"defer cancel()\n" +
			"g, ctx := errgroup.WithContext(ctx) // independent calls run concurrently\n" +
			"g.Go(func() error { return callA(ctx) })\n" +
			"g.Go(func() error { return callB(ctx) })\n" +
			"err := g.Wait()"
	}
}

// appInlineWork flags work of inline_work classes (e-mail, PDF, images,
// hashing, webhooks) inside handlers: share of the handler's wall time
// (goroutine samples) and CPU time (CPU profile).
func appInlineWork(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	minShare, minSamples := r.Float("min_share"), r.Float("min_samples")
	v := appObserve(in)
	var out []Finding
	for _, h := range v.sortedHandlers() {
		names := make([]string, 0, len(h.classes))
		for name := range h.classes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			c := h.classes[name]
			if !c.class.InlineWork {
				continue
			}
			var wall, cpu float64
			if h.samples > 0 {
				wall = c.samples / h.samples
			}
			if h.cpu > 0 {
				cpu = c.cpu / h.cpu
			}
			byWall := h.samples >= minSamples && wall >= minShare
			byCPU := h.cpuSamples >= minSamples && cpu >= minShare
			if !byWall && !byCPU {
				continue
			}
			site := c.topSite()
			ev := map[string]any{
				"handler":     h.name,
				"work_class":  c.class.Class,
				"description": c.class.Description,
				"function":    site.site.Func,
				"share_wall":  appRound(wall),
				"share_cpu":   appRound(cpu),
				"samples":     h.samples,
				"cpu_samples": h.cpuSamples,
			}
			if !site.api.IsZero() {
				ev["calls"] = site.api.Func
			}
			impact := 0.0
			if v.samples > 0 {
				impact = c.samples / v.samples
			}
			if v.cpu > 0 {
				impact = max(impact, c.cpu/v.cpu)
			}
			out = append(out, Finding{
				Subject:  h.name + " -> " + c.class.Class,
				Evidence: ev,
				Location: site.site.Location(),
				Impact:   impact,
				Fix: Fix{Code: "// in the handler: persist the order and enqueue the follow-up work\n" +
					"_, err = riverClient.InsertTx(ctx, tx, FollowUpArgs{OrderID: id}, nil)\n" +
					"// commit, then reply at once\n" +
					"w.WriteHeader(http.StatusCreated) // or 202 Accepted with a status URL\n" +
					"// a river worker (or asynq handler) calls " + appFuncShort(site.site.Func) + " with retries"},
			})
		}
	}
	return out, nil
}

// appLockContention flags locks that request goroutines queue on: the
// waiters in the goroutine dumps (mutex class) grouped by the line that
// called Lock, with the delay the block and mutex profiles measured there.
func appLockContention(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	minShare, minDelay := r.Float("min_share"), r.Float("min_delay_ms_per_s")
	v := appObserve(in)
	type lock struct {
		site        pprof.Frame
		siteSamples float64
		samples     float64
		handlers    map[string]float64
		delayNs     float64
		profiled    bool
	}
	locks := map[string]*lock{} // by the function that takes the lock
	get := func(site pprof.Frame) *lock {
		l := locks[site.Func]
		if l == nil {
			l = &lock{site: site, handlers: map[string]float64{}}
			locks[site.Func] = l
		}
		return l
	}
	for _, h := range v.handlers {
		for _, c := range h.classes {
			if c.class.Kind != WaitLock {
				continue
			}
			for _, s := range c.sites {
				if s.samples == 0 {
					continue
				}
				l := get(s.site)
				if s.samples > l.siteSamples {
					l.site, l.siteSamples = s.site, s.samples
				}
				l.samples += s.samples
				l.handlers[h.name] += s.samples
			}
		}
	}
	// Contention profiles: delay under handlers, by the service's frame.
	seconds := 0.0
	if w := in.Window; w != nil && w.Profiles != nil {
		// A cumulative window's profiles count from the process's start,
		// not from the statistics' reset.
		seconds = w.Seconds
		if w.ProfileSeconds > 0 || w.Cumulative {
			seconds = w.ProfileSeconds
		}
		for _, pr := range []*pprof.ProfileResult{w.Profiles.Block, w.Profiles.Mutex} {
			if pr == nil || !pr.Status.Ok() {
				continue
			}
			if pr.Profile != nil && pr.Profile.DurationNanos > 0 {
				seconds = float64(pr.Profile.DurationNanos) / 1e9
			}
			mutexProfile := pr == w.Profiles.Mutex
			delays := map[string]float64{}
			sites := map[string]pprof.Frame{}
			for _, h := range pr.Handlers {
				if slices.Contains(appProfilerPackages, pprof.FuncPackage(h.Handler)) {
					continue
				}
				for _, s := range h.Sites {
					if !mutexProfile && !appIsLockFrame(in.Patterns, s.WaitIn.Func) {
						continue
					}
					if s.CallSite.IsZero() {
						continue
					}
					delays[s.CallSite.Func] += float64(s.Value)
					sites[s.CallSite.Func] = s.CallSite
				}
			}
			for fn, d := range delays {
				l := locks[fn]
				if l == nil {
					if seconds <= 0 || d/1e6/seconds < minDelay {
						continue
					}
					l = get(sites[fn])
				}
				l.profiled = true
				// The block profile (waiters) and the mutex profile
				// (holders) see the same contention: keep the larger.
				l.delayNs = max(l.delayNs, d)
			}
		}
	}
	// inFlight is the mean number of request goroutines in a dump.
	inFlight := 0.0
	if v.dumps > 0 {
		inFlight = v.samples / float64(v.dumps)
	}
	var out []Finding
	for fn, l := range locks {
		share := 0.0
		if v.samples > 0 {
			share = l.samples / v.samples
		}
		delay, profileShare := 0.0, 0.0
		if seconds > 0 {
			delay = l.delayNs / 1e6 / seconds
			// Delay per second is the mean number of goroutines waiting.
			// The dumps are instants and the profiles sampled, so the two
			// can disagree; a share is at most all requests.
			if inFlight > 0 {
				profileShare = min(1, delay/1000/inFlight)
			}
		}
		byDumps := share >= minShare
		byProfiles := l.profiled && delay >= minDelay && (inFlight == 0 || profileShare >= minShare)
		if !byDumps && !byProfiles {
			continue
		}
		ev := map[string]any{
			"lock_site": fn,
			"handler":   appTop(l.handlers),
			"handlers":  len(l.handlers),
			// The share of requests waiting: seen in the dumps, or
			// measured by the contention profiles.
			"waiting_share":          appRound(max(share, profileShare)),
			"waiting_share_dumps":    appRound(share),
			"waiting_share_profiles": appRound(profileShare),
			"delay_ms_per_s":         appRound(delay),
			"samples":                v.samples,
			"waiting":                l.samples,
		}
		if len(l.handlers) == 0 {
			ev["handler"] = "(contention profiles only)"
		}
		impact := max(share, profileShare)
		out = append(out, Finding{
			Subject:  fn,
			Evidence: ev,
			Location: l.site.Location(),
			Impact:   impact,
			Fix: Fix{Code: "mu.Lock()\n" +
				"rec := state.snapshot() // only memory work under the lock\n" +
				"mu.Unlock()\n" +
				"err := write(ctx, rec)  // I/O after unlocking, or batched by one goroutine"},
		})
	}
	return out, nil
}

// appIsLockFrame reports whether a block profile's wait frame is a mutex
// (the mutex classes of the catalogue), not a channel or a select.
func appIsLockFrame(p *Patterns, fn string) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Classes {
		if c.Kind != WaitLock {
			continue
		}
		for _, re := range c.Functions {
			if re.MatchString(fn) {
				return true
			}
		}
	}
	return false
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

// appInternalHostsOf returns the window's internal hosts plus the rule's.
func appInternalHostsOf(in *Input, r *Rule) []string {
	var hosts []string
	if in.Window != nil {
		hosts = append(hosts, in.Window.InternalHosts...)
	}
	if r != nil {
		hosts = append(hosts, r.List("internal_hosts")...)
	}
	return hosts
}

// appOutboundMostlyInternal reports whether the metrics count outbound HTTP
// calls and at least 90% of them go to hosts of the same system.
func appOutboundMostlyInternal(in *Input, r *Rule) bool {
	if in.Window == nil || in.Window.Metrics == nil {
		return false
	}
	hosts := appInternalHostsOf(in, r)
	var all, internal float64
	for _, o := range in.Window.Metrics.Outbound {
		all += o.Calls
		if appInternalHost(o.Host, hosts) {
			internal += o.Calls
		}
	}
	return all > 0 && internal >= 0.9*all
}

// appEntryRoutes returns the routes that serve requests from outside:
// every route except those that answer the service's own internal calls
// (the callee of a hop served by the same process shows as a route whose
// request count matches the calls to an internal host, and whose latency is
// below what the caller measured).
func appEntryRoutes(m *metrics.Window, internal []metrics.OutboundRate) []metrics.RouteRate {
	used := make([]bool, len(m.Routes))
	for _, o := range internal {
		if o.Calls <= 0 {
			continue
		}
		for i, rt := range m.Routes {
			if used[i] || math.Abs(rt.Requests-o.Calls) > 0.05*o.Calls+2 {
				continue
			}
			// The callee answers faster than the caller's appRound trip; the
			// caller's own route, which includes the hop, is slower.
			if !o.HasLatency || !rt.HasLatency || rt.Latency.Count == 0 || rt.Latency.Mean >= o.Latency.Mean {
				continue
			}
			used[i] = true
			break
		}
	}
	var out []metrics.RouteRate
	for i, rt := range m.Routes {
		if !used[i] {
			out = append(out, rt)
		}
	}
	return out
}

// appInternalHops flags hosts of the same system called over HTTP about
// once or more per inbound request, from the client metrics the service
// exports; the calling function comes from the goroutine dumps.
func appInternalHops(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil || len(w.Metrics.Outbound) == 0 {
		return nil, nil
	}
	minHops, minLatency := r.Float("min_hops_per_request"), r.Float("min_latency_share")
	m := w.Metrics
	hosts := appInternalHostsOf(in, r)
	var internal []metrics.OutboundRate
	for _, o := range m.Outbound {
		if appInternalHost(o.Host, hosts) {
			internal = append(internal, o)
		}
	}
	if len(internal) == 0 {
		return nil, nil
	}
	entry := appEntryRoutes(m, internal)
	var inbound, inboundBusy float64
	latencyKnown := true
	for _, rt := range entry {
		inbound += rt.Requests
		if rt.HasLatency && rt.Latency.Count > 0 {
			inboundBusy += rt.Latency.Mean * rt.Requests
		} else if rt.Requests > 0 {
			latencyKnown = false
		}
	}
	if inbound <= 0 {
		return nil, nil
	}
	// The calling function: outbound HTTP waits in the dumps.
	v := appObserve(in)
	callers := map[string]float64{}
	handlers := map[string]float64{}
	sites := map[string]pprof.Frame{}
	for _, h := range v.handlers {
		for _, c := range h.classes {
			if c.class.Class != "outbound-http" {
				continue
			}
			for _, s := range c.sites {
				callers[s.site.Func] += s.samples + s.cpu/1e7
				handlers[h.name] += s.samples
				sites[s.site.Func] = s.site
			}
		}
	}
	caller := appTop(callers)
	// The endpoint when one handler makes most of the calls; the client
	// metrics do not say which endpoints call a host.
	endpoint := "the service"
	var all float64
	for _, n := range handlers {
		all += n
	}
	if top := appTop(handlers); top != "" && handlers[top] >= 0.8*all {
		endpoint = top
	}
	var out []Finding
	for _, o := range internal {
		hops := o.Calls / inbound
		if hops < minHops {
			continue
		}
		share := -1.0
		if o.HasLatency && latencyKnown && inboundBusy > 0 {
			share = math.Min(o.Latency.Mean*o.Calls/inboundBusy, 1)
			if share < minLatency {
				continue
			}
		}
		ev := map[string]any{
			"endpoint":         endpoint,
			"host":             o.Host,
			"hops_per_request": appRound(hops),
			"latency_share":    appRound(share),
			"outbound_per_s":   appRound(o.PerSec),
			"inbound_per_s":    appRound(inbound / math.Max(m.Seconds, 1e-9)),
			"function":         caller,
		}
		if o.HasLatency {
			ev["hop_mean_ms"] = appRound(o.Latency.Mean * 1000)
		}
		if caller == "" {
			ev["function"] = "unknown (no goroutine dumps with outbound calls)"
		}
		impact := math.Max(share, 0)
		f := Finding{
			Subject:  "internal HTTP hops -> " + o.Host,
			Evidence: ev,
			Impact:   impact,
			Fix: Fix{Code: fmt.Sprintf("// instead of an HTTP appRound trip to %s on every request:\n", o.Host) +
				"p, err := usersService.Profile(ctx, id) // the same code, called in-process"},
		}
		if caller != "" {
			f.Location = sites[caller].Location()
		}
		out = append(out, f)
	}
	return out, nil
}
