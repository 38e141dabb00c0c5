// Package sampletest gives tests a database of the sample service holding a
// data set, copied from a template database that the first test to ask for
// that data set seeds, once per start of the private test stack.
//
// Seeding sampleapp.TestSize takes about 3 s of CPU (COPY, indexes, VACUUM
// ANALYZE); a fresh clone's make test seeded 23 databases. A copy of the
// template takes about half a second.
package sampletest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// templatePrefix starts the name of every template database this package
// makes.
const templatePrefix = "tmpl_sampleapp_"

// Database creates a fresh database named name (dropping any left from an
// earlier run) holding the sample service's schema, the size data set and
// the extensions of stacktest.NewDatabase, and returns its DSN. As after
// sampleapp.Seed, the tables are vacuumed and analysed; Seed with the same
// size finds the data set there and does nothing.
func Database(t testing.TB, name string, size sampleapp.Size) string {
	t.Helper()
	inf := stacktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, inf.DSN)
	if err != nil {
		t.Fatalf("connect to test stack: %v", err)
	}
	defer admin.Close(context.Background())

	tmpl, err := template(ctx, t, admin, size)
	if err != nil {
		t.Fatalf("template of %v: %v", size, err)
	}
	dsn := stacktest.CopyDatabase(t, name, tmpl)
	// A copy starts with empty table statistics (the cumulative
	// statistics are kept per database, not copied): vacuum and analyse
	// it as Seed does, so that rules reading them see a seeded database.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		t.Fatalf("vacuum analyze %s: %v", name, err)
	}
	return dsn
}

// template returns the name of the template database holding size's data
// set, seeding it if this start of the stack has none yet. An advisory
// lock makes the test packages of one run, which share the stack, seed it
// once; the name carries the stack's start time and the schema, so that a
// template from an earlier run or an older schema is never used, and is
// dropped.
func template(ctx context.Context, t testing.TB, admin *pgx.Conn, size sampleapp.Size) (string, error) {
	var started time.Time
	if err := admin.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started); err != nil {
		return "", fmt.Errorf("read the server's start time: %w", err)
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%s", size, sampleapp.SchemaVersion())
	name := fmt.Sprintf("%s%08x_%d", templatePrefix, h.Sum32(), started.Unix())

	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", templatePrefix); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", templatePrefix)
	}()
	var ready bool
	err := admin.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&ready)
	if err == nil && ready {
		return name, nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("look for %s: %w", name, err)
	}
	// Templates of earlier starts of the stack, and one left half-seeded.
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", templatePrefix)
	if err != nil {
		return "", fmt.Errorf("list templates: %w", err)
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("list templates: %w", err)
	}
	suffix := fmt.Sprintf("_%d", started.Unix())
	for _, o := range old {
		if o != name && strings.HasSuffix(o, suffix) {
			continue // another data set's, of this start
		}
		ident := pgx.Identifier{o}.Sanitize()
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE false ALLOW_CONNECTIONS true"); err != nil {
			return "", fmt.Errorf("unmark %s: %w", o, err)
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop %s: %w", o, err)
		}
	}
	dsn := stacktest.NewDatabase(t, name)
	if _, err := sampleapp.Seed(ctx, dsn, size, false); err != nil {
		return "", fmt.Errorf("seed %s: %w", name, err)
	}
	// No connection to a template, not even autovacuum's: CREATE DATABASE
	// refuses to copy a database someone is connected to.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("mark %s as a template: %w", name, err)
	}
	return name, nil
}
