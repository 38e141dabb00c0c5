package pprof

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Options of one collection round.
type Options struct {
	// CPUSeconds is the length of the CPU profile (default 5).
	CPUSeconds int
	// ContentionSeconds is the length of the block and mutex deltas
	// (default CPUSeconds).
	ContentionSeconds int
	// FgprofSeconds is the length of the fgprof profile (default CPUSeconds).
	FgprofSeconds int
	// Kinds to fetch; nil fetches AllKinds.
	Kinds []Kind
	// Attributor finds handlers; a zero value uses DefaultRouters.
	Attributor Attributor
	// Cumulative reads block and mutex since the process started instead
	// of as deltas, for an analysis of cumulative statistics (no waiting).
	Cumulative bool
}

// DefaultCPUSeconds is the CPU profile length when Options leave it zero.
const DefaultCPUSeconds = 5

// ProfileResult is one fetched profile and what it reduces to.
type ProfileResult struct {
	Kind   Kind          `json:"kind"`
	Status source.Status `json:"status"`
	// Profile is the parsed profile, nil unless Status is OK; rules that need
	// whole stacks read it.
	Profile *profile.Profile `json:"-"`
	// Raw is the body Profile was parsed from, as the target served it
	// (gzipped protobuf from net/http/pprof): a file go tool pprof opens.
	Raw []byte `json:"-"`
	Aggregation
}

// GoroutineResult is the parsed goroutine dump.
type GoroutineResult struct {
	Status     source.Status    `json:"status"`
	Goroutines []Goroutine      `json:"goroutines"`
	Summary    GoroutineSummary `json:"summary"`
	// Bytes is the dump's length, what its stop of the target is
	// estimated from (DumpStop).
	Bytes int `json:"bytes,omitempty"`
}

// Snapshot is what one round read from a target. Every part is non-nil; a
// part not fetched has an Unavailable status saying so.
type Snapshot struct {
	Target string    `json:"target"`
	Time   time.Time `json:"time"`
	// Status sums up the parts: OK when any profile was read.
	Status        source.Status    `json:"status"`
	CPU           *ProfileResult   `json:"cpu"`
	Goroutine     *ProfileResult   `json:"goroutine"`
	Block         *ProfileResult   `json:"block"`
	Mutex         *ProfileResult   `json:"mutex"`
	Heap          *ProfileResult   `json:"heap"`
	Fgprof        *ProfileResult   `json:"fgprof"`
	GoroutineText *GoroutineResult `json:"goroutine_text"`
}

// Profiles returns the profile parts in AllKinds order.
func (s *Snapshot) Profiles() []*ProfileResult {
	return []*ProfileResult{s.CPU, s.Goroutine, s.Block, s.Mutex, s.Heap, s.Fgprof}
}

