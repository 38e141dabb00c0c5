package pprof

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/DataDog/gostackparse"
)

// Kind names a profile a target serves.
type Kind string

// Profile kinds.
const (
	KindCPU           Kind = "cpu"
	KindGoroutine     Kind = "goroutine"
	KindGoroutineText Kind = "goroutine-text"
	KindBlock         Kind = "block"
	KindMutex         Kind = "mutex"
	KindHeap          Kind = "heap"
	KindFgprof        Kind = "fgprof"
)

// AllKinds is every kind Collect can fetch, in a stable order.
var AllKinds = []Kind{KindCPU, KindGoroutine, KindGoroutineText, KindBlock, KindMutex, KindHeap, KindFgprof}

// Frame is one call in a stack.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Location is "file:line", or the function when the file is unknown.
func (f Frame) Location() string {
	if f.File == "" {
		return f.Func
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// IsZero reports whether the frame is empty.
func (f Frame) IsZero() bool { return f.Func == "" && f.File == "" }

// Goroutine is one goroutine of a debug=2 dump, with where it runs.
type Goroutine struct {
	ID int `json:"id"`
	// State as the runtime prints it: "running", "IO wait", "chan receive",
	// "semacquire", "select", "sleep", "sync.Mutex.Lock", ...
	State string `json:"state"`
	// Wait is how long it has been waiting (the runtime's minute granularity).
	Wait           time.Duration `json:"wait"`
	LockedToThread bool          `json:"locked_to_thread,omitempty"`
	// Frames, leaf first as printed.
	Frames       []Frame `json:"frames"`
	FramesElided bool    `json:"frames_elided,omitempty"`
	// CreatedBy is the go statement that started it; zero for main.
	CreatedBy Frame `json:"created_by"`
	// Attribution is filled by Attributor.Goroutines.
	Attribution Attribution `json:"attribution"`
}

// ParseGoroutines parses the text of /debug/pprof/goroutine?debug=2 (or a
// panic's traceback). It returns every goroutine it could read and an error
// joining the problems with the others; it never panics. Empty input gives
// no goroutines and no error.
func ParseGoroutines(r io.Reader) (gs []Goroutine, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("goroutine dump: parser failed: %v", rec)
		}
	}()
	parsed, errs := gostackparse.Parse(r)
	gs = make([]Goroutine, 0, len(parsed))
	for _, p := range parsed {
		if p == nil {
			continue
		}
		g := Goroutine{
			ID:             p.ID,
			State:          p.State,
			Wait:           p.Wait,
			LockedToThread: p.LockedToThread,
			FramesElided:   p.FramesElided,
			Frames:         make([]Frame, 0, len(p.Stack)),
		}
		for _, f := range p.Stack {
			if f != nil {
				g.Frames = append(g.Frames, Frame{Func: f.Func, File: f.File, Line: f.Line})
			}
		}
		if p.CreatedBy != nil {
			g.CreatedBy = Frame{Func: p.CreatedBy.Func, File: p.CreatedBy.File, Line: p.CreatedBy.Line}
		}
		gs = append(gs, g)
	}
	if len(errs) > 0 {
		err = fmt.Errorf("goroutine dump: %d parse errors: %w", len(errs), errors.Join(errs...))
	}
	return gs, err
}

// GoroutineGroup is a number of goroutines alike: same handler, state, place
// they wait in and call site.
type GoroutineGroup struct {
	// Handler is the handler function, empty outside request handling.
	Handler string `json:"handler,omitempty"`
	State   string `json:"state"`
	// WaitIn is the leaf-most frame outside the runtime (e.g.
	// net.(*conn).Read, sync.(*Mutex).Lock, time.Sleep).
	WaitIn Frame `json:"wait_in"`
	// CallSite is the leaf-most frame of the service's own code.
	CallSite Frame `json:"call_site"`
	Count    int   `json:"count"`
	// Share is Count over the goroutines in handlers (for groups with a
	// handler) or over all goroutines (for the others).
	Share float64 `json:"share"`
	// MaxWait is the longest wait in the group.
	MaxWait time.Duration `json:"max_wait"`
}

// GoroutineSummary counts goroutines by where they run.
type GoroutineSummary struct {
	Total int `json:"total"`
	// InServer counts goroutines under net/http.(*conn).serve.
	InServer int `json:"in_server"`
	// InHandler counts those of them inside a handler.
	InHandler int `json:"in_handler"`
	// ByState counts goroutines per state.
	ByState map[string]int `json:"by_state"`
	// Groups of goroutines, the largest first.
	Groups []GoroutineGroup `json:"groups"`
}

// SummarizeGoroutines groups attributed goroutines (see
// Attributor.Goroutines).
func SummarizeGoroutines(gs []Goroutine) GoroutineSummary {
	s := GoroutineSummary{Total: len(gs), ByState: map[string]int{}}
	type key struct {
		handler, state string
		waitIn, site   Frame
	}
	index := map[key]int{}
	for _, g := range gs {
		s.ByState[g.State]++
		a := g.Attribution
		if a.Server {
			s.InServer++
		}
		if a.Handler != "" {
			s.InHandler++
		}
		k := key{a.Handler, g.State, a.WaitIn, a.CallSite}
		i, ok := index[k]
		if !ok {
			i = len(s.Groups)
			index[k] = i
			s.Groups = append(s.Groups, GoroutineGroup{Handler: a.Handler, State: g.State, WaitIn: a.WaitIn, CallSite: a.CallSite})
		}
		s.Groups[i].Count++
		s.Groups[i].MaxWait = max(s.Groups[i].MaxWait, g.Wait)
	}
	for i := range s.Groups {
		g := &s.Groups[i]
		switch {
		case g.Handler != "" && s.InHandler > 0:
			g.Share = float64(g.Count) / float64(s.InHandler)
		case s.Total > 0:
			g.Share = float64(g.Count) / float64(s.Total)
		}
	}
	sort.SliceStable(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i], s.Groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Handler != b.Handler {
			return a.Handler < b.Handler
		}
		if a.State != b.State {
			return a.State < b.State
		}
		return a.WaitIn.Func < b.WaitIn.Func
	})
	return s
}
