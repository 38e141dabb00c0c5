// Command capture writes testdata/client_golang.txt: the /metrics page of
// the metricstest service (client_golang with promhttp server and client
// instrumentation, Go runtime metrics, process, database/sql, pgxpool and
// go-redis pool collectors) after real requests against the private test
// stack's PostgreSQL and Redis.
//
// Regenerate from internal/probe/metrics (starts the test stack if needed):
//
//	go run ./testdata/capture -out testdata/client_golang.txt
package main

import (
	"context"
	"database/sql"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/probe/metrics/metricstest"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

func main() {
	out := flag.String("out", "testdata/client_golang.txt", "file to write")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg, err := stacktest.Config()
	if err != nil {
		log.Fatal(err)
	}
	st, err := stack.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	info, err := st.Up(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pcfg, err := pgxpool.ParseConfig(info.DSN)
	if err != nil {
		log.Fatal(err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	db, err := sql.Open("pgx", info.DSN)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	rdb := redis.NewClient(&redis.Options{Addr: info.RedisAddr, PoolSize: 2})
	defer rdb.Close()

	svc := metricstest.New(metricstest.Config{Pool: pool, DB: db, Redis: rdb, Process: true})
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	h = svc.Handler(srv.URL)

	metricstest.Drive(ctx, srv.URL, []string{"/orders", "/users/7", "/feed", "/cache", "/fail"}, 40, 8)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, body, 0o644); err != nil {
		log.Fatal(err)
	}
}