// Collect fetches the profiles Options name from the target concurrently,
// each with its own timeout, and records how long each took. It never
// returns nil and never fails as a whole: failures are statuses.
func Collect(ctx context.Context, c *Client, opts Options) *Snapshot {
	start := time.Now()
	snap := emptySnapshot(start, source.Status{State: source.Unavailable, Detail: "not collected in this round"})
	if c == nil {
		snap.Status = source.Status{State: source.Unavailable, Detail: "no pprof target configured: give --target or --pprof"}
		return snap
	}
	snap.Target = c.String()

	cpu := opts.CPUSeconds
	if cpu <= 0 {
		cpu = DefaultCPUSeconds
	}
	contention, fg := opts.ContentionSeconds, opts.FgprofSeconds
	if contention <= 0 {
		contention = cpu
	}
	if opts.Cumulative {
		contention = 0
	}
	if fg <= 0 {
		fg = cpu
	}
	att := opts.Attributor
	if att.Routers == nil {
		att = DefaultAttributor()
	}
	kinds := opts.Kinds
	if kinds == nil {
		kinds = AllKinds
	}

	type fetch = func(context.Context) (*profile.Profile, []byte, error)
	seconds := func(f func(context.Context, int) (*profile.Profile, []byte, error), n int) fetch {
		return func(ctx context.Context) (*profile.Profile, []byte, error) { return f(ctx, n) }
	}
	contended := func(kind Kind) fetch {
		return func(ctx context.Context) (*profile.Profile, []byte, error) {
			return c.contention(ctx, kind, contention)
		}
	}
	fetchers := map[Kind]struct {
		dst   *ProfileResult
		fetch fetch
	}{
		KindCPU:       {snap.CPU, seconds(c.cpu, cpu)},
		KindGoroutine: {snap.Goroutine, c.goroutine},
		KindBlock:     {snap.Block, contended(KindBlock)},
		KindMutex:     {snap.Mutex, contended(KindMutex)},
		KindHeap:      {snap.Heap, c.heap},
		KindFgprof:    {snap.Fgprof, seconds(c.fgprof, fg)},
	}
	fetchInto := func(k Kind) error {
		f := fetchers[k]
		t0 := time.Now()
		p, raw, err := f.fetch(ctx)
		if err == nil {
			f.dst.Profile, f.dst.Raw = p, raw
			f.dst.Aggregation = att.Aggregate(p)
		}
		f.dst.Status = source.StatusOf(err, time.Since(t0))
		return err
	}
	// The profiles under /debug/pprof/ are served together
	// (net/http/pprof) or not at all: the goroutine profile, quick, is
	// fetched first, and when it is not served the others are not asked
	// (a service in another language answered each with a 404).
	asked := kinds
	if slices.Contains(kinds, KindGoroutine) {
		notServed := IsNotServed(fetchInto(KindGoroutine))
		if st := snap.Goroutine.Status; notServed {
			for _, r := range snap.Profiles() {
				if r.Kind != KindFgprof && slices.Contains(kinds, r.Kind) {
					r.Status = st
				}
			}
			if slices.Contains(kinds, KindGoroutineText) {
				snap.GoroutineText.Status = st
			}
		}
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k Kind) bool {
			return k == KindGoroutine || (notServed && k != KindFgprof)
		})
	}
	var wg sync.WaitGroup
	for _, k := range kinds {
		if k == KindGoroutineText {
			wg.Go(func() {
				t0 := time.Now()
				gs, size, err := c.GoroutineText(ctx)
				att.Goroutines(gs)
				snap.GoroutineText.Goroutines = gs
				snap.GoroutineText.Bytes = size
				snap.GoroutineText.Summary = SummarizeGoroutines(gs)
				snap.GoroutineText.Status = source.StatusOf(err, time.Since(t0))
			})
			continue
		}
		if _, ok := fetchers[k]; !ok {
			continue
		}
		wg.Go(func() { _ = fetchInto(k) })
	}
	wg.Wait()
	snap.Status = summarize(snap, asked)
	snap.Status.Took = time.Since(start)
	return snap
}

// NotCollected is a snapshot taken at t of which no part was fetched, for
// the reason st says: every part, and the whole, have status st.
func NotCollected(t time.Time, st source.Status) *Snapshot {
	snap := emptySnapshot(t, st)
	snap.Status = st
	return snap
}

// emptySnapshot is a snapshot at t whose every part has status st and no
// profile: what Collect fills.
func emptySnapshot(t time.Time, st source.Status) *Snapshot {
	snap := &Snapshot{Time: t}
	for _, r := range []**ProfileResult{&snap.CPU, &snap.Goroutine, &snap.Block, &snap.Mutex, &snap.Heap, &snap.Fgprof} {
		*r = &ProfileResult{Status: st}
	}
	snap.CPU.Kind, snap.Goroutine.Kind, snap.Block.Kind = KindCPU, KindGoroutine, KindBlock
	snap.Mutex.Kind, snap.Heap.Kind, snap.Fgprof.Kind = KindMutex, KindHeap, KindFgprof
	snap.GoroutineText = &GoroutineResult{Status: st}
	return snap
}

// summarize sums up the parts' statuses: OK if any part is OK, with the
// others' details; Unavailable if every part is; Error otherwise.
func summarize(s *Snapshot, kinds []Kind) source.Status {
	var ok, unavailable, failed int
	var details []string
	add := func(k Kind, st source.Status) {
		if !slices.Contains(kinds, k) {
			return
		}
		switch st.State {
		case source.OK:
			ok++
			return
		case source.Unavailable:
			unavailable++
		default:
			failed++
		}
		if !slices.Contains(details, st.Detail) {
			details = append(details, st.Detail)
		}
	}
	for _, p := range s.Profiles() {
		add(p.Kind, p.Status)
	}
	add(KindGoroutineText, s.GoroutineText.Status)
	st := source.Status{Detail: strings.Join(details, "; ")}
	switch {
	case ok > 0:
		st.State = source.OK
	case failed == 0 && unavailable > 0:
		st.State = source.Unavailable
	case failed > 0:
		st.State = source.Error
	default:
		st.State = source.Unavailable
		st.Detail = "no profile was requested"
	}
	return st
}
