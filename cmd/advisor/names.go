package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/sampleapp"
)

// Data set names of demo and tune's --size.
const (
	sizeSmall = "small"
	sizeFull  = "full"
	// sizeTest is tune's old name of the small set, still accepted.
	sizeTest = "test"
)

// parseSize reads --size: small (sampleapp's test set, seeded in seconds)
// or full (its benchmark set). tune's old name, test, is accepted with a
// deprecation note on stderr; name is set to the current name.
func parseSize(cmd *cobra.Command, name *string) (sampleapp.Size, error) {
	switch *name {
	case sizeSmall, "":
		*name = sizeSmall
		return sampleapp.TestSize, nil
	case sizeTest:
		fmt.Fprintf(cmd.ErrOrStderr(), "Flag --size %s has been deprecated, use --size %s\n", sizeTest, sizeSmall)
		*name = sizeSmall
		return sampleapp.TestSize, nil
	case sizeFull:
		return sampleapp.DefaultSize, nil
	}
	return sampleapp.Size{}, usageError{fmt.Errorf("--size %q: want %s or %s", *name, sizeSmall, sizeFull)}
}

// sizeUsage is the help of --size.
const sizeUsage = "data set: small (2k users, 50k events: seeds in seconds) or full (the benchmark set: 20k users, 1M events)"

// flagNotesToStderr makes pflag's notes on deprecated flags go to the
// command's standard error: cobra prints them to its standard output, where
// they would spoil a report or JSON.
func flagNotesToStderr(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().SetOutput(stderrOf{c})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// stderrOf writes to a command's standard error as it is when written to.
type stderrOf struct{ cmd *cobra.Command }

func (w stderrOf) Write(p []byte) (int, error) { return w.cmd.ErrOrStderr().Write(p) }
