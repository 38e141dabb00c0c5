package ui

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// TestExportSameSecond: exports in the same second, even in the same
// millisecond, write new files and overwrite none.
func TestExportSameSecond(t *testing.T) {
	dir := t.TempDir()
	d := &Data{Window: fixtureWindow(39), Findings: fixtureFindings()}
	at := fixtureStart
	var all []string
	for _, when := range []time.Time{at, at, at.Add(400 * time.Millisecond), at} {
		paths, err := Export(dir, d, when)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, paths...)
	}
	want := []string{
		"advisor-report-20260314-093000.000.md", "advisor-report-20260314-093000.000.json",
		"advisor-report-20260314-093000.000-2.md", "advisor-report-20260314-093000.000-2.json",
		"advisor-report-20260314-093000.400.md", "advisor-report-20260314-093000.400.json",
		"advisor-report-20260314-093000.000-3.md", "advisor-report-20260314-093000.000-3.json",
	}
	for i := range want {
		want[i] = filepath.Join(dir, want[i])
	}
	if !slices.Equal(all, want) {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(all, "\n"), strings.Join(want, "\n"))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("%d files in the directory, want %d", len(entries), len(want))
	}
	for _, p := range want {
		if data, err := os.ReadFile(p); err != nil || !bytes.Contains(data, []byte("db.missing-index")) {
			t.Errorf("%s: %v\n%s", p, err, data)
		}
	}

	// A name taken by one part only (a file left there) moves the pair on:
	// the two files of an export keep one stamp.
	later := at.Add(time.Second)
	if err := os.WriteFile(filepath.Join(dir, "advisor-report-20260314-093001.000.json"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := Export(dir, d, later)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{filepath.Base(paths[0]), filepath.Base(paths[1])}; got[0] != "advisor-report-20260314-093001.000-2.md" ||
		got[1] != "advisor-report-20260314-093001.000-2.json" {
		t.Errorf("paths %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "advisor-report-20260314-093001.000.md")); err == nil {
		t.Error("the markdown of the pair that could not be written was left behind")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "advisor-report-20260314-093001.000.json")); string(data) != "keep" {
		t.Errorf("the file left there was overwritten: %q", data)
	}
}

// TestExportKeyTwice: e twice in the same second gives two reports.
func TestExportKeyTwice(t *testing.T) {
	dir := t.TempDir()
	m := fixtureModel(t, 200, 24)
	m.opts.ExportDir = dir
	var said []string
	for range 2 {
		feed(m, keyMsg("e"))
		said = append(said, m.message)
	}
	if said[0] == said[1] || !strings.Contains(said[1], "093000.000-2.md") {
		t.Errorf("status after two exports: %q", said)
	}
	if paths, _ := filepath.Glob(filepath.Join(dir, "advisor-report-*.json")); len(paths) != 2 {
		t.Errorf("JSON reports: %v", paths)
	}
}

// testProfile is a profile of one sample type with two stacks.
func testProfile(typ, unit string, values ...int64) *profile.Profile {
	fn := []*profile.Function{{ID: 1, Name: "main.handler", Filename: "main.go"}, {ID: 2, Name: "main.main", Filename: "main.go"}}
	loc := []*profile.Location{{ID: 1, Line: []profile.Line{{Function: fn[0], Line: 12}}}, {ID: 2, Line: []profile.Line{{Function: fn[1], Line: 3}}}}
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: typ, Unit: unit}}, Function: fn, Location: loc,
		TimeNanos: fixtureStart.UnixNano(), DurationNanos: int64(5 * time.Second)}
	for i, v := range values {
		p.Sample = append(p.Sample, &profile.Sample{Location: loc[i%2:], Value: []int64{v}})
	}
	return p
}

// served is p as net/http/pprof serves it: gzipped protobuf.
func served(t *testing.T, p *profile.Profile) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func okResult(kind pprof.Kind, p *profile.Profile, raw []byte) *pprof.ProfileResult {
	return &pprof.ProfileResult{Kind: kind, Status: source.Status{State: source.OK}, Profile: p, Raw: raw}
}

