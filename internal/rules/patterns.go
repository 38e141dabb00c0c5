package rules

import (
	"regexp"
	"slices"
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
}

// Classify returns the first class matching the goroutine, or nil.
func (p *Patterns) Classify(state string, functions []string) *WaitPattern {
	if p == nil {
		return nil
	}
	for _, w := range p.Classes {
		if w.Match(state, functions) {
			return w
		}
	}
	return nil
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
