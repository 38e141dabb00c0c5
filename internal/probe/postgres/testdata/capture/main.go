// Command capture writes the EXPLAIN (FORMAT JSON) plans that the parser's
// tests read, from a real PostgreSQL: it plans queries over the system
// catalogs, so it needs no schema and writes nothing.
//
//	go run ./testdata/capture -dsn "$DSN" -out testdata
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// plans are the captured files and the queries that make them.
var plans = []struct{ file, query string }{
	// Index Scan with an Index Cond.
	{"plan_index_scan.json", "SELECT * FROM pg_class WHERE oid = 1259"},
	// Seq Scan with a Filter under a Sort under a Limit.
	{"plan_sort_limit.json", "SELECT relname, relpages FROM pg_class WHERE relkind = 'r' ORDER BY relpages DESC LIMIT 5"},
	// Hash Join with an aggregate, sort keys and group keys.
	{"plan_join_agg.json", `SELECT n.nspname, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname LIKE 'pg_%' GROUP BY n.nspname ORDER BY 2 DESC`},
	// Nested Loop, subquery and CTE.
	{"plan_nested.json", `WITH a AS (SELECT attrelid, count(*) AS n FROM pg_attribute GROUP BY attrelid)
		SELECT c.relname, a.n FROM a JOIN pg_class c ON c.oid = a.attrelid
		WHERE EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid) LIMIT 10`},
}

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL DSN")
	out := flag.String("out", "testdata", "directory for the plans")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, p := range plans {
		var plan string
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+p.query).Scan(&plan); err != nil {
			log.Fatalf("%s: %v", p.file, err)
		}
		if err := os.WriteFile(filepath.Join(*out, p.file), []byte(plan+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", p.file)
	}
}