// TestSaveProfiles: w writes the last CPU profile and goroutine profile as
// fetched, files go tool pprof opens, and says where.
func TestSaveProfiles(t *testing.T) {
	dir := t.TempDir()
	m := fixtureModel(t, 100, 30)
	m.opts.ExportDir = dir
	cpu := testProfile("cpu", "nanoseconds", 30_000_000, 10_000_000, 20_000_000)
	gor := testProfile("goroutine", "count", 7, 3)
	cpuRaw, gorRaw := served(t, cpu), served(t, gor)
	at := fixtureStart.Add(90 * time.Second)
	feed(m, ProfileMsg{Seconds: 5, At: at, Profile: &pprof.Snapshot{Status: source.Status{State: source.OK},
		CPU: okResult(pprof.KindCPU, cpu, cpuRaw), Goroutine: okResult(pprof.KindGoroutine, gor, gorRaw)}})
	feed(m, keyMsg("w"))

	cpuPath := filepath.Join(dir, "advisor-cpu-20260314-093130.000.pb.gz")
	gorPath := filepath.Join(dir, "advisor-goroutine-20260314-093130.000.pb.gz")
	for _, f := range []struct {
		path string
		raw  []byte
		want *profile.Profile
	}{{cpuPath, cpuRaw, cpu}, {gorPath, gorRaw, gor}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, f.raw) {
			t.Errorf("%s is not the profile as fetched", f.path)
		}
		fh, err := os.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := profile.Parse(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s does not parse: %v", f.path, err)
		}
		if got.SampleType[0].Type != f.want.SampleType[0].Type || len(got.Sample) != len(f.want.Sample) ||
			got.Sample[0].Value[0] != f.want.Sample[0].Value[0] || got.Sample[0].Location[0].Line[0].Function.Name != "main.handler" {
			t.Errorf("%s parses to another profile: %v", f.path, got)
		}
	}
	if !strings.Contains(m.message, "saved (7 Runtime): "+cpuPath+" and "+gorPath) {
		t.Errorf("status: %q", m.message)
	}
	feed(m, keyMsg("7"))
	s := screen(t, m, 100, 30)
	for _, want := range []string{"go tool pprof " + cpuPath, "go tool pprof " + gorPath, "CPU profile 5 s taken at 09:31:30"} {
		if !strings.Contains(s, want) {
			t.Errorf("the Runtime pane does not show %q:\n%s", want, s)
		}
	}

	// Again: the same profile is not written twice.
	feed(m, keyMsg("w"))
	if !strings.HasPrefix(m.message, "already saved: "+cpuPath) {
		t.Errorf("w again: %q", m.message)
	}
	// A new profile drops the lines of the old one.
	feed(m, ProfileMsg{Seconds: 5, At: at.Add(time.Minute), Profile: &pprof.Snapshot{Status: source.Status{State: source.OK},
		CPU: okResult(pprof.KindCPU, cpu, cpuRaw), Goroutine: okResult(pprof.KindGoroutine, gor, gorRaw)}})
	if s := screen(t, m, 100, 30); strings.Contains(s, "go tool pprof") {
		t.Errorf("the saved lines outlive their profile:\n%s", s)
	}
}

// TestSaveProfilesParts: a part that failed is said, not written; a part
// held without its body is encoded; nothing to save is said.
func TestSaveProfilesParts(t *testing.T) {
	dir := t.TempDir()
	at := fixtureStart
	cpu := testProfile("cpu", "nanoseconds", 10_000_000)
	failed := &pprof.ProfileResult{Kind: pprof.KindGoroutine, Status: source.Status{State: source.Error, Detail: "goroutine: the body is not a pprof profile"}}
	got, err := SaveProfiles(dir, &pprof.Snapshot{CPU: okResult(pprof.KindCPU, cpu, nil), Goroutine: failed}, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Paths) != 1 || filepath.Base(got.Paths[0]) != "advisor-cpu-20260314-093000.000.pb.gz" {
		t.Fatalf("paths %v", got.Paths)
	}
	if len(got.Missing) != 1 || !strings.Contains(got.Missing[0], "no goroutine profile: goroutine: the body is not a pprof profile") {
		t.Errorf("missing %q", got.Missing)
	}
	fh, err := os.Open(got.Paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if p, err := profile.Parse(fh); err != nil || len(p.Sample) != 1 || p.Sample[0].Value[0] != 10_000_000 {
		t.Errorf("the encoded profile: %v %v", p, err)
	}

	// Nothing to save.
	cpuFailed := &pprof.ProfileResult{Kind: pprof.KindCPU, Status: source.Status{State: source.Unavailable,
		Detail: "pprof not served at http://127.0.0.1:8080/debug/pprof/"}}
	_, err = SaveProfiles(dir, &pprof.Snapshot{CPU: cpuFailed, Goroutine: failed}, at)
	if err == nil || !strings.Contains(err.Error(), "nothing to save: no cpu profile: pprof not served") {
		t.Errorf("nothing to save: %v", err)
	}
	if _, err := SaveProfiles(dir, nil, at); err == nil || !strings.Contains(err.Error(), "no pprof target") {
		t.Errorf("no target: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files, want the one CPU profile", len(entries))
	}
}

// TestSaveKeyNothing: w says why there is nothing to save.
func TestSaveKeyNothing(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		m    func() *Model
		want string
	}{
		{"no source", func() *Model { return New(Options{ExportDir: dir}) }, "nothing to save: no pprof target"},
		{"no pprof target", func() *Model {
			return New(Options{ExportDir: dir, Prober: &fakeProber{cfg: probe.Config{Sources: config.Sources{PG: "postgres://x"}}}})
		}, "nothing to save: no pprof target"},
		{"no profile yet", func() *Model {
			return New(Options{ExportDir: dir, Prober: &fakeProber{cfg: probe.Config{Sources: config.Sources{Target: "http://127.0.0.1:8080"}}}})
		}, "no CPU profile yet: p takes one, then w saves it"},
		{"profile without target", func() *Model {
			m := New(Options{ExportDir: dir})
			m.Update(ProfileMsg{Seconds: 5, At: fixtureStart})
			return m
		}, "nothing to save: no pprof target to profile"},
		{"profile failed", func() *Model {
			m := New(Options{ExportDir: dir})
			m.Update(ProfileMsg{Seconds: 5, At: fixtureStart, Profile: &pprof.Snapshot{Status: source.Status{State: source.Error},
				CPU:       &pprof.ProfileResult{Status: source.Status{State: source.Unavailable, Detail: "pprof not served at http://u:secret@h/debug/pprof/"}},
				Goroutine: &pprof.ProfileResult{Status: source.Status{State: source.Unavailable, Detail: "not collected in this round"}}}})
			return m
		}, "nothing to save: no cpu profile: pprof not served"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m()
			m.Update(sizeMsg(200, 24))
			feed(m, keyMsg("w"))
			if s := screen(t, m, 200, 24); !strings.Contains(s, c.want) || strings.Contains(s, "secret") {
				t.Errorf("w: %q, want %q", m.message, c.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}
