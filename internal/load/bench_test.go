package load

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
)

// cannedServer answers every GET on 127.0.0.1 with the same small response,
// reading requests with no allocation, so that a benchmark measures the
// engine's own cost.
func cannedServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the empty line ending the request
						if _, err := conn.Write(resp); err != nil {
							return
						}
					}
				}
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// BenchmarkRun measures the engine's cost per request in closed loop; run
// with -benchmem to see that a request allocates nothing (what remains is
// the setup of the run, spread over b.N).
func BenchmarkRun(b *testing.B) {
	url := cannedServer(b)
	for _, conns := range []int{1, 16} {
		b.Run(map[int]string{1: "conns=1", 16: "conns=16"}[conns], func(b *testing.B) {
			b.ReportAllocs()
			res, err := Run(context.Background(), Config{
				BaseURL: url, Connections: conns, MaxRequests: int64(b.N),
				Mix:  []Entry{{Path: "/users/{id}"}},
				Vars: map[string]Range{"id": {Min: 1, Max: 1000}},
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				b.Fatal(err)
			}
			if res.Errors != 0 || res.Requests != int64(b.N) {
				b.Fatalf("requests %d errors %v", res.Requests, res.ErrorsByKind)
			}
			b.ReportMetric(res.RPS, "req/s")
		})
	}
}
