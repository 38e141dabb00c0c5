package load

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	const next = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
	for _, tc := range []struct {
		name      string
		in        string
		head      bool
		status    int
		mustClose bool
		err       error
		rest      string // what the reader holds after the response
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}" + next, status: 200, rest: next},
		{name: "chunked", in: "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n" + next, status: 201, rest: next},
		{name: "head", in: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + next, head: true, status: 200, rest: next},
		{name: "no content", in: "HTTP/1.1 204 No Content\r\n\r\n" + next, status: 204, rest: next},
		{name: "not modified", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n" + next, status: 304, rest: next},
		{name: "interim", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno" + next, status: 500, rest: next},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", status: 200, mustClose: true},
		{name: "http/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, mustClose: true},
		{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok" + next, status: 200, rest: next},
		{name: "until close", in: "HTTP/1.1 200 OK\r\n\r\nall of this", status: 200, mustClose: true},
		{name: "bare LF", in: "HTTP/1.1 404 Not Found\nContent-Length: 0\n\n" + next, status: 404, rest: next},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", status: 200, mustClose: true, err: io.ErrUnexpectedEOF},
		{name: "truncated chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", status: 200, err: io.ErrUnexpectedEOF},
		{name: "not http", in: "SSH-2.0-OpenSSH_9.2\r\n", mustClose: true, err: errBadResponse},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", status: 200, mustClose: true, err: errBadResponse},
		{name: "two lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 200, mustClose: true, err: errBadResponse},
		{name: "empty", in: "", mustClose: true, err: io.EOF},
		{name: "header too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", readBufferSize) + "\r\n\r\n", status: 200, mustClose: true, err: errBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), readBufferSize)
			status, mustClose, started, err := readResponse(br, tc.head)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if status != tc.status || (err == nil && mustClose != tc.mustClose) {
				t.Errorf("status %d close %v, want %d %v", status, mustClose, tc.status, tc.mustClose)
			}
			if started != (tc.in != "") {
				t.Errorf("started %v for input %q", started, tc.in)
			}
			if err == nil && !tc.mustClose {
				rest, _ := io.ReadAll(br)
				if string(rest) != tc.rest {
					t.Errorf("left %q in the reader, want %q", rest, tc.rest)
				}
			}
		})
	}
}

// TestNoAllocationsPerRequest checks that building a request with
// placeholders and reading a chunked response allocate nothing.
func TestNoAllocationsPerRequest(t *testing.T) {
	vars := map[string]Range{"user": {Min: 1, Max: 20000}}
	idx := map[string]int{}
	ce, err := compileEntry(Entry{Method: "POST", Body: `{"user": {user}}`}, "127.0.0.1:8080", "/users/{user}/orders",
		http.Header{"Authorization": {"Bearer x"}, "Content-Type": {"application/json"}}, vars, idx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(int) int64 { return drawRange(rng, vars["user"]) }
	var buf, body []byte
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nDate: Sat, 21 Nov 2026 23:00:00 GMT\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
	src := strings.NewReader(resp)
	br := bufio.NewReaderSize(src, readBufferSize)
	allocs := testing.AllocsPerRun(200, func() {
		buf = ce.appendRequest(buf[:0], &body, draw)
		src.Reset(resp)
		br.Reset(src)
		for range 2 {
			if _, _, _, err := readResponse(br, false); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
	req := string(ce.appendRequest(nil, &body, func(int) int64 { return 42 }))
	want := "POST /users/42/orders HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\n" +
		"User-Agent: advisor-load\r\nContent-Length: 12\r\n\r\n{\"user\": 42}"
	if req != want {
		t.Errorf("request\n%q\nwant\n%q", req, want)
	}
}

func TestClassify(t *testing.T) {
	if got := (errKind{status: 503}).String(); got != "status 503" {
		t.Errorf("got %q", got)
	}
	if got := classify(errors.New("something")).String(); got != KindOther {
		t.Errorf("got %q", got)
	}
}
