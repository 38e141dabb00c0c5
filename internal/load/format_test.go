package load

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mixedResult(t *testing.T) *Result {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	return run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 300, Seed: 3, Mix: []Entry{
		{Name: "ok", Weight: 2, Path: "/ok"}, {Name: "fail", Path: "/fail"},
	}})
}

func TestWriteJSON(t *testing.T) {
	res := mixedResult(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	wantTop := []string{"answered", "connections", "elapsed_ms", "errors", "errors_by_kind", "latency", "per_entry", "requests", "rps", "schema"}
	if got := keys(doc); !reflect.DeepEqual(got, wantTop) {
		t.Errorf("top-level keys %v, want %v", got, wantTop)
	}
	wantLatency := []string{"max_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"}
	lat := doc["latency"].(map[string]any)
	if got := keys(lat); !reflect.DeepEqual(got, wantLatency) {
		t.Errorf("latency keys %v, want %v", got, wantLatency)
	}
	if got, want := lat["p99_ms"].(float64), float64(res.Latency.P99)/1e6; got != want || got <= 0 {
		t.Errorf("p99_ms %v, want %v (milliseconds)", got, want)
	}
	if got, want := doc["elapsed_ms"].(float64), float64(res.Elapsed)/1e6; got != want {
		t.Errorf("elapsed_ms %v, want %v", got, want)
	}
	if doc["schema"] != Schema || doc["requests"].(float64) != 300 {
		t.Errorf("schema %v requests %v", doc["schema"], doc["requests"])
	}
	fail := doc["per_entry"].(map[string]any)["fail"].(map[string]any)
	wantEntry := []string{"answered", "errors", "errors_by_kind", "latency", "requests"}
	if got := keys(fail); !reflect.DeepEqual(got, wantEntry) {
		t.Errorf("entry keys %v, want %v", got, wantEntry)
	}
	if fail["errors_by_kind"].(map[string]any)["status 500"].(float64) != float64(res.PerEntry["fail"].Requests) {
		t.Errorf("entry errors %v", fail["errors_by_kind"])
	}

	// What tune reads back is what was written, histograms aside.
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	want := *res
	want.Histogram = nil
	want.PerEntry = map[string]*EntryResult{}
	for name, e := range res.PerEntry {
		c := *e
		c.Histogram = nil
		want.PerEntry[name] = &c
	}
	if !reflect.DeepEqual(back.PerEntry, want.PerEntry) || back.Requests != want.Requests ||
		back.Latency != want.Latency || back.Elapsed != want.Elapsed || !reflect.DeepEqual(back.ErrorsByKind, want.ErrorsByKind) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
	}
}

func TestWriteText(t *testing.T) {
	res := mixedResult(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"2 connections, closed loop",
		"Requests  300 in ",
		" req/s",
		"status 500: ",
		"p50 ", "p90 ", "p95 ", "p99 ", "max ", "mean ",
		"entry  requests  share  errors",
		"\n  fail ",
		"errors of fail: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("control characters in\n%q", out)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Microsecond:   "850µs",
		12345 * time.Microsecond: "12.35ms",
		1234 * time.Millisecond:  "1.234s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
