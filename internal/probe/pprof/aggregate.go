package pprof

import (
	"sort"
	"strconv"

	"github.com/google/pprof/profile"
)

// FuncStat is one function's share of a profile.
type FuncStat struct {
	Func string `json:"func"`
	// File of the function's first sampled line.
	File string `json:"file,omitempty"`
	// Flat is the value of samples whose leaf is this function; Cum of
	// samples with the function anywhere on the stack (counted once per
	// sample under recursion).
	Flat      int64   `json:"flat"`
	Cum       int64   `json:"cum"`
	FlatShare float64 `json:"flat_share"`
	CumShare  float64 `json:"cum_share"`
}

// SiteStat is the value of samples under a handler that wait in one frame
// called from one call site.
type SiteStat struct {
	WaitIn   Frame   `json:"wait_in"`
	CallSite Frame   `json:"call_site"`
	Value    int64   `json:"value"`
	Share    float64 `json:"share"` // of the handler's value
}

// HandlerStat is the value of samples under one HTTP handler.
type HandlerStat struct {
	// Handler is the handler's function; "" collects samples under the
	// server outside any handler.
	Handler string  `json:"handler"`
	Value   int64   `json:"value"`
	Share   float64 `json:"share"` // of the profile's total
	// Sites are the largest (wait frame, call site) pairs, largest first.
	Sites []SiteStat `json:"sites"`
}

// Aggregation is a profile reduced to what rules read.
type Aggregation struct {
	// SampleType and Unit of the value aggregated (e.g. cpu/nanoseconds,
	// delay/nanoseconds, inuse_space/bytes).
	SampleType string `json:"sample_type"`
	Unit       string `json:"unit"`
	Total      int64  `json:"total"`
	Samples    int    `json:"samples"`
	// Functions sorted by Flat, largest first (then Cum, then name).
	Functions []FuncStat `json:"functions"`
	// Handlers sorted by Value, largest first; samples outside the HTTP
	// server are not listed.
	Handlers []HandlerStat `json:"handlers"`
	// ServerValue is the value of samples under the HTTP server.
	ServerValue int64 `json:"server_value"`
}

// maxSites is how many call sites a HandlerStat keeps.
const maxSites = 10

// SampleIndex is the index of the sample value Aggregate uses: the profile's
// default sample type, else "cpu" or "delay" when present, else the last.
func SampleIndex(p *profile.Profile) int {
	if p == nil || len(p.SampleType) == 0 {
		return -1
	}
	for _, want := range []string{p.DefaultSampleType, "cpu", "delay", "time"} {
		if want == "" {
			continue
		}
		for i, st := range p.SampleType {
			if st != nil && st.Type == want {
				return i
			}
		}
	}
	return len(p.SampleType) - 1
}

