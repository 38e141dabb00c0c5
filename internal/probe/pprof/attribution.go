package pprof

import (
	"slices"
	"strings"
)

// DefaultRouters are the packages of routers and middleware that sit
// between net/http's server and a handler; their frames are never taken for
// the handler. A module path also covers its major versions and
// subpackages (github.com/go-chi/chi covers github.com/go-chi/chi/v5/middleware);
// a standard library path covers only itself (net/http, not net/http/pprof).
var DefaultRouters = []string{
	"net/http",
	"github.com/go-chi/chi",
	"github.com/gorilla/mux",
	"github.com/julienschmidt/httprouter",
	"github.com/labstack/echo",
	"github.com/gin-gonic/gin",
	"github.com/prometheus/client_golang/prometheus/promhttp",
}

// serverFrames are the roots of a goroutine serving an HTTP connection.
var serverFrames = []string{
	"net/http.(*conn).serve",
	"net/http.(*http2serverConn).runHandler",
	"golang.org/x/net/http2.(*serverConn).runHandler",
}

// serveHTTPFrame is where net/http hands the request to the user's handler.
const serveHTTPFrame = "net/http.serverHandler.ServeHTTP"

// Attributor finds the HTTP handler a stack runs under.
type Attributor struct {
	// Routers are packages whose frames are skipped when looking for the
	// handler (see DefaultRouters). Users append their own middleware: a
	// package, or a function (main.withAuth also covers its closures
	// main.withAuth.func1).
	Routers []string
}

// DefaultAttributor skips DefaultRouters.
func DefaultAttributor() Attributor {
	return Attributor{Routers: slices.Clone(DefaultRouters)}
}

// Attribution is where a stack runs.
type Attribution struct {
	// Server is set when the stack runs under net/http's server.
	Server bool `json:"server"`
	// Handler is the handler's function, empty when the goroutine serves a
	// connection but is not inside a handler (reading the next request).
	Handler string `json:"handler,omitempty"`
	// HandlerFrame is the handler's frame (file:line of the call it makes).
	HandlerFrame Frame `json:"handler_frame"`
	// CallSite is the leaf-most frame of the service's own code: in the
	// handler's module when there is a handler, otherwise outside the
	// standard library and the routers.
	CallSite Frame `json:"call_site"`
	// WaitIn is the leaf-most frame outside the runtime: what the stack is
	// doing or waiting in (net.(*netFD).Read, sync.(*Mutex).Lock, ...).
	WaitIn Frame `json:"wait_in"`
}

// funcInfo is what attribution needs to know about a function name.
type funcInfo struct {
	pkg     string
	module  string
	stdlib  bool
	runtime bool
	router  bool
	server  bool
	serve   bool
	conn    bool
}

func (a Attributor) info(name string) funcInfo {
	pkg := FuncPackage(name)
	fi := funcInfo{pkg: pkg, stdlib: isStdlib(pkg), module: moduleOf(pkg)}
	fi.runtime = pkg == "runtime" || strings.HasPrefix(pkg, "runtime/internal") || strings.HasPrefix(pkg, "internal/")
	fi.server = slices.Contains(serverFrames, name)
	fi.serve = name == serveHTTPFrame
	fi.conn = name == serverFrames[0]
	for _, r := range a.Routers {
		if pkg == r || (!isStdlib(r) && strings.HasPrefix(pkg, r+"/")) ||
			name == r || strings.HasPrefix(name, r+".") {
			fi.router = true
			break
		}
	}
	return fi
}

// FuncPackage returns the import path of a function name as Go prints it:
// "net/http" for "net/http.(*conn).serve", "main" for "main.handler.func1".
func FuncPackage(name string) string {
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	start := strings.LastIndexByte(name, '/') + 1
	if i := strings.IndexByte(name[start:], '.'); i >= 0 {
		return name[:start+i]
	}
	return name
}

// isStdlib reports whether pkg is in the standard library: its first path
// element has no dot, and it is not main.
func isStdlib(pkg string) bool {
	if pkg == "main" || pkg == "" {
		return false
	}
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

// moduleOf guesses the module of a package: host/owner/repo for the usual
// hosts, the first element otherwise.
func moduleOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) >= 3 && strings.Contains(parts[0], ".") {
		return strings.Join(parts[:3], "/")
	}
	return parts[0]
}

// attribute walks a stack of n frames, leaf first, whose i-th function is
// described by info(i). It returns whether the stack runs under the server
// and the indexes of the handler, call site and wait frames (-1: none).
func attribute(n int, info func(i int) *funcInfo) (server bool, handler, site, wait int) {
	handler, site, wait = -1, -1, -1
	root := -1
	for i := n - 1; i >= 0; i-- {
		if info(i).server {
			root = i
			break
		}
	}
	if root >= 0 {
		server = true
		// Under (*conn).serve the handler starts after serverHandler.ServeHTTP;
		// without that frame the connection is between requests. HTTP/2's
		// runHandler calls the handler directly.
		start := root - 1
		if info(root).conn {
			start = -1
		}
		for i := root - 1; i >= 0; i-- {
			if info(i).serve {
				start = i - 1
				break
			}
		}
		for i := start; i >= 0; i-- {
			if fi := info(i); !fi.router && !fi.runtime {
				handler = i
				break
			}
		}
	}
	for i := 0; i < n; i++ {
		if !info(i).runtime {
			wait = i
			break
		}
	}
	limit := n - 1
	if handler >= 0 {
		limit = handler
		module := info(handler).module
		for i := 0; i <= limit; i++ {
			if fi := info(i); fi.module == module && !fi.router {
				return server, handler, i, wait
			}
		}
	}
	for i := 0; i <= limit; i++ {
		if fi := info(i); !fi.stdlib && !fi.router && !fi.runtime {
			return server, handler, i, wait
		}
	}
	return server, handler, site, wait
}

// Attribute finds the handler, call site and wait frame of a stack given
// leaf first.
func (a Attributor) Attribute(frames []Frame) Attribution {
	infos := make([]funcInfo, len(frames))
	for i, f := range frames {
		infos[i] = a.info(f.Func)
	}
	server, h, s, w := attribute(len(frames), func(i int) *funcInfo { return &infos[i] })
	out := Attribution{Server: server}
	if h >= 0 {
		out.Handler = frames[h].Func
		out.HandlerFrame = frames[h]
	}
	if s >= 0 {
		out.CallSite = frames[s]
	}
	if w >= 0 {
		out.WaitIn = frames[w]
	}
	return out
}

// Goroutines fills the Attribution of each goroutine in place.
func (a Attributor) Goroutines(gs []Goroutine) {
	for i := range gs {
		gs[i].Attribution = a.Attribute(gs[i].Frames)
	}
}
