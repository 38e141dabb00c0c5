package sampletest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// TestDatabase: two databases of one data set are copies of one template,
// each holding the data set as Seed leaves it (Seed then does nothing),
// with analysed tables; the template takes no connections.
func TestDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the private test stack")
	}
	size := sampleapp.Size{Users: 40, Events: 400, Products: 10, Orders: 20, PayloadBytes: 100}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{"sampletest_a", "sampletest_b"} {
		dsn := Database(t, name, size)
		res, err := sampleapp.Seed(ctx, dsn, size, false)
		if err != nil || !res.Already {
			t.Fatalf("%s: seed after the copy: %+v, %v (want the data set already there)", name, res, err)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var users, live int64
		var analysed bool
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&users); err != nil || users != size.Users {
			t.Errorf("%s: %d users (%v), want %d", name, users, err, size.Users)
		}
		err = conn.QueryRow(ctx, "SELECT n_live_tup, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'events'").Scan(&live, &analysed)
		if err != nil || live != size.Events || !analysed {
			t.Errorf("%s: events table statistics: %d live rows, analysed %v (%v), want %d and true", name, live, analysed, err, size.Events)
		}
		var exts int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname IN ('pg_stat_statements', 'hypopg')").Scan(&exts); err != nil || exts != 2 {
			t.Errorf("%s: %d of the two extensions (%v)", name, exts, err)
		}
		conn.Close(ctx)
	}
	admin, err := pgx.Connect(ctx, stacktest.Start(t).DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var templates int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1) AND datistemplate AND NOT datallowconn",
		templatePrefix).Scan(&templates); err != nil || templates < 1 {
		t.Errorf("%d templates that take no connections (%v)", templates, err)
	}
}
