package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
)

// configFlags say which config file report and attach read.
type configFlags struct {
	path string
	none bool
}

func (c *configFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.path, "config", "", `config file (default: the first .advisor.yaml or advisor.yaml from the working directory up; "" for none)`)
	fl.BoolVar(&c.none, "no-config", false, "read no config file")
}

// configChecks check the values of a config file that advisor report
// validates: the format names and the --fail-on thresholds.
var configChecks = config.Checks{
	Format: func(name string) error {
		_, err := report.ParseFormat(name)
		return err
	},
	FailOn: func(s string) error {
		_, err := rules.ParseThreshold(s)
		return err
	},
	Threshold: func(spec string) error {
		th := report.DefaultThresholds()
		return th.Set(spec)
	},
	MinConfidence: func(s string) error {
		_, err := rules.ParseConfidence(s)
		return err
	},
}

// load reads the config file that applies: the one --config names, else the
// one found from the working directory up (named on stderr, as the file the
// run uses), else none (--no-config, --config "", or nothing found).
func (c *configFlags) load(cmd *cobra.Command) (config.File, error) {
	given := cmd.Flags().Changed("config")
	if c.none && given && c.path != "" {
		return config.File{}, usageError{errors.New("--config and --no-config: give one")}
	}
	if c.none || (given && c.path == "") {
		return config.File{}, nil
	}
	path := c.path
	if !given {
		wd, err := os.Getwd()
		if err != nil {
			return config.File{}, fmt.Errorf("config: %w", err)
		}
		if path = config.Find(wd); path == "" {
			return config.File{}, nil
		}
		if rel, err := filepath.Rel(wd, path); err == nil {
			path = rel
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "advisor: config: %s\n", path)
	}
	file, err := config.LoadFile(path, configChecks)
	if err != nil {
		return config.File{}, usageError{err}
	}
	return file, nil
}

// fromFile takes each option of advisor report that the command line leaves
// unset from the config file: flag > file > default.
func (f *reportFlags) fromFile(fl *pflag.FlagSet, file config.File) {
	r := file.Report
	if !fl.Changed("format") && !fl.Changed("out") && len(r.Formats) > 0 {
		f.useFileFormats(r.Formats)
	}
	if !fl.Changed("fail-on") && r.FailOn != "" {
		f.failOn = r.FailOn
	}
	if !fl.Changed("min-confidence") && r.MinConfidence != "" {
		f.minConfidence = r.MinConfidence
	}
	if !fl.Changed("baseline") && r.Baseline != "" {
		f.baseline = r.Baseline
	}
	if !fl.Changed("window") && r.Window != nil {
		f.window = *r.Window
	}
	if !fl.Changed("profile-seconds") && r.ProfileSeconds != nil {
		f.profileSeconds = *r.ProfileSeconds
	}
	if !fl.Changed("fail-on-regression") && r.FailOnRegression != nil {
		f.failOnRegression = *r.FailOnRegression
	}
	f.fileThresholds = r.Thresholds
	if !fl.Changed("rules") && file.Rules != "" {
		f.rulesFile = file.Rules
	}
}

// useFileFormats takes the file's formats, FORMAT[:PATH] each, as if given
// with --format.
func (f *reportFlags) useFileFormats(formats []string) {
	f.formats, f.outs = slices.Clone(formats), nil
}
