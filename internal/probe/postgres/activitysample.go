// pg_stat_activity sampled over a window: the readings, and their summary
// per application and client address.

package postgres

import (
	"cmp"
	"slices"
	"time"
)

// The states of pg_stat_activity.state a client backend may be in.
const (
	StateActive                   = "active"
	StateIdle                     = "idle"
	StateIdleInTransaction        = "idle in transaction"
	StateIdleInTransactionAborted = "idle in transaction (aborted)"
	StateFastpath                 = "fastpath function call"
	StateDisabled                 = "disabled"
)

// ActivitySample is one reading of pg_stat_activity's groups: from a
// snapshot (Activity.Groups) or from a light reading between snapshots
// (Probe.ReadActivity).
type ActivitySample struct {
	// Time the reading was taken, on advisor's clock.
	Time   time.Time
	Groups []ActivityGroup
}

// SessionCount is a number of sessions over a run of samples.
type SessionCount struct {
	// Mean is the mean over every sample, a sample without such sessions
	// counting 0.
	Mean float64
	// Max is the highest count in one sample.
	Max int
}

// ClientActivity summarises the sessions of one application from one
// client address over a run of samples: how many sessions it held, in
// which state, and what its active sessions were doing.
type ClientActivity struct {
	// Application is application_name, ClientAddr the client's IP address
	// ("" for a Unix socket).
	Application, ClientAddr string
	// Databases and Users are those its sessions used, sorted.
	Databases, Users []string
	// Samples is the number of samples summarised: the means' denominator.
	Samples int
	// Seen is the number of samples in which it had at least one session.
	Seen int
	// Sessions counts every session, whatever its state.
	Sessions SessionCount
	// ByState counts the sessions in each state (the State* constants; ""
	// for sessions whose state the probe's role may not see).
	ByState map[string]SessionCount
	// Waiting counts the active sessions with a wait event: on a lock, on
	// I/O, on the client, ...; WaitingByType splits them by
	// wait_event_type (Lock, LWLock, IO, Client, IPC, Timeout, ...).
	Waiting       SessionCount
	WaitingByType map[string]SessionCount
	// OnCPU counts the active sessions without a wait event: running (or
	// waiting for a CPU, which PostgreSQL does not tell apart).
	OnCPU SessionCount
}

// State is the count of sessions in state (a State* constant), zero when
// none was seen in it.
func (c ClientActivity) State(state string) SessionCount { return c.ByState[state] }

// WaitingOn is the count of active sessions waiting on wait_event_type
// typ, zero when none did.
func (c ClientActivity) WaitingOn(typ string) SessionCount { return c.WaitingByType[typ] }

// clientKey identifies a ClientActivity.
type clientKey struct{ app, addr string }

// clientSums accumulates one client's counts over the samples.
type clientSums struct {
	out                *ClientActivity
	databases, users   map[string]bool
	sessions, waiting  countSum
	onCPU              countSum
	byState, byWaiting map[string]*countSum
}

// countSum is the running sum and maximum of a count over the samples.
type countSum struct {
	sum, max int
}

// add counts one sample's n.
func (c *countSum) add(n int) {
	c.sum += n
	c.max = max(c.max, n)
}

func (c countSum) count(samples int) SessionCount {
	if samples == 0 {
		return SessionCount{}
	}
	return SessionCount{Mean: float64(c.sum) / float64(samples), Max: c.max}
}

// SummariseActivity summarises samples per application and client
// address, most sessions (by mean) first. Every sample counts, those in
// which a client had no session as 0: the samples should be those of one
// window, taken at about even intervals. Nil without samples.
func SummariseActivity(samples []ActivitySample) []ClientActivity {
	if len(samples) == 0 {
		return nil
	}
	sums := map[clientKey]*clientSums{}
	for _, s := range samples {
		// The counts of this sample, per client.
		type counts struct {
			sessions, waiting, onCPU int
			byState, byWaiting       map[string]int
		}
		per := map[clientKey]*counts{}
		for _, g := range s.Groups {
			k := clientKey{g.Application, g.ClientAddr}
			cs := sums[k]
			if cs == nil {
				cs = &clientSums{out: &ClientActivity{Application: g.Application, ClientAddr: g.ClientAddr},
					databases: map[string]bool{}, users: map[string]bool{},
					byState: map[string]*countSum{}, byWaiting: map[string]*countSum{}}
				sums[k] = cs
			}
			cs.databases[g.Database] = true
			cs.users[g.User] = true
			c := per[k]
			if c == nil {
				c = &counts{byState: map[string]int{}, byWaiting: map[string]int{}}
				per[k] = c
			}
			c.sessions += g.Count
			c.byState[g.State] += g.Count
			if g.State != StateActive {
				continue
			}
			if g.WaitEventType == "" {
				c.onCPU += g.Count
			} else {
				c.waiting += g.Count
				c.byWaiting[g.WaitEventType] += g.Count
			}
		}
		for k, c := range per {
			cs := sums[k]
			cs.out.Seen++
			cs.sessions.add(c.sessions)
			cs.waiting.add(c.waiting)
			cs.onCPU.add(c.onCPU)
			for state, n := range c.byState {
				sum(cs.byState, state).add(n)
			}
			for typ, n := range c.byWaiting {
				sum(cs.byWaiting, typ).add(n)
			}
		}
	}
	n := len(samples)
	out := make([]ClientActivity, 0, len(sums))
	for _, cs := range sums {
		a := cs.out
		a.Samples = n
		a.Databases = sortedKeys(cs.databases)
		a.Users = sortedKeys(cs.users)
		a.Sessions = cs.sessions.count(n)
		a.Waiting = cs.waiting.count(n)
		a.OnCPU = cs.onCPU.count(n)
		a.ByState = make(map[string]SessionCount, len(cs.byState))
		for state, c := range cs.byState {
			a.ByState[state] = c.count(n)
		}
		a.WaitingByType = make(map[string]SessionCount, len(cs.byWaiting))
		for typ, c := range cs.byWaiting {
			a.WaitingByType[typ] = c.count(n)
		}
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b ClientActivity) int {
		return cmp.Or(cmp.Compare(b.Sessions.Mean, a.Sessions.Mean),
			cmp.Compare(a.Application, b.Application), cmp.Compare(a.ClientAddr, b.ClientAddr))
	})
	return out
}

// sum returns m's running sum for key, adding it when missing.
func sum(m map[string]*countSum, key string) *countSum {
	c := m[key]
	if c == nil {
		c = &countSum{}
		m[key] = c
	}
	return c
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
