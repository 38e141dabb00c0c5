package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/targets"
)

// captureEnv makes TestCaptureTargets write the captures of the reference
// targets' /metrics pages that the parser tests read.
const captureEnv = "ADVISOR_CAPTURE_TARGETS"

// targetCaptures are the pages TestCaptureTargets writes: each reference
// target (targets/README.md) with one worker (naive profile) and with two
// (tuned profile: FastAPI's multiprocess metrics, Express's cluster
// aggregation).
var targetCaptures = []struct {
	file    string
	kind    targets.Kind
	profile string
}{
	{"fastapi.txt", targets.FastAPI, "naive"},
	{"fastapi_workers2.txt", targets.FastAPI, "tuned"},
	{"express.txt", targets.Express, "naive"},
	{"express_workers2.txt", targets.Express, "tuned"},
}

// TestCaptureTargets regenerates testdata/fastapi*.txt and
// testdata/express*.txt. It is skipped unless ADVISOR_CAPTURE_TARGETS=1:
//
//	ADVISOR_CAPTURE_TARGETS=1 go test -run TestCaptureTargets ./internal/probe/metrics/
//
// For each capture it starts the target with internal/targets on a tiny
// data set of the private test stack, reads /metrics once (the event loop
// gauges of the Express target count from the previous scrape), sends 4
// clients x 10 rounds of every route (and one unknown path), waits a
// second (FastAPI's workers copy their process figures every half second)
// and saves the page /metrics then serves, as it is. The committed pages
// come from CPython 3.11.2 (Debian's python3-prometheus-client) and Node
// 20.20.2 with prom-client 15.1.3; TestCapturesRuntime expects those
// versions, so update it with a new capture.
func TestCaptureTargets(t *testing.T) {
	if os.Getenv(captureEnv) != "1" {
		t.Skip("set " + captureEnv + "=1 to capture the reference targets' /metrics pages")
	}
	for _, c := range targetCaptures {
		t.Run(c.file, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tg := targets.Start(ctx, t, c.kind, targets.Options{Profile: c.profile, Size: "tiny"})
			client := &http.Client{Timeout: 30 * time.Second}
			get := func(path string) ([]byte, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.BaseURL+path, nil)
				if err != nil {
					return nil, err
				}
				resp, err := client.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					return nil, err
				}
				if path == "/metrics" && resp.StatusCode != http.StatusOK {
					return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
				}
				return body, nil
			}
			if _, err := get("/metrics"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for client := range 4 {
				wg.Go(func() {
					for round := range 10 {
						user := 1 + (client*10+round)%500
						for _, path := range []string{"/health", fmt.Sprintf("/users/%d", user), fmt.Sprintf("/posts?page=%d", 1+round),
							fmt.Sprintf("/users/%d/orders", user), fmt.Sprintf("/users/%d/events", user),
							fmt.Sprintf("/users/%d/token", user), "/no-such-route"} {
							if _, err := get(path); err != nil {
								errs <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			page, err := get("/metrics")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", c.file), page, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote testdata/%s: %d bytes", c.file, len(page))
		})
	}
}
