// Command wrkcompare measures the requests per second of the load engine
// (package load, what `advisor load` runs) against wrk's, on the same
// loopback endpoint, in one run.
//
// It starts a small Go HTTP server in a child process (this program run
// with -serve) returning a small JSON body, then runs, alternating the order
// in every round, the engine (in this process, which does nothing else
// meanwhile) and `wrk -t2` with the same connections and duration, takes the
// median of the rounds for each, and prints the ratio engine/wrk with the
// target (>= 0.90). Both tools get the same conditions: the server and the
// generator share the machine's cores, and nothing is pinned.
//
// Run it from the repository root with:
//
//	go run ./internal/load/cmd/wrkcompare -c 50 -d 5s -rounds 5
//
// -json FILE also writes the figures as JSON (make bench-report reads it).
//
// It needs wrk in PATH (Debian: apt-get install wrk) and exits with status
// 2 and a message saying so when wrk is absent; make test does not run it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
)

func main() {
	serve := flag.Bool("serve", false, "run the HTTP server (the child process)")
	conns := flag.Int("c", 50, "connections, for both tools")
	threads := flag.Int("t", 2, "wrk threads (-t)")
	dur := flag.Duration("d", 5*time.Second, "duration of each measurement")
	rounds := flag.Int("rounds", 5, "rounds; each runs both tools, alternating which goes first")
	warmup := flag.Duration("warmup", time.Second, "warm-up run of each tool before the rounds")
	timeout := flag.Duration("timeout", 2*time.Second, "per-request timeout, for both tools (wrk's default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (the engine's runs) to this file")
	jsonFile := flag.String("json", "", "also write the figures as JSON to this file")
	flag.Parse()

	if *serve {
		if err := runServer(); err != nil {
			fmt.Fprintln(os.Stderr, "wrkcompare server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wrkcompare:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "wrkcompare:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	sum, code, err := compare(ctx, *conns, *threads, *dur, *rounds, *warmup, *timeout)
	if err == nil && *jsonFile != "" {
		if err = writeSummary(*jsonFile, sum); err != nil {
			code = 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wrkcompare:", err)
	}
	if code != 0 {
		os.Exit(code)
	}
}

// body is the server's answer, a small JSON document.
var body = []byte(`{"id":42,"name":"Ada Lovelace","email":"ada@example.com","active":true}` + "\n")

func runServer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// The parent closes our stdin when it is done.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// summary is what -json writes.
type summary struct {
	Connections int     `json:"connections"`
	DurationS   float64 `json:"duration_s"`
	Rounds      int     `json:"rounds"`
	EngineRPS   float64 `json:"engine_rps_median"`
	WrkRPS      float64 `json:"wrk_rps_median"`
	// RatioOfMedians is engine/wrk of the medians; MedianRatio the median of
	// the rounds' ratios.
	RatioOfMedians float64 `json:"ratio_of_medians"`
	MedianRatio    float64 `json:"median_of_ratios"`
	MinRatio       float64 `json:"min_ratio"`
	MaxRatio       float64 `json:"max_ratio"`
}

func writeSummary(path string, s summary) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}

func compare(ctx context.Context, conns, threads int, dur time.Duration, rounds int, warmup, timeout time.Duration) (summary, int, error) {
	sum := summary{Connections: conns, DurationS: dur.Seconds(), Rounds: rounds}
	code, err := compareInto(ctx, &sum, conns, threads, dur, rounds, warmup, timeout)
	return sum, code, err
}

func compareInto(ctx context.Context, sum *summary, conns, threads int, dur time.Duration, rounds int, warmup, timeout time.Duration) (int, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return 2, errors.New("wrk is not installed (Debian: apt-get install wrk); nothing to compare with")
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	server := exec.CommandContext(ctx, self, "-serve")
	server.Stderr = os.Stderr
	stdin, err := server.StdinPipe()
	if err != nil {
		return 1, err
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		return 1, err
	}
	if err := server.Start(); err != nil {
		return 1, err
	}
	defer func() {
		stdin.Close()
		_ = server.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return 1, fmt.Errorf("server did not start: %w", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/"

	engine := func(d time.Duration) (float64, error) {
		res, err := load.Run(ctx, load.Config{BaseURL: url, Connections: conns, Duration: d, Timeout: timeout})
		if err != nil {
			return 0, err
		}
		if res.Errors > 0 {
			return 0, fmt.Errorf("engine: %d errors: %v", res.Errors, res.ErrorsByKind)
		}
		return res.RPS, nil
	}
	runWrk := func(d time.Duration) (float64, error) {
		return wrkRPS(ctx, wrk, url, conns, threads, d, timeout)
	}

	fmt.Printf("endpoint %s (Go net/http, %d-byte JSON body, child process)\n", url, len(body))
	fmt.Printf("connections %d, duration %s, rounds %d, wrk -t%d, timeout %s, GOMAXPROCS %s\n\n",
		conns, dur, rounds, threads, timeout, gomaxprocs())
	if warmup > 0 {
		if _, err := engine(warmup); err != nil {
			return 1, err
		}
		if _, err := runWrk(warmup); err != nil {
			return 1, err
		}
	}
	var engineRPS, wrkRPSs, ratios []float64
	fmt.Printf("%-6s %-12s %12s %12s %8s\n", "round", "first", "engine rps", "wrk rps", "ratio")
	for i := range rounds {
		var e, w float64
		first := "engine"
		if i%2 == 0 {
			if e, err = engine(dur); err == nil {
				w, err = runWrk(dur)
			}
		} else {
			first = "wrk"
			if w, err = runWrk(dur); err == nil {
				e, err = engine(dur)
			}
		}
		if err != nil {
			return 1, err
		}
		engineRPS, wrkRPSs, ratios = append(engineRPS, e), append(wrkRPSs, w), append(ratios, e/w)
		fmt.Printf("%-6d %-12s %12.0f %12.0f %8.3f\n", i+1, first, e, w, e/w)
	}
	me, mw := median(engineRPS), median(wrkRPSs)
	ratio := me / mw
	verdict := "within 10% of wrk"
	if ratio < 0.9 {
		verdict = "MORE than 10% below wrk"
	}
	fmt.Printf("\nmedian engine %.0f req/s, median wrk %.0f req/s, ratio engine/wrk %.3f (target >= 0.90): %s\n", me, mw, ratio, verdict)
	// Each round's two runs are next to each other in time, so the ratio of
	// a round is less exposed to other load on the machine drifting.
	fmt.Printf("median of the rounds' ratios %.3f\n", median(ratios))
	sum.EngineRPS, sum.WrkRPS, sum.RatioOfMedians, sum.MedianRatio = me, mw, ratio, median(ratios)
	if len(ratios) > 0 {
		sum.MinRatio, sum.MaxRatio = slices.Min(ratios), slices.Max(ratios)
	}
	return 0, nil
}

var wrkRequestsPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)

// wrkRPS runs wrk and reads its "Requests/sec:" line; any socket error or
// non-2xx/3xx response is an error, as it would make the comparison unfair.
func wrkRPS(ctx context.Context, wrk, url string, conns, threads int, d, timeout time.Duration) (float64, error) {
	args := []string{
		"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s",
		"--timeout", strconv.Itoa(int(timeout.Round(time.Second)/time.Second)) + "s",
		url,
	}
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return parseWrk(out)
}

func parseWrk(out []byte) (float64, error) {
	s := string(out)
	if strings.Contains(s, "Socket errors") || strings.Contains(s, "Non-2xx or 3xx") {
		return 0, fmt.Errorf("wrk reported errors:\n%s", s)
	}
	m := wrkRequestsPerSec.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no Requests/sec line in wrk's output:\n%s", s)
	}
	return strconv.ParseFloat(m[1], 64)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func gomaxprocs() string {
	return fmt.Sprintf("%d of %d CPUs", runtime.GOMAXPROCS(0), runtime.NumCPU())
}
