package tune

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// TestMain fails the run if a goroutine is left running, and removes the
// sampleapp binary the benchmarks built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest.NewTestModel waits for a SIGINT on a channel of its own, which nothing else can close.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"),
		goleak.Cleanup(func(code int) {
			sampletest.RemoveBinaries()
			os.Exit(code)
		}))
}
