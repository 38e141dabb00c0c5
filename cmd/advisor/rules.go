package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/rules"
)

// explainWidth is the width `rules explain` wraps its text to, so that it
// reads in an 80-column terminal.
const explainWidth = 78

func newRulesCmd() *cobra.Command { return newRulesCmdWith(rules.Builtin) }

// newRulesCmdWith builds the rules command over a detector registry, so that
// tests can give it a fixed one.
func newRulesCmdWith(registry func() rules.Registry) *cobra.Command {
	var rulesFile string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rules and explain one",
		Long: `rules lists the rules advisor checks, with their severity, whether they are
enabled and whether this build has their detector, and explains one: its
thresholds, why it matters, how it is detected and how to fix it.

--rules FILE merges a rules file over the built-in rules.yaml: change a
rule's severity, thresholds (params), title or fix templates, or disable it,
without recompiling.`,
	}
	cmd.PersistentFlags().StringVar(&rulesFile, "rules", "", "rules file merged over the built-in rules.yaml")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := loadRuleSet(rulesFile)
			if err != nil {
				return err
			}
			return writeRulesList(cmd.OutOrStdout(), set, registry())
		},
	}
	explain := &cobra.Command{
		Use:   "explain ID",
		Short: "Explain a rule: thresholds, why, detection, fix",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := loadRuleSet(rulesFile)
			if err != nil {
				return err
			}
			r := set.Rule(args[0])
			if r == nil {
				return usageError{unknownRuleError(args[0])}
			}
			_, has := registry()[r.ID]
			return writeRuleExplain(cmd.OutOrStdout(), r, has)
		},
	}
	cmd.AddCommand(list, explain)
	return cmd
}

// loadRuleSet loads the built-in rules with the --rules file over them; any
// problem of the file is a usage error (exit 2) listing every error with its
// file:line:column.
func loadRuleSet(path string) (*rules.Set, error) {
	set, err := rules.Default(path)
	if err != nil {
		var errs rules.Errors
		if errors.As(err, &errs) {
			return nil, usageError{fmt.Errorf("invalid rules file:\n%w", err)}
		}
		return nil, usageError{err}
	}
	return set, nil
}

func unknownRuleError(id string) error {
	if near := rules.Suggest(id); len(near) > 0 {
		return fmt.Errorf("unknown rule id %q; did you mean %s?", id, strings.Join(near, ", "))
	}
	return fmt.Errorf("unknown rule id %q; 'advisor rules list' shows them all", id)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeRulesList(w io.Writer, set *rules.Set, reg rules.Registry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tENABLED\tDETECTOR\tSUMMARY")
	detectors := 0
	for _, r := range set.Rules {
		_, has := reg[r.ID]
		if has {
			detectors++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, yesNo(r.Enabled), yesNo(has), r.Docs.Summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d rules, %d with a detector in this build. 'advisor rules explain ID' explains one.\n",
		len(set.Rules), detectors)
	return err
}

func writeRuleExplain(w io.Writer, r *rules.Rule, hasDetector bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\n", r.ID, r.Docs.Summary)
	detector := "yes"
	if !hasDetector {
		detector = "no (this build does not run this rule yet)"
	}
	fmt.Fprintf(&b, "  severity  %s\n  enabled   %s\n  detector  %s\n", r.Severity, yesNo(r.Enabled), detector)

	b.WriteString("\nParameters\n")
	if len(r.Params) == 0 {
		b.WriteString("  none\n")
	}
	nameWidth := 0
	for _, p := range r.Params {
		nameWidth = max(nameWidth, len(p.Name))
	}
	for _, p := range r.Params {
		// Long values (lists) wrap under the value column.
		fmt.Fprintf(&b, "  %-*s  ", nameWidth, p.Name)
		var v strings.Builder
		writeWrapped(&v, formatParam(p.Value), strings.Repeat(" ", nameWidth+4), explainWidth)
		b.WriteString(strings.TrimLeft(v.String(), " "))
	}
	if r.Docs.Thresholds != "" {
		b.WriteString("\nThresholds and their source\n")
		writeWrapped(&b, r.Docs.Thresholds, "  ", explainWidth)
	}
	for _, s := range []struct{ head, text string }{
		{"Why it matters", r.Docs.Why},
		{"How it is detected", r.Docs.Detection},
		{"How to fix", r.Docs.Fix},
	} {
		fmt.Fprintf(&b, "\n%s\n", s.head)
		writeWrapped(&b, s.text, "  ", explainWidth)
	}
	b.WriteString("\nLinks\n")
	for _, l := range r.Docs.Links {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "\nChange it in a file given with --rules:\n  rules:\n    - id: %s\n", r.ID)
	if len(r.Params) > 0 {
		p := r.Params[0]
		fmt.Fprintf(&b, "      params: {%s: %s}\n", p.Name, formatParam(p.Value))
	}
	b.WriteString("      # severity: critical | warning | info, enabled: false\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// formatParam writes a param value as it would be written in rules.yaml.
func formatParam(v any) string {
	switch x := v.(type) {
	case float64:
		// 20.0, not 20: a number param also takes fractions.
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

// writeWrapped writes text wrapped to width with the given indent:
// paragraphs (separated by blank lines) are refilled, lines indented by four
// spaces or more (code) are kept as they are.
func writeWrapped(b *strings.Builder, text, indent string, width int) {
	var words []string
	flush := func() {
		line := indent
		for _, word := range words {
			if line != indent && len(line)+1+len(word) > width {
				b.WriteString(line + "\n")
				line = indent
			}
			if line != indent {
				line += " "
			}
			line += word
		}
		if line != indent {
			b.WriteString(line + "\n")
		}
		words = nil
	}
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			b.WriteString("\n")
		case strings.HasPrefix(line, "    "):
			flush()
			b.WriteString(indent + line + "\n")
		default:
			words = append(words, strings.Fields(line)...)
		}
	}
	flush()
}