// Aggregate sums a profile's samples by function and by handler, using the
// value SampleIndex picks. A nil or empty profile gives an empty result.
func (a Attributor) Aggregate(p *profile.Profile) Aggregation {
	var agg Aggregation
	vi := SampleIndex(p)
	if vi < 0 {
		return agg
	}
	if st := p.SampleType[vi]; st != nil {
		agg.SampleType, agg.Unit = st.Type, st.Unit
	}

	// Functions and their attribution facts, computed once per name.
	funcIndex := map[string]int32{}
	var funcs []FuncStat
	var infos []funcInfo
	var seen []int32 // sample number+1 that last counted the function's Cum
	funcID := func(name, file string) int32 {
		if id, ok := funcIndex[name]; ok {
			return id
		}
		id := int32(len(funcs))
		funcIndex[name] = id
		funcs = append(funcs, FuncStat{Func: name, File: file})
		infos = append(infos, a.info(name))
		seen = append(seen, 0)
		return id
	}
	// Frames, interned; each location's frames leaf first (inlined calls
	// first) as function ids and frame ids.
	var frameTab []Frame
	type locFrames struct{ funcs, frames []int32 }
	// Parsed profiles number locations 1..n: index them by ID, and fall
	// back to a map for a profile built otherwise.
	byID := make([]*locFrames, len(p.Location)+1)
	locs := map[*profile.Location]*locFrames{}
	frameOf := func(l *profile.Location) *locFrames {
		if l.ID < uint64(len(byID)) {
			if lf := byID[l.ID]; lf != nil && p.Location[l.ID-1] == l {
				return lf
			}
		}
		if lf, ok := locs[l]; ok {
			return lf
		}
		lf := &locFrames{}
		add := func(name, file string, line int) {
			lf.funcs = append(lf.funcs, funcID(name, file))
			lf.frames = append(lf.frames, int32(len(frameTab)))
			frameTab = append(frameTab, Frame{Func: name, File: file, Line: line})
		}
		for _, ln := range l.Line {
			if ln.Function != nil && ln.Function.Name != "" {
				add(ln.Function.Name, ln.Function.Filename, int(ln.Line))
			}
		}
		if len(lf.funcs) == 0 && l.Address != 0 {
			add("0x"+strconv.FormatUint(l.Address, 16), "", 0)
		}
		if l.ID > 0 && l.ID < uint64(len(byID)) && p.Location[l.ID-1] == l {
			byID[l.ID] = lf
		} else {
			locs[l] = lf
		}
		return lf
	}

	type siteKey struct{ wait, site int32 } // frame ids, -1 for none
	type handlerAcc struct {
		value int64
		sites map[siteKey]int64
	}
	handlers := map[int32]*handlerAcc{} // by function id of the handler, -1 for none
	var ids, fids []int32
	info := func(i int) *funcInfo { return &infos[ids[i]] }
	for n, s := range p.Sample {
		if s == nil || vi >= len(s.Value) {
			continue
		}
		v := s.Value[vi]
		if v == 0 {
			continue
		}
		agg.Samples++
		agg.Total += v
		ids, fids = ids[:0], fids[:0]
		for _, l := range s.Location {
			if l == nil {
				continue
			}
			lf := frameOf(l)
			ids = append(ids, lf.funcs...)
			fids = append(fids, lf.frames...)
		}
		if len(ids) == 0 {
			continue
		}
		funcs[ids[0]].Flat += v
		mark := int32(n + 1)
		for _, id := range ids {
			if seen[id] != mark {
				seen[id] = mark
				funcs[id].Cum += v
			}
		}
		server, h, site, wait := attribute(len(ids), info)
		if !server {
			continue
		}
		agg.ServerValue += v
		hid := int32(-1)
		if h >= 0 {
			hid = ids[h]
		}
		acc := handlers[hid]
		if acc == nil {
			acc = &handlerAcc{sites: map[siteKey]int64{}}
			handlers[hid] = acc
		}
		acc.value += v
		k := siteKey{-1, -1}
		if wait >= 0 {
			k.wait = fids[wait]
		}
		if site >= 0 {
			k.site = fids[site]
		}
		acc.sites[k] += v
	}
	frameAt := func(id int32) Frame {
		if id < 0 {
			return Frame{}
		}
		return frameTab[id]
	}

	total := float64(agg.Total)
	for i := range funcs {
		if funcs[i].Cum == 0 {
			continue
		}
		if total != 0 {
			funcs[i].FlatShare = float64(funcs[i].Flat) / total
			funcs[i].CumShare = float64(funcs[i].Cum) / total
		}
		agg.Functions = append(agg.Functions, funcs[i])
	}
	sort.Slice(agg.Functions, func(i, j int) bool {
		a, b := agg.Functions[i], agg.Functions[j]
		if a.Flat != b.Flat {
			return a.Flat > b.Flat
		}
		if a.Cum != b.Cum {
			return a.Cum > b.Cum
		}
		return a.Func < b.Func
	})
	for hid, acc := range handlers {
		hs := HandlerStat{Value: acc.value}
		if hid >= 0 {
			hs.Handler = funcs[hid].Func
		}
		if total != 0 {
			hs.Share = float64(acc.value) / total
		}
		for k, v := range acc.sites {
			ss := SiteStat{WaitIn: frameAt(k.wait), CallSite: frameAt(k.site), Value: v}
			if acc.value != 0 {
				ss.Share = float64(v) / float64(acc.value)
			}
			hs.Sites = append(hs.Sites, ss)
		}
		sort.Slice(hs.Sites, func(i, j int) bool {
			if hs.Sites[i].Value != hs.Sites[j].Value {
				return hs.Sites[i].Value > hs.Sites[j].Value
			}
			if hs.Sites[i].WaitIn.Func != hs.Sites[j].WaitIn.Func {
				return hs.Sites[i].WaitIn.Func < hs.Sites[j].WaitIn.Func
			}
			return hs.Sites[i].CallSite.Location() < hs.Sites[j].CallSite.Location()
		})
		if len(hs.Sites) > maxSites {
			hs.Sites = hs.Sites[:maxSites]
		}
		agg.Handlers = append(agg.Handlers, hs)
	}
	sort.Slice(agg.Handlers, func(i, j int) bool {
		if agg.Handlers[i].Value != agg.Handlers[j].Value {
			return agg.Handlers[i].Value > agg.Handlers[j].Value
		}
		return agg.Handlers[i].Handler < agg.Handlers[j].Handler
	})
	return agg
}

// ByCum returns a copy of the functions sorted by cumulative value.
func (agg Aggregation) ByCum() []FuncStat {
	out := append([]FuncStat(nil), agg.Functions...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Cum > out[j].Cum })
	return out
}

// Func returns the stat of the named function.
func (agg Aggregation) Func(name string) (FuncStat, bool) {
	for _, f := range agg.Functions {
		if f.Func == name {
			return f, true
		}
	}
	return FuncStat{}, false
}

// Handler returns the stat of the named handler.
func (agg Aggregation) Handler(name string) (HandlerStat, bool) {
	for _, h := range agg.Handlers {
		if h.Handler == name {
			return h, true
		}
	}
	return HandlerStat{}, false
}
