package pprof

import (
	"sync"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe/probetest"
)

func TestAggregateCapture(t *testing.T) {
	p, err := ParseProfile(readCapture(t, "cpu.pb.gz"))
	if err != nil {
		t.Fatal(err)
	}
	agg := DefaultAttributor().Aggregate(p)
	if agg.SampleType != "cpu" || agg.Unit != "nanoseconds" || agg.Samples == 0 {
		t.Fatalf("aggregation = %s/%s, %d samples", agg.SampleType, agg.Unit, agg.Samples)
	}
	var want int64
	for _, s := range p.Sample {
		want += s.Value[1]
	}
	if agg.Total != want {
		t.Errorf("total = %d, want %d", agg.Total, want)
	}
	var flat int64
	for _, f := range agg.Functions {
		flat += f.Flat
		if f.Cum < f.Flat || f.CumShare > 1.0000001 {
			t.Errorf("%s: flat %d cum %d share %v", f.Func, f.Flat, f.Cum, f.CumShare)
		}
	}
	if flat != agg.Total {
		t.Errorf("flat values add up to %d, total %d", flat, agg.Total)
	}
	work, ok := agg.Func("main.work")
	if !ok || work.CumShare < 0.5 {
		t.Errorf("main.work = %+v", work)
	}
	h, ok := agg.Handler("main.work")
	if !ok || h.Share < 0.5 || h.Value > agg.ServerValue || len(h.Sites) == 0 || h.Sites[0].CallSite.Func != "main.work" {
		t.Errorf("handler main.work = %+v", h)
	}
	cum := agg.ByCum()
	for i := 1; i < len(cum); i++ {
		if cum[i].Cum > cum[i-1].Cum {
			t.Fatal("ByCum not sorted")
		}
	}
}

func TestAggregateRecursionAndInline(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function {
		return &profile.Function{ID: id, Name: name, Filename: "x.go"}
	}
	serve, sh, handler, rec := fn(1, "net/http.(*conn).serve"), fn(2, "net/http.serverHandler.ServeHTTP"), fn(3, "main.h"), fn(4, "main.rec")
	inl := fn(5, "main.inlined")
	loc := func(id uint64, fs ...*profile.Function) *profile.Location {
		l := &profile.Location{ID: id}
		for _, f := range fs {
			l.Line = append(l.Line, profile.Line{Function: f, Line: 10})
		}
		return l
	}
	l1, l2, l3, l4 := loc(1, serve), loc(2, sh), loc(3, handler), loc(4, inl, rec) // inl inlined into rec
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{l4, l4, l3, l2, l1}, Value: []int64{1, 10}}, // rec -> rec -> h
			{Location: []*profile.Location{l3, l2, l1}, Value: []int64{1, 5}},
			{Location: []*profile.Location{l4}, Value: []int64{1, 1}}, // not under the server
		},
		Location: []*profile.Location{l1, l2, l3, l4},
		Function: []*profile.Function{serve, sh, handler, rec, inl},
	}
	agg := DefaultAttributor().Aggregate(p)
	if agg.Total != 16 || agg.ServerValue != 15 {
		t.Fatalf("total %d server %d", agg.Total, agg.ServerValue)
	}
	r, _ := agg.Func("main.rec")
	if r.Cum != 11 || r.Flat != 0 {
		t.Errorf("main.rec = %+v (recursion counted once per sample)", r)
	}
	i, _ := agg.Func("main.inlined")
	if i.Flat != 11 {
		t.Errorf("main.inlined = %+v (the inlined call is the leaf)", i)
	}
	h, _ := agg.Handler("main.h")
	if h.Value != 15 || h.Share != 15.0/16 {
		t.Errorf("handler = %+v", h)
	}
	if h.Sites[0].Value != 10 || h.Sites[0].CallSite.Func != "main.inlined" {
		t.Errorf("sites = %+v", h.Sites)
	}
	if got := DefaultAttributor().Aggregate(nil); got.Total != 0 || got.Functions != nil {
		t.Errorf("nil profile = %+v", got)
	}
}

var (
	bigProfileOnce sync.Once
	bigProfile     []byte
)

// syntheticProfile is a CPU profile of about 20 MB (gzipped): many samples
// over many distinct stacks, half of them under HTTP handlers.
func syntheticProfile(b *testing.B) []byte {
	bigProfileOnce.Do(func() {
		data, err := probetest.CPUProfile(20000, 400000, 24)
		if err != nil {
			panic(err)
		}
		bigProfile = data
	})
	return bigProfile
}

// BenchmarkParseAggregate20MB parses a ~20 MB CPU profile and aggregates it
// by function and handler.
func BenchmarkParseAggregate20MB(b *testing.B) {
	data := syntheticProfile(b)
	b.ReportMetric(float64(len(data))/(1<<20), "MB")
	b.SetBytes(int64(len(data)))
	att := DefaultAttributor()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := ParseProfile(data)
		if err != nil {
			b.Fatal(err)
		}
		agg := att.Aggregate(p)
		if agg.Samples == 0 || len(agg.Handlers) == 0 {
			b.Fatal("empty aggregation")
		}
	}
}

// BenchmarkAggregate20MB aggregates the parsed ~20 MB profile only.
func BenchmarkAggregate20MB(b *testing.B) {
	p, err := ParseProfile(syntheticProfile(b))
	if err != nil {
		b.Fatal(err)
	}
	att := DefaultAttributor()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if agg := att.Aggregate(p); agg.Samples == 0 {
			b.Fatal("empty aggregation")
		}
	}
}
