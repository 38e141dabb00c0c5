package main

import (
	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/sampleapp/cmd/servecmd"
)

// sampleappServe is the command line, after advisor's own executable, that
// serves sampleapp: tune starts the service so, as a process of its own.
var sampleappServe = []string{"sampleapp", "serve"}

// newSampleappCmd is the hidden advisor sampleapp serve: sampleapp's own
// serve command, built into advisor so that tune can start the bundled
// service as a process of its own without a second binary. Its process's
// CPU, profile and GOMAXPROCS are then the service's alone, not shared with
// the load generator and the probes.
func newSampleappCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "sampleapp",
		Short:  "The bundled sample service, as tune starts it (sampleapp serve)",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	cmd.AddCommand(servecmd.New())
	return cmd
}
