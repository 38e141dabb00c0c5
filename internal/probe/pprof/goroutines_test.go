package pprof

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGoroutinesCapture(t *testing.T) {
	gs, err := ParseGoroutines(bytes.NewReader(readCapture(t, "goroutines.txt")))
	if err != nil {
		t.Fatalf("ParseGoroutines: %v", err)
	}
	if want := bytes.Count(readCapture(t, "goroutines.txt"), []byte("\ngoroutine ")) + 1; len(gs) != want {
		t.Fatalf("parsed %d goroutines, the dump has %d", len(gs), want)
	}
	states := map[string]int{}
	for _, g := range gs {
		states[g.State]++
		if g.ID <= 0 || len(g.Frames) == 0 {
			t.Errorf("goroutine %d: no id or no frames: %+v", g.ID, g)
		}
	}
	for _, s := range []string{"IO wait", "select", "sleep", "sync.Mutex.Lock", "running"} {
		if states[s] == 0 {
			t.Errorf("no goroutine in state %q; states: %v", s, states)
		}
	}
	g := gs[0]
	if g.State != "running" || g.Frames[0].Func != "runtime/pprof.writeGoroutineStacks" || g.Frames[0].Line == 0 || !strings.HasSuffix(g.Frames[0].File, "pprof.go") {
		t.Errorf("first goroutine = %+v", g.Frames[0])
	}
	if g.CreatedBy.Func != "net/http.(*Server).Serve" {
		t.Errorf("created by = %+v", g.CreatedBy)
	}
}

func TestParseGoroutinesWait(t *testing.T) {
	dump := `goroutine 7 [chan receive, 12 minutes]:
main.worker(0xc000010000)
	/src/app/main.go:42 +0x25
created by main.main in goroutine 1
	/src/app/main.go:20 +0x3d

goroutine 9 [semacquire, 3 minutes, locked to thread]:
sync.runtime_Semacquire(0x0?)
	/go/src/runtime/sema.go:62 +0x25
main.wait()
	/src/app/main.go:50 +0x10
`
	gs, err := ParseGoroutines(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("got %d goroutines", len(gs))
	}
	if gs[0].ID != 7 || gs[0].State != "chan receive" || gs[0].Wait != 12*time.Minute {
		t.Errorf("goroutine 7 = %+v", gs[0])
	}
	if gs[0].Frames[0] != (Frame{Func: "main.worker", File: "/src/app/main.go", Line: 42}) {
		t.Errorf("frame = %+v", gs[0].Frames[0])
	}
	if gs[0].CreatedBy.Func != "main.main" || gs[0].CreatedBy.Line != 20 {
		t.Errorf("created by = %+v", gs[0].CreatedBy)
	}
	if gs[1].State != "semacquire" || gs[1].Wait != 3*time.Minute || !gs[1].LockedToThread {
		t.Errorf("goroutine 9 = %+v", gs[1])
	}
}

func TestParseGoroutinesGarbage(t *testing.T) {
	for _, in := range []string{"", "hello world\n", "<html><body>404</body></html>", "goroutine x [\n\tfoo"} {
		gs, err := ParseGoroutines(strings.NewReader(in))
		if len(gs) != 0 {
			t.Errorf("ParseGoroutines(%q) = %d goroutines", in, len(gs))
		}
		if in == "" && err != nil {
			t.Errorf("empty input: %v", err)
		}
	}
	// A dump cut in the middle keeps the goroutines before the cut.
	full := readCapture(t, "goroutines.txt")
	gs, _ := ParseGoroutines(bytes.NewReader(full[:len(full)/2]))
	if len(gs) < 10 {
		t.Errorf("truncated dump: %d goroutines", len(gs))
	}
}

