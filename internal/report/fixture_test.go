package report

import (
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/rules"
)

// fixtureTime is when the fixture report was generated.
var fixtureTime = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// fixtureFindings returns findings of every severity: one with SQL, one with
// code, one with configuration, locations of both kinds (absolute under the
// work directory, module-relative), one the baseline knows, and a source
// that was unavailable. Values are floats and strings, as the findings of a
// JSON report decode.
func fixtureFindings() []rules.Finding {
	return []rules.Finding{
		{
			Rule:     "db.unused-index",
			Severity: rules.Info,
			Title:    "Index events_old_idx has not been scanned since the statistics reset",
			Subject:  "public.events_old_idx",
			Evidence: map[string]any{"idx_scan": 0.0, "size_bytes": 48_775_168.0},
			Fix: rules.Fix{
				Summary: "Drop the index after checking that no replica or rare job uses it.",
				SQL:     "DROP INDEX CONCURRENTLY public.events_old_idx;",
			},
			Impact:     0.01,
			Confidence: rules.ConfidenceOf(1, "cumulative statistics"),
		},
		{
			Rule:     "db.missing-index",
			Severity: rules.Critical,
			Title:    "Sequential scans of events filter on user_id: an index would remove them",
			Subject:  "public.events",
			Evidence: map[string]any{
				"calls_per_s":         118.4,
				"mean_ms":             42.75,
				"seq_scan_per_s":      118.4,
				"rows_per_scan":       250000.0,
				"cost_before":         18534.12,
				"cost_after":          8.46,
				"hypothetical_index":  "events (user_id, created_at DESC)",
				"share_of_db_time":    0.62,
				"example_query_short": "SELECT id, kind, created_at FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
			},
			Fix: rules.Fix{
				Summary: "Create the index concurrently, then check the plan uses it.",
				SQL: "CREATE INDEX CONCURRENTLY events_user_id_created_at_idx\n" +
					"    ON public.events (user_id, created_at DESC);",
			},
			Impact:     0.62,
			Confidence: rules.ConfidenceOf(1, "verified with hypopg"),
		},
		{
			Rule:     "app.blocking-io",
			Severity: rules.Critical,
			Title:    "Request goroutines of GET /api/orders wait on network I/O",
			Subject:  "GET /api/orders",
			Evidence: map[string]any{"share_of_request_time": 0.41, "goroutines_waiting": 37.0},
			Fix: rules.Fix{
				Summary: "Move the call out of the request path or give it a deadline.",
			},
			Location:   "github.com/acme/shop/internal/orders/handler.go:87",
			Impact:     0.41,
			Confidence: rules.ConfidenceOf(0.45, "4 samples"),
		},
		{
			Rule:     "app.inline-work",
			Severity: rules.Warning,
			Title:    "POST /api/orders sends e-mail inside the handler",
			Subject:  "POST /api/orders",
			Evidence: map[string]any{"share_of_request_time": 0.33, "smtp_calls_per_request": 1.0},
			Fix: rules.Fix{
				Summary: "Enqueue the e-mail on a background queue and return at once.",
				Code: "_, err := river.Insert(ctx, SendReceiptArgs{OrderID: order.ID}, nil)\n" +
					"if err != nil {\n" +
					"\treturn fmt.Errorf(\"enqueue receipt: %w\", err)\n" +
					"}",
			},
			Location:   "/srv/shop/internal/mail/send.go:41",
			Impact:     0.33,
			Confidence: rules.ConfidenceOf(0.63, "8 samples"),
		},
		{
			Rule:     "pool.oversized",
			Severity: rules.Warning,
			Title:    "Pools may open 240 connections but max_connections is 100",
			Subject:  "pgxpool main",
			Evidence: map[string]any{"pool_max_conns": 240.0, "max_connections": 100.0, "instances": 3.0},
			Fix: rules.Fix{
				Summary: "Size each instance's pool so that their sum stays under max_connections.",
				Config:  map[string]string{"pool_max_conns": "30", "pool_min_conns": "4"},
			},
			Impact:     0.2,
			Confidence: rules.ConfidenceOf(0.71, "5 s of window"),
		},
		{
			Rule:     "db.n-plus-one",
			Severity: rules.Warning,
			Title: "SELECT on order_items runs once per row of the order list: 51 statements " +
				"per request on GET /api/orders where one join or an IN list would do",
			Subject:  "queryid -4242424242",
			Evidence: map[string]any{"calls_per_request": 51.0, "calls_per_s": 2040.5, "mean_ms": 0.21},
			Fix: rules.Fix{
				Summary: "Load the items of all orders in one query (WHERE order_id = ANY($1)) " +
					"or join them to the order list query.",
			},
			Impact:     0.18,
			Confidence: rules.ConfidenceOf(0.92, "84 calls"),
		},
		{
			Rule:     "probe.unavailable",
			Severity: rules.Info,
			Title:    "Redis could not be probed",
			Subject:  "redis",
			Evidence: map[string]any{"error": "dial tcp 127.0.0.1:6379: connect: connection refused"},
			Fix:      rules.Fix{Summary: "Pass --redis ADDR or set REDIS_URL to the service's Redis."},
		},
	}
}

