package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The captures under testdata are wrk's real output, made with
// `wrk -t2 -c50 -d1s --timeout 2s URL` against `wrkcompare -serve` (URL/ for
// wrk-ok.txt, URL/missing for wrk-non2xx.txt).
func TestParseWrk(t *testing.T) {
	ok, err := os.ReadFile("testdata/wrk-ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	rps, err := parseWrk(ok)
	if err != nil || rps != 47610.82 {
		t.Errorf("parseWrk = %v, %v; want 47610.82", rps, err)
	}
	bad, err := os.ReadFile("testdata/wrk-non2xx.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseWrk(bad); err == nil || !strings.Contains(err.Error(), "errors") {
		t.Errorf("non-2xx responses not refused: %v", err)
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Error("no error without a Requests/sec line")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {nil, 0}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.json")
	if err := writeSummary(path, summary{Rounds: 5, RatioOfMedians: 0.99, MedianRatio: 0.98}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil || got["ratio_of_medians"] != 0.99 || got["median_of_ratios"] != 0.98 || got["rounds"] != 5.0 {
		t.Errorf("%v, %v:\n%s", got, err, data)
	}
}
