package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runAdvisor runs the command line with a time limit and returns its exit
// code, stdout and stderr.
func runAdvisor(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLoadUsageErrors(t *testing.T) {
	mix := filepath.Join(t.TempDir(), "mix.yaml")
	if err := os.WriteFile(mix, []byte("entries:\n  - path: /a\n    wieght: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"load"}, "no URL: advisor load URL"},
		{"bad scheme", []string{"load", "--url", "ftp://127.0.0.1/"}, "scheme must be http or https"},
		{"bad scheme as the argument", []string{"load", "ftp://127.0.0.1/"}, "scheme must be http or https"},
		{"no host", []string{"load", "http://"}, "no host"},
		{"password hidden", []string{"load", "--url", "http://u:hunter2@127.0.0.1:x/"}, "the URL"},
		{"password hidden in the argument", []string{"load", "http://u:hunter2@127.0.0.1:x/"}, "the URL"},
		{"connections", []string{"load", "--url", "http://127.0.0.1/", "-c", "0"}, "--connections"},
		{"rate", []string{"load", "--url", "http://127.0.0.1/", "--rate", "-1"}, "--rate"},
		{"bad duration", []string{"load", "--url", "http://127.0.0.1/", "--duration", "soon"}, "invalid argument"},
		{"header", []string{"load", "--url", "http://127.0.0.1/", "-H", "NoColon"}, "--header"},
		{"mix and method", []string{"load", "--url", "http://127.0.0.1/", "--mix", mix, "--method", "POST"}, "do not go with --mix"},
		{"mix strict", []string{"load", "--url", "http://127.0.0.1/", "--mix", mix}, "mix.yaml:3:5: unknown key \"wieght\""},
		{"bad method", []string{"load", "--url", "http://127.0.0.1/", "-X", "GE T"}, "method"},
		{"the URL twice", []string{"load", "--url", "http://127.0.0.1/", "http://127.0.0.1/"}, "the URL is given twice"},
		{"two URLs", []string{"load", "http://127.0.0.1/a", "http://127.0.0.1/b"}, "accepts at most 1 arg(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runAdvisor(t, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("the password is in the output: %q", errOut)
			}
		})
	}
}

func TestLoadJSON(t *testing.T) {
	var n atomic.Int64
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		auth.Store(r.Header.Get("Authorization") + "|" + r.Method + "|" + r.URL.Path)
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	code, out, errOut := runAdvisor(t, "load", "--url", srv.URL+"/echo", "-n", "50", "-c", "3",
		"-X", "post", "--body", `{"a":1}`, "-H", "Authorization: Bearer abc", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet got %q", errOut)
	}
	var doc struct {
		Schema   string  `json:"schema"`
		Requests int64   `json:"requests"`
		Errors   int64   `json:"errors"`
		RPS      float64 `json:"rps"`
		Latency  map[string]float64
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if doc.Schema != "advisor.load/v1" || doc.Requests != 50 || doc.Errors != 0 || doc.RPS <= 0 || doc.Latency["p99_ms"] <= 0 {
		t.Errorf("result %+v", doc)
	}
	if n.Load() != 50 || auth.Load() != "Bearer abc|POST|/echo" {
		t.Errorf("server saw %d requests, last %v", n.Load(), auth.Load())
	}
}

func TestLoadMixText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/users/") && r.Header.Get("Authorization") == "Bearer t0k3n" {
			_, _ = io.WriteString(w, `{"id":1}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	mix := filepath.Join(t.TempDir(), "mix.yaml")
	content := "headers: {Authorization: Bearer t0k3n}\nvars:\n  user: {min: 1, max: 9}\nentries:\n" +
		"  - {name: user, weight: 3, path: \"/users/{user}\"}\n  - {name: missing, path: /nothing}\n"
	if err := os.WriteFile(mix, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// The URL as an argument, as wrk takes it.
	code, out, errOut := runAdvisor(t, "load", srv.URL+"/api", "--mix", mix, "-d", "300ms", "-c", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"req/s", "status 404: ", "p99 ", "user ", "missing "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestLoadEveryRequestFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, out, errOut := runAdvisor(t, "load", "--url", "http://"+addr+"/", "-n", "5")
	if code != 1 || !strings.Contains(errOut, "every request failed") || !strings.Contains(out, "connection refused: 5") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