// fixtureSources are the sources of the fixture report: Redis down.
func fixtureSources() map[string]Source {
	return map[string]Source{
		probe.Pprof:    {Status: StatusOK, Detail: "http://127.0.0.1:8080/debug/pprof/"},
		probe.Metrics:  {Status: StatusOK, Detail: "http://127.0.0.1:8080/metrics"},
		probe.Postgres: {Status: StatusOK, Detail: "pg_stat_statements 1.10, hypopg 1.4.0", Version: "15.8"},
		probe.Redis: {Status: StatusUnavailable, Detail: "dial tcp 127.0.0.1:6379: connect: connection " +
			"refused; pass --redis ADDR or set REDIS_URL"},
	}
}

// fixtureBaseline holds the pool.oversized finding as an earlier run saw
// it: other numbers and title, same rule and subject.
func fixtureBaseline() Baseline {
	return NewBaseline([]rules.Finding{{
		Rule:     "pool.oversized",
		Severity: rules.Critical,
		Title:    "Pools may open 300 connections but max_connections is 100",
		Subject:  "pgxpool main",
		Evidence: map[string]any{"pool_max_conns": 300.0},
	}})
}

// fixtureReport is the report every golden file prints.
func fixtureReport() *Report {
	return New(fixtureTime, 10*time.Second, fixtureSources(), fixtureFindings(), fixtureBaseline())
}

// fixtureRules documents some rules: those with findings but no entry here
// (db.n-plus-one, db.unused-index, probe.unavailable) are added from the
// findings, and redis.evictions has no finding.
func fixtureRules() []RuleInfo {
	return []RuleInfo{
		{
			ID: "app.blocking-io", Severity: rules.Critical,
			Title:     "Request goroutines block on I/O",
			Why:       "A handler that waits on the network or the disk holds its goroutine and its client for the whole wait.",
			Detection: "Goroutine and CPU profiles: request goroutines parked in network or file reads, by call site.",
			Fix:       "Move the call out of the request path, batch it, or bound it with a context deadline.",
			Links:     []string{"https://pkg.go.dev/net/http/pprof"},
		},
		{
			ID: "app.inline-work", Severity: rules.Warning,
			Title:     "Work the response does not need runs in the handler",
			Why:       "E-mail, PDFs and webhooks add their latency to every request.",
			Detection: "Profiles: SMTP, PDF generation and outbound webhooks under request handlers.",
			Fix:       "Enqueue the work on a background queue.",
		},
		{
			ID: "db.missing-index", Severity: rules.Critical,
			Title:     "Sequential scans that a B-tree index would remove",
			Why:       "A sequential scan reads the whole table on every call.",
			Detection: "pg_stat_statements and pg_stat_user_tables find the scans; hypopg and EXPLAIN verify the index.",
			Fix:       "CREATE INDEX CONCURRENTLY with the columns the planner would use.",
			Links:     []string{"https://www.postgresql.org/docs/current/indexes.html", "https://hypopg.readthedocs.io/"},
		},
		{
			ID: "pool.oversized", Severity: rules.Warning,
			Title: "Connection pools larger than the server allows",
			Why:   "Past max_connections new connections fail; past the cores they only queue inside PostgreSQL.",
			Fix:   "Size pools from measurements: cores * 2 + spindles is a starting point.",
		},
		{
			ID: "redis.evictions", Severity: rules.Warning,
			Title: "Redis evicts keys",
		},
	}
}

// fixtureOptions are the printer options of the golden files.
func fixtureOptions() Options {
	return Options{
		Rules:       fixtureRules(),
		FailOn:      rules.Warning,
		ToolVersion: "0.1.0",
		WorkDir:     "/srv/shop",
		ModulePath:  "github.com/acme/shop",
		Anchor:      "advisor.yaml",
	}
}
