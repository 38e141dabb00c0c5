// Command capture produces the captures the parser tests read: it runs a
// small HTTP service with net/http/pprof, drives it with concurrent requests
// (CPU work, sleeps, a contended mutex, an outbound HTTP call), and saves the
// goroutine dump (debug=2) and a CPU profile taken under that load.
//
// Regenerate from internal/probe/pprof:
//
//	go run -trimpath ./testdata/capture -out testdata
//
// -trimpath and the rewrite of mapping file names keep the build machine's
// paths out of the captures.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

var global sync.Mutex

func work(w http.ResponseWriter, r *http.Request) {
	sum := sha256.Sum256([]byte(r.URL.Path))
	for i := 0; i < 20000; i++ {
		sum = sha256.Sum256(sum[:])
	}
	fmt.Fprintf(w, "%x\n", sum[:4])
}

func slow(w http.ResponseWriter, r *http.Request) {
	time.Sleep(50 * time.Millisecond)
	io.WriteString(w, "slept\n")
}

func locked(w http.ResponseWriter, r *http.Request) {
	global.Lock()
	defer global.Unlock()
	time.Sleep(5 * time.Millisecond)
	io.WriteString(w, "locked\n")
}

type hopper struct{ base string }

func (h hopper) hop(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(h.base + "/slow")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	io.Copy(w, resp.Body)
}

func main() {
	out := flag.String("out", "testdata", "directory to write the captures to")
	flag.Parse()
	runtime.SetBlockProfileRate(10000)
	runtime.SetMutexProfileFraction(10)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/work", work)
	mux.HandleFunc("/slow", slow)
	mux.HandleFunc("/locked", locked)
	mux.HandleFunc("/hop", hopper{base}.hop)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	paths := []string{"/work", "/slow", "/locked", "/hop"}
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[i%len(paths)], nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}(i)
	}

	cpu := make(chan []byte)
	go func() { cpu <- fetch(base + "/debug/pprof/profile?seconds=2") }()
	time.Sleep(time.Second)
	save(*out, "goroutines.txt", fetch(base+"/debug/pprof/goroutine?debug=2"))
	save(*out, "cpu.pb.gz", anonymize(<-cpu))
	cancel()
	wg.Wait()
	srv.Close()
}

func fetch(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		log.Fatalf("%s: %v %s", url, err, resp.Status)
	}
	return b
}

func save(dir, name string, b []byte) {
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// anonymize drops the directories of the binaries a profile maps.
func anonymize(b []byte) []byte {
	p, err := profile.ParseData(b)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range p.Mapping {
		m.File = filepath.Base(m.File)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}
