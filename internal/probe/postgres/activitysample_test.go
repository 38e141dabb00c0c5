package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestSummariseActivity(t *testing.T) {
	if got := SummariseActivity(nil); got != nil {
		t.Errorf("no samples: %+v", got)
	}
	t0 := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	api := func(state, waitType string, n int) ActivityGroup {
		return ActivityGroup{Database: "shop", User: "api", Application: "api", ClientAddr: "10.0.0.5", State: state, WaitEventType: waitType, Count: n}
	}
	samples := []ActivitySample{
		{Time: t0, Groups: []ActivityGroup{
			api(StateActive, "", 2), api(StateActive, "Lock", 1), api(StateActive, "IO", 1), api(StateIdle, "Client", 4),
			// The same application from a Unix socket, on another database.
			{Database: "jobs", User: "worker", Application: "api", State: StateIdleInTransaction, WaitEventType: "Client", Count: 1},
		}},
		{Time: t0.Add(time.Second), Groups: []ActivityGroup{
			api(StateActive, "", 1), api(StateActive, "Lock", 3), api(StateIdle, "Client", 4),
			// Another user of the same client in the same group key.
			{Database: "shop", User: "admin", Application: "api", ClientAddr: "10.0.0.5", State: StateIdle, Count: 1},
		}},
		{Time: t0.Add(2 * time.Second), Groups: []ActivityGroup{
			{Database: "shop", User: "report", Application: "report", ClientAddr: "10.0.0.9", State: StateActive, WaitEventType: "IO", Count: 1},
		}},
	}
	got := SummariseActivity(samples)
	want := []ClientActivity{
		{Application: "api", ClientAddr: "10.0.0.5", Databases: []string{"shop"}, Users: []string{"admin", "api"},
			Samples: 3, Seen: 2,
			Sessions: SessionCount{Mean: 17.0 / 3, Max: 9},
			ByState: map[string]SessionCount{
				StateActive: {Mean: 8.0 / 3, Max: 4},
				StateIdle:   {Mean: 9.0 / 3, Max: 5},
			},
			Waiting:       SessionCount{Mean: 5.0 / 3, Max: 3},
			WaitingByType: map[string]SessionCount{"Lock": {Mean: 4.0 / 3, Max: 3}, "IO": {Mean: 1.0 / 3, Max: 1}},
			OnCPU:         SessionCount{Mean: 1, Max: 2},
		},
		// Ties in sessions: by application, then client address.
		{Application: "api", ClientAddr: "", Databases: []string{"jobs"}, Users: []string{"worker"},
			Samples: 3, Seen: 1,
			Sessions:      SessionCount{Mean: 1.0 / 3, Max: 1},
			ByState:       map[string]SessionCount{StateIdleInTransaction: {Mean: 1.0 / 3, Max: 1}},
			WaitingByType: map[string]SessionCount{},
		},
		{Application: "report", ClientAddr: "10.0.0.9", Databases: []string{"shop"}, Users: []string{"report"},
			Samples: 3, Seen: 1,
			Sessions:      SessionCount{Mean: 1.0 / 3, Max: 1},
			ByState:       map[string]SessionCount{StateActive: {Mean: 1.0 / 3, Max: 1}},
			Waiting:       SessionCount{Mean: 1.0 / 3, Max: 1},
			WaitingByType: map[string]SessionCount{"IO": {Mean: 1.0 / 3, Max: 1}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", got, want)
	}
	if c := got[0]; c.State(StateIdleInTransaction) != (SessionCount{}) || c.WaitingOn("IPC") != (SessionCount{}) ||
		c.WaitingOn("Lock").Max != 3 {
		t.Errorf("lookups: %+v", c)
	}
}

func TestConnectionLimits(t *testing.T) {
	if names := settingsFor(150000); slices.Contains(names, "reserved_connections") ||
		!slices.Contains(names, "max_connections") || !slices.Contains(names, "superuser_reserved_connections") {
		t.Errorf("settings read on 15: %v", names)
	}
	if names := settingsFor(160002); !slices.Contains(names, "reserved_connections") {
		t.Errorf("settings read on 16: %v", names)
	}
	if _, ok := (Settings{}).ConnectionLimits(); ok {
		t.Error("limits without max_connections")
	}
	l, ok := Settings{"max_connections": {Value: "100"}, "superuser_reserved_connections": {Value: "3"},
		"reserved_connections": {Value: "5"}}.ConnectionLimits()
	if !ok || l != (ConnectionLimits{Max: 100, SuperuserReserved: 3, Reserved: 5}) || l.Available() != 92 {
		t.Errorf("limits %+v (available %d)", l, l.Available())
	}
	l, _ = Settings{"max_connections": {Value: "2"}, "superuser_reserved_connections": {Value: "3"}}.ConnectionLimits()
	if l.Available() != 0 {
		t.Errorf("available %d of %+v", l.Available(), l)
	}
}

// TestConnectionLimitsRead: the server's part of a snapshot has the limits.
func TestConnectionLimitsRead(t *testing.T) {
	p := openProbe(t, fixture(t), Options{})
	s := p.Snapshot(context.Background())
	requireOK(t, "server", s.Server.Status)
	l, ok := s.Server.Settings.ConnectionLimits()
	if !ok || l.Max <= 0 || l.Available() <= 0 || l.Available() > l.Max {
		t.Errorf("limits %+v, %v", l, ok)
	}
	if _, ok := s.Server.Settings["superuser_reserved_connections"]; !ok {
		t.Error("superuser_reserved_connections not read")
	}
	if _, ok := s.Server.Settings["reserved_connections"]; ok != (s.Server.VersionNum >= pg16) {
		t.Errorf("reserved_connections read %v on %d", ok, s.Server.VersionNum)
	}
}

// TestActivitySummaryOfHeldSessions holds sessions of one application in
// known states (two idle, one idle in a transaction that holds a row lock,
// one waiting for that lock, two in pg_sleep), reads pg_stat_activity four
// times, one of the sleeps ending after the second reading, and checks the
// summary of the readings.
func TestActivitySummaryOfHeldSessions(t *testing.T) {
	dsn := fixture(t)
	ctx := context.Background()
	const app = "advisor-probe-activity-test"
	admin := adminConn(t, dsn)
	var user string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	connect := func() *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["application_name"] = app
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	for range 2 {
		if _, err := connect().Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	holder := connect()
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE users SET name = 'held' WHERE id = 11"); err != nil {
		t.Fatal(err)
	}
	// The waiter and the sleepers run until their statement is cancelled.
	type run struct {
		pid  uint32
		done chan error
	}
	start := func(sql string) run {
		c := connect()
		r := run{pid: c.PgConn().PID(), done: make(chan error, 1)}
		go func() {
			_, err := c.Exec(ctx, sql)
			r.done <- err
		}()
		return r
	}
	runs := []run{start("UPDATE users SET name = 'waiting' WHERE id = 11"), start("SELECT pg_sleep(60)"), start("SELECT pg_sleep(60)")}
	cancel := func(r run) {
		t.Helper()
		if _, err := admin.Exec(ctx, "SELECT pg_cancel_backend($1)", int32(r.pid)); err != nil {
			t.Fatal(err)
		}
		var pgErr *pgconn.PgError
		if err := <-r.done; !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Errorf("cancelled statement of pid %d: %v", r.pid, err)
		}
	}
	cancelled := map[uint32]bool{}
	t.Cleanup(func() {
		for _, r := range runs {
			if !cancelled[r.pid] {
				cancel(r)
			}
		}
		_ = tx.Rollback(context.Background())
	})
	// waitFor waits until the application's sessions are, by state and wait
	// event type, as want says.
	waitFor := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			rows, err := admin.Query(ctx, `SELECT state || '/' || coalesce(wait_event_type, ''), count(*)::int
				FROM pg_stat_activity WHERE application_name = $1 GROUP BY 1`, app)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			var key string
			var n int
			if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error { got[key] = n; return nil }); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sessions of %s: %v, want %v", app, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(map[string]int{"idle/Client": 2, "idle in transaction/Client": 1, "active/Lock": 1, "active/Timeout": 2})

	p := openProbe(t, dsn, Options{})
	snap := p.Snapshot(ctx)
	requireOK(t, "activity", snap.Activity.Status)
	samples := []ActivitySample{{Time: time.Now(), Groups: snap.Activity.Groups}}
	read := func() {
		t.Helper()
		a, err := p.ReadActivity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(samples) > 0 && a.Time.Before(samples[len(samples)-1].Time) {
			t.Errorf("reading at %s before the one at %s", a.Time, samples[len(samples)-1].Time)
		}
		samples = append(samples, a)
	}
	read()
	cancel(runs[1])
	cancelled[runs[1].pid] = true
	waitFor(map[string]int{"idle/Client": 3, "idle in transaction/Client": 1, "active/Lock": 1, "active/Timeout": 1})
	read()
	read()

	for _, s := range samples {
		for _, g := range s.Groups {
			if g.Application == ApplicationName {
				t.Errorf("advisor's own sessions counted: %+v", g)
			}
		}
	}
	var got *ClientActivity
	summary := SummariseActivity(samples)
	for i, c := range summary {
		if c.Application == app {
			if got != nil {
				t.Fatalf("two summaries of %s: %+v", app, summary)
			}
			got = &summary[i]
		}
	}
	if got == nil {
		t.Fatalf("no summary of %s in %+v", app, summary)
	}
	want := ClientActivity{Application: app, ClientAddr: "127.0.0.1", Databases: []string{testDB}, Users: []string{user},
		Samples: 4, Seen: 4,
		Sessions: SessionCount{Mean: 6, Max: 6},
		ByState: map[string]SessionCount{
			StateIdle:              {Mean: 2.5, Max: 3},
			StateIdleInTransaction: {Mean: 1, Max: 1},
			StateActive:            {Mean: 2.5, Max: 3},
		},
		Waiting:       SessionCount{Mean: 2.5, Max: 3},
		WaitingByType: map[string]SessionCount{"Lock": {Mean: 1, Max: 1}, "Timeout": {Mean: 1.5, Max: 2}},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", *got, want)
	}
}
