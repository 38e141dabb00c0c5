package main

import (
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

func TestServeFlags(t *testing.T) {
	cmd := serveCmd()
	for _, name := range []string{"pg", "redis", "addr", "admin-addr", "profile", "knob", "workers"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("serve has no --%s", name)
		}
	}
	if err := cmd.Flags().Parse([]string{"--profile", "naive", "--knob", "index=present", "--knob", "pool=tiny"}); err != nil {
		t.Fatal(err)
	}
	knobs, _ := cmd.Flags().GetStringArray("knob")
	if len(knobs) != 2 {
		t.Errorf("knobs %v", knobs)
	}
}
