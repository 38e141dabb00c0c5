package servecmd

import (
	"testing"

	"github.com/pgadvisor/advisor/sampleapp"
)

func TestServeFlags(t *testing.T) {
	cmd := New()
	for _, name := range []string{"pg", "redis", "addr", "admin-addr", "profile", "knob", "workers",
		"block-profile-rate", "mutex-profile-fraction"} {
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

func TestServeProfilingFlags(t *testing.T) {
	defaults := New()
	for name, want := range map[string]int{
		"block-profile-rate":     sampleapp.BlockProfileRateNanos,
		"mutex-profile-fraction": sampleapp.MutexProfileFraction,
	} {
		if got, err := defaults.Flags().GetInt(name); err != nil || got != want {
			t.Errorf("--%s defaults to %d (%v), want %d", name, got, err, want)
		}
	}
	// The flags say 0 for off, as the runtime does; Config says negative.
	for _, tc := range []struct {
		flag    int
		want    int
		wantErr bool
	}{
		{flag: sampleapp.BlockProfileRateNanos, want: sampleapp.BlockProfileRateNanos},
		{flag: 1, want: 1},
		{flag: 0, want: -1},
		{flag: -5, wantErr: true},
	} {
		got, err := profilingFlag("block-profile-rate", tc.flag)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("profilingFlag(%d) = %d, %v; want %d (error %v)", tc.flag, got, err, tc.want, tc.wantErr)
		}
	}
	cmd := New()
	if err := cmd.Flags().Parse([]string{"--block-profile-rate", "0", "--mutex-profile-fraction", "100"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := cmd.Flags().GetInt("block-profile-rate"); got != 0 {
		t.Errorf("--block-profile-rate 0 parsed as %d", got)
	}
	if got, _ := cmd.Flags().GetInt("mutex-profile-fraction"); got != 100 {
		t.Errorf("--mutex-profile-fraction 100 parsed as %d", got)
	}
}
