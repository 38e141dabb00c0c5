package rules

import (
	"math/bits"
	"regexp"
	"slices"
	"sync"
)

// WaitKind is what a class of goroutine wait amounts to, which the
// application detectors reason about.
type WaitKind string

// The kinds of wait a wait pattern may declare.
const (
	// WaitNetwork is network I/O that is not the service's own data stores:
	// outbound HTTP, SMTP, DNS, raw sockets.
	WaitNetwork WaitKind = "network"
	// WaitDisk is file I/O.
	WaitDisk WaitKind = "disk"
	// WaitDatastore is a round trip to the service's PostgreSQL or Redis.
	WaitDatastore WaitKind = "datastore"
	// WaitPool is waiting to acquire a connection from a pool.
	WaitPool WaitKind = "pool"
	// WaitLock is waiting on a mutex.
	WaitLock WaitKind = "lock"
	// WaitChannel is waiting on a channel or in a select.
	WaitChannel WaitKind = "channel"
	// WaitSleep is time.Sleep.
	WaitSleep WaitKind = "sleep"
	// WaitCPU is running or runnable: on CPU, or waiting for one.
	WaitCPU WaitKind = "cpu"
)

var waitKinds = []WaitKind{WaitNetwork, WaitDisk, WaitDatastore, WaitPool, WaitLock, WaitChannel, WaitSleep, WaitCPU}

// WaitPattern is one class of the wait_patterns catalogue of rules.yaml: how
// to recognise, from a goroutine's state and the functions of its stack,
// what it is waiting on.
type WaitPattern struct {
	// Class names the pattern: outbound-http, smtp, database, pool-acquire...
	Class string
	Kind  WaitKind
	// InlineWork marks work a response does not need done before it is
	// sent (e-mail, PDF, image generation, password hashing): candidates of
	// app.inline-work.
	InlineWork  bool
	Description string
	// Functions match function names of stack frames (as
	// "net/http.(*Client).do"); any frame matching any of them is enough.
	// Empty: any stack.
	Functions []*regexp.Regexp
	// States match the goroutine's state ("IO wait", "select",
	// "sync.Mutex.Lock", "running"...); empty: any state.
	States []*regexp.Regexp
}

// Match reports whether a goroutine in the given state, with the given
// function names on its stack, belongs to the class: its state matches one of
// States (if any) and one of its frames matches one of Functions (if any).
func (w *WaitPattern) Match(state string, functions []string) bool {
	if len(w.States) > 0 && !slices.ContainsFunc(w.States, func(re *regexp.Regexp) bool { return re.MatchString(state) }) {
		return false
	}
	if len(w.Functions) == 0 {
		return true
	}
	for _, fn := range functions {
		for _, re := range w.Functions {
			if re.MatchString(fn) {
				return true
			}
		}
	}
	return false
}

// Patterns is the ordered catalogue of wait classes. Order is precedence:
// Classify returns the first class that matches, so specific classes (a pool
// acquire, SMTP) come before generic ones (a channel wait, CPU).
type Patterns struct {
	Classes []*WaitPattern

	// masks remembers, for each function name and each state seen, which
	// classes match it (a bit per class, in order; states keyed with a
	// leading NUL). attach classifies every goroutine of every dump in its
	// window at each analysis, the same few hundred names over and over:
	// the regular expressions were a third of its CPU time under load.
	mu    sync.RWMutex
	masks map[string]uint64
}

// masksMax bounds the names remembered; past it, names are matched without
// being kept.
const masksMax = 1 << 16

// mask returns the bit set of the classes for which match(class) holds,
// remembered under key. Only for at most 64 classes.
func (p *Patterns) mask(key string, match func(*WaitPattern) bool) uint64 {
	p.mu.RLock()
	m, ok := p.masks[key]
	p.mu.RUnlock()
	if ok {
		return m
	}
	for i, w := range p.Classes {
		if match(w) {
			m |= 1 << i
		}
	}
	p.mu.Lock()
	if p.masks == nil {
		p.masks = map[string]uint64{}
	}
	if len(p.masks) < masksMax {
		p.masks[key] = m
	}
	p.mu.Unlock()
	return m
}

// functionMask is the set of classes one of whose Functions matches fn.
func (p *Patterns) functionMask(fn string) uint64 {
	return p.mask(fn, func(w *WaitPattern) bool { return matchesAny(w.Functions, fn) })
}

// remembered returns match, remembering its answer for each name: for one
// pass over a window's frames, which repeat the same names thousands of
// times.
func remembered(match func(string) bool) func(string) bool {
	seen := map[string]bool{}
	return func(name string) bool {
		m, ok := seen[name]
		if !ok {
			m = match(name)
			seen[name] = m
		}
		return m
	}
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

// Classify returns the first class matching the goroutine, or nil: the
// class Match would pick, from the remembered masks.
func (p *Patterns) Classify(state string, functions []string) *WaitPattern {
	if p == nil {
		return nil
	}
	if len(p.Classes) > 64 {
		for _, w := range p.Classes {
			if w.Match(state, functions) {
				return w
			}
		}
		return nil
	}
	states := p.mask("\x00"+state, func(w *WaitPattern) bool { return len(w.States) == 0 || matchesAny(w.States, state) })
	stacks := p.mask("\x00\x00any stack", func(w *WaitPattern) bool { return len(w.Functions) == 0 })
	for _, fn := range functions {
		stacks |= p.functionMask(fn)
	}
	if m := states & stacks; m != 0 {
		return p.Classes[bits.TrailingZeros64(m)]
	}
	return nil
}

// MatchFunction reports whether fn matches one of w's Functions, w being
// one of p's classes.
func (p *Patterns) MatchFunction(w *WaitPattern, fn string) bool {
	if i := slices.Index(p.Classes, w); i >= 0 && i < 64 {
		return p.functionMask(fn)&(1<<i) != 0
	}
	return matchesAny(w.Functions, fn)
}

// Class returns the class with the given name, or nil.
func (p *Patterns) Class(name string) *WaitPattern {
	if p == nil {
		return nil
	}
	for _, w := range p.Classes {
		if w.Class == name {
			return w
		}
	}
	return nil
}

// merge applies an override file's classes: a class of the same name
// replaces the built-in one in place (keeping its precedence); a new class
// is tried before every built-in class, in the order of the override file.
func (p *Patterns) merge(over []*WaitPattern) {
	defer func() { p.mu.Lock(); p.masks = nil; p.mu.Unlock() }() // bits follow the order
	var added []*WaitPattern
	for _, w := range over {
		if i := slices.IndexFunc(p.Classes, func(b *WaitPattern) bool { return b.Class == w.Class }); i >= 0 {
			p.Classes[i] = w
			continue
		}
		added = append(added, w)
	}
	p.Classes = append(added, p.Classes...)
}
