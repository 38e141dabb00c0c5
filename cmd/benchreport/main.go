// Command benchreport runs the benchmarks whose figures docs/benchmarks.md
// quotes, with the settings it quotes, and rewrites the document's table
// from their output: `make bench-report` runs every row; --only refreshes
// some and keeps the others as they were. Run it from the repository's
// root.
//
//	go run ./cmd/benchreport --list
//	go run ./cmd/benchreport --only ui-view
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pgadvisor/advisor/internal/benchreport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], benchreport.All, os.Stdout, os.Stderr))
}

// run is the command on the rows all.
func run(ctx context.Context, args []string, all []benchreport.Row, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "refresh only these rows (ids, comma-separated); the others stay as they are")
	list := fs.Bool("list", false, "list the rows: id, command")
	dryRun := fs.Bool("dry-run", false, "print the table instead of writing the document")
	doc := fs.String("doc", "docs/benchmarks.md", "the document whose table is rewritten")
	logDir := fs.String("log-dir", "bin/bench-report", "keep each job's output here")
	noRun := fs.Bool("no-run", false, "run nothing: rewrite the table with the rows of the list, a new one as not measured yet")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchreport: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *list {
		for _, r := range all {
			fmt.Fprintf(stdout, "%-22s %s\n", r.ID, r.Job.Command)
		}
		return 0
	}
	rows := all
	if *only != "" {
		var err error
		if rows, err = benchreport.Select(all, strings.Split(*only, ",")); err != nil {
			fmt.Fprintln(stderr, "benchreport: --only:", err)
			return 2
		}
	}
	before, err := os.ReadFile(*doc)
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 1
	}
	// Refuse a document without markers before hours of benchmarks.
	if _, err := benchreport.DocRows(before); err != nil {
		fmt.Fprintf(stderr, "benchreport: %s: %v\n", *doc, err)
		return 1
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 1
	}
	var measured map[string]benchreport.Measured
	var runErr error
	if !*noRun {
		measured, runErr = benchreport.Run(ctx, benchreport.Config{Root: root, LogDir: *logDir, Progress: stderr}, rows)
	}
	// Read again: the document may have been edited while the jobs ran.
	cur, err := os.ReadFile(*doc)
	if err != nil {
		fmt.Fprintln(stderr, "benchreport:", err)
		return 1
	}
	updated, err := benchreport.Update(cur, all, measured)
	if err != nil {
		fmt.Fprintf(stderr, "benchreport: %s: %v\n", *doc, err)
		return 1
	}
	if *dryRun {
		old, _ := benchreport.DocRows(cur)
		fmt.Fprint(stdout, benchreport.Table(all, measured, old))
	} else if len(measured) > 0 || *noRun {
		if err := os.WriteFile(*doc, updated, 0o644); err != nil {
			fmt.Fprintln(stderr, "benchreport:", err)
			return 1
		}
		fmt.Fprintf(stderr, "benchreport: wrote %d row(s) of %s\n", len(measured), *doc)
	}
	if runErr != nil {
		var jerr *benchreport.JobError
		if errors.As(runErr, &jerr) {
			fmt.Fprintln(stderr, "benchreport: failed, rows left as they were:")
		}
		fmt.Fprintln(stderr, runErr)
		return 1
	}
	return 0
}