func TestAttributeCapture(t *testing.T) {
	gs, err := ParseGoroutines(bytes.NewReader(readCapture(t, "goroutines.txt")))
	if err != nil {
		t.Fatal(err)
	}
	DefaultAttributor().Goroutines(gs)
	byHandler := map[string][]Goroutine{}
	for _, g := range gs {
		if g.Attribution.Handler != "" {
			byHandler[g.Attribution.Handler] = append(byHandler[g.Attribution.Handler], g)
		}
	}
	for _, h := range []string{"main.slow", "main.locked", "main.hopper.hop", "net/http/pprof.Index"} {
		if len(byHandler[h]) == 0 {
			t.Errorf("no goroutine attributed to %s; handlers: %v", h, keys(byHandler))
		}
	}
	for _, g := range byHandler["main.slow"] {
		a := g.Attribution
		if !a.Server || g.State != "sleep" || a.WaitIn.Func != "time.Sleep" || a.CallSite.Func != "main.slow" || !strings.HasSuffix(a.CallSite.File, "capture/main.go") || a.CallSite.Line == 0 {
			t.Errorf("main.slow goroutine %d: state %q attribution %+v", g.ID, g.State, a)
		}
	}
	for _, g := range byHandler["main.locked"] {
		if g.State == "sync.Mutex.Lock" && g.Attribution.WaitIn.Func != "sync.(*Mutex).Lock" {
			t.Errorf("main.locked waits in %+v", g.Attribution.WaitIn)
		}
	}
	for _, g := range byHandler["main.hopper.hop"] {
		if g.Attribution.CallSite.Func != "main.hopper.hop" {
			t.Errorf("hop call site = %+v", g.Attribution.CallSite)
		}
	}
	// Goroutines of the load generator are not under the server.
	for _, g := range gs {
		if g.CreatedBy.Func == "main.main" && g.Attribution.Server {
			t.Errorf("client goroutine %d attributed to the server: %+v", g.ID, g.Attribution)
		}
	}

	s := SummarizeGoroutines(gs)
	if s.Total != len(gs) || s.InHandler == 0 || s.InServer < s.InHandler {
		t.Fatalf("summary = total %d in server %d in handler %d", s.Total, s.InServer, s.InHandler)
	}
	var share float64
	for i, grp := range s.Groups {
		if i > 0 && grp.Count > s.Groups[i-1].Count {
			t.Errorf("groups not sorted: %d after %d", grp.Count, s.Groups[i-1].Count)
		}
		if grp.Handler != "" {
			share += grp.Share
		}
	}
	if share < 0.999 || share > 1.001 {
		t.Errorf("shares of handler groups add up to %v", share)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func frames(names ...string) []Frame {
	out := make([]Frame, len(names))
	for i, n := range names {
		out[i] = Frame{Func: n, File: "f.go", Line: i + 1}
	}
	return out
}

func TestAttributeRouters(t *testing.T) {
	// Leaf first, as in a dump.
	chi := frames(
		"runtime.gopark",
		"internal/poll.(*FD).Read",
		"net.(*netFD).Read",
		"github.com/jackc/pgx/v5/pgconn.(*PgConn).Exec",
		"example.com/shop/internal/store.(*Store).Orders",
		"example.com/shop/internal/api.(*API).listOrders",
		"net/http.HandlerFunc.ServeHTTP",
		"github.com/go-chi/chi/v5.(*Mux).routeHTTP",
		"github.com/go-chi/chi/v5/middleware.Logger.func1",
		"github.com/prometheus/client_golang/prometheus/promhttp.InstrumentHandlerDuration.func1",
		"github.com/go-chi/chi/v5.(*Mux).ServeHTTP",
		"net/http.serverHandler.ServeHTTP",
		"net/http.(*conn).serve",
	)
	a := DefaultAttributor().Attribute(chi)
	if !a.Server || a.Handler != "example.com/shop/internal/api.(*API).listOrders" {
		t.Errorf("handler = %+v", a)
	}
	if a.CallSite.Func != "example.com/shop/internal/store.(*Store).Orders" {
		t.Errorf("call site = %+v", a.CallSite)
	}
	if a.WaitIn.Func != "net.(*netFD).Read" {
		t.Errorf("wait in = %+v", a.WaitIn)
	}

	// A middleware of the service's own is the handler until the user
	// lists its package.
	own := frames(
		"main.feed",
		"main.withAuth.func1",
		"net/http.HandlerFunc.ServeHTTP",
		"net/http.serverHandler.ServeHTTP",
		"net/http.(*conn).serve",
	)
	if got := DefaultAttributor().Attribute(own).Handler; got != "main.withAuth.func1" {
		t.Errorf("handler = %q", got)
	}
	if got := (Attributor{Routers: append(DefaultRouters, "main.withAuth")}).Attribute(own).Handler; got != "main.feed" {
		t.Errorf("handler with main.withAuth listed = %q", got)
	}

	// A connection waiting for its next request has no handler.
	idle := frames("runtime.gopark", "net.(*conn).Read", "net/http.(*connReader).Read", "bufio.(*Reader).fill", "net/http.(*conn).readRequest", "net/http.(*conn).serve")
	if a := DefaultAttributor().Attribute(idle); !a.Server || a.Handler != "" || a.WaitIn.Func != "net.(*conn).Read" {
		t.Errorf("idle connection = %+v", a)
	}

	// Outside the server.
	worker := frames("runtime.gopark", "time.Sleep", "example.com/shop/internal/jobs.(*Worker).run", "created")
	if a := DefaultAttributor().Attribute(worker); a.Server || a.Handler != "" || a.CallSite.Func != "example.com/shop/internal/jobs.(*Worker).run" || a.WaitIn.Func != "time.Sleep" {
		t.Errorf("worker = %+v", a)
	}
	if a := DefaultAttributor().Attribute(nil); a != (Attribution{}) {
		t.Errorf("empty stack = %+v", a)
	}
}

func TestFuncPackage(t *testing.T) {
	cases := map[string]string{
		"net/http.(*conn).serve":                            "net/http",
		"main.handler.func1":                                "main",
		"github.com/go-chi/chi/v5.(*Mux).ServeHTTP":         "github.com/go-chi/chi/v5",
		"example.com/a/b.Map[go.shape.int,example.com/x.T]": "example.com/a/b",
		"runtime.gopark":                                    "runtime",
		"nodot":                                             "nodot",
	}
	for in, want := range cases {
		if got := FuncPackage(in); got != want {
			t.Errorf("FuncPackage(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseGoroutines(f *testing.F) {
	f.Add(readCapture(f, "goroutines.txt")[:4000])
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n"))
	f.Add([]byte("goroutine 1 [chan receive, 5 minutes]:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, _ := ParseGoroutines(bytes.NewReader(data))
		a := DefaultAttributor()
		a.Goroutines(gs)
		_ = SummarizeGoroutines(gs)
	})
}
