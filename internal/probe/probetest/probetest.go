// Package probetest makes the large inputs the probes' benchmarks need: a
// CPU profile of about 20 MB and a database with 2,000+ distinct statements
// in pg_stat_statements. Both are generated, deterministically, rather than
// kept in the repository.
package probetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/jackc/pgx/v5"
)

// CPUProfile writes a CPU profile (gzipped protobuf) of nSamples samples of
// depth frames drawn from nFuncs functions; every second sample runs under
// an HTTP handler (net/http serve frames at its root). CPUProfile(20000,
// 400000, 24) is about 20 MB.
func CPUProfile(nFuncs, nSamples, depth int) ([]byte, error) {
	r := rand.New(rand.NewPCG(1, 2))
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10000000,
	}
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x8000000, File: "service"}
	p.Mapping = []*profile.Mapping{m}
	newLoc := func(name string) *profile.Location {
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name, Filename: "src/" + name + ".go"}
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: m, Address: 0x400000 + uint64(len(p.Location))*16,
			Line: []profile.Line{{Function: f, Line: int64(len(p.Location)%900 + 1)}}}
		p.Location = append(p.Location, l)
		return l
	}
	serve, sh, mux := newLoc("net/http.(*conn).serve"), newLoc("net/http.serverHandler.ServeHTTP"), newLoc("net/http.(*ServeMux).ServeHTTP")
	locs := make([]*profile.Location, 0, nFuncs)
	for i := 0; i < nFuncs; i++ {
		locs = append(locs, newLoc(fmt.Sprintf("example.com/svc/pkg%d.Func%d", i%97, i)))
	}
	for i := 0; i < nSamples; i++ {
		s := &profile.Sample{Value: []int64{1, 10000000}}
		for d := 0; d < depth; d++ {
			s.Location = append(s.Location, locs[r.IntN(len(locs))])
		}
		if i%2 == 0 {
			s.Location = append(s.Location, mux, sh, serve)
		}
		p.Sample = append(p.Sample, s)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return nil, fmt.Errorf("write profile: %w", err)
	}
	return buf.Bytes(), nil
}

// FillStatements creates two tables of ten columns in the database dsn names
// and runs, once each, a select of every non-empty subset of the columns
// from each table: 2,046 statements that normalise to distinct queryids.
// The database must have pg_stat_statements loaded for them to be recorded.
func FillStatements(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var cols []string
	for i := 0; i < 10; i++ {
		cols = append(cols, fmt.Sprintf("c%d int DEFAULT %d", i, i))
	}
	tables := []string{"bench_a", "bench_b"}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "CREATE TABLE "+t+" (id int PRIMARY KEY, "+strings.Join(cols, ", ")+
			"); INSERT INTO "+t+" (id) SELECT generate_series(1, 100)"); err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
	}
	batch := &pgx.Batch{}
	for _, t := range tables {
		for mask := 1; mask < 1<<10; mask++ {
			var sel []string
			for i := 0; i < 10; i++ {
				if mask&(1<<i) != 0 {
					sel = append(sel, fmt.Sprintf("c%d", i))
				}
			}
			batch.Queue("SELECT "+strings.Join(sel, ", ")+" FROM "+t+" WHERE id = $1", mask%100+1)
		}
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("run statements: %w", err)
	}
	return nil
}

// ClosedAddr returns a loopback host:port where nothing listens: a source
// that is down. The port stays bound, without listening, until the test
// ends: a connection to it is refused, and no other process (a server
// another test starts, an outgoing connection's local port) can take it
// meanwhile. Closing a listener and handing out its port, as this did
// before, let another process take the port between the close and the
// dial, and the dial then read EOF instead of a refusal.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("closed address: socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("closed address: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("closed address: getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("closed address: getsockname gave %T", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}
