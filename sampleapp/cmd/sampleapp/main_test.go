package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/sampleapp"
)

func TestKnobHelp(t *testing.T) {
	help := knobHelp()
	for _, k := range sampleapp.Knobs {
		if !strings.Contains(help, k.Name) || !strings.Contains(help, strings.Join(k.Values, ", ")) {
			t.Errorf("--help does not explain knob %s and its values", k.Name)
		}
	}
}

func TestBenchJSONFlag(t *testing.T) {
	if benchCmd().Flags().Lookup("json") == nil {
		t.Fatal("bench has no --json")
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := writeSummary(path, sampleapp.BenchSummary{Rounds: 3, RPSRatio: sampleapp.Spread{Median: 20, Min: 10, Max: 30}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got sampleapp.BenchSummary
	if err := json.Unmarshal(data, &got); err != nil || got.Rounds != 3 || got.RPSRatio.Max != 30 {
		t.Errorf("read back %+v, %v:\n%s", got, err, data)
	}
}
