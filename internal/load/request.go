package load

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// segment is a piece of a request template: a literal, or the index of a
// placeholder's var when v >= 0.
type segment struct {
	lit string
	v   int
}

// compiledEntry is an Entry turned into the bytes of its requests.
type compiledEntry struct {
	name    string
	head    bool      // HEAD: the response has no body
	prefix  string    // "METHOD "
	target  []segment // request-target
	headers string    // " HTTP/1.1\r\nHost: ...\r\n...": every header line but Content-Length
	body    []segment
	hasBody bool // send Content-Length (a body, or a method that expects one)
	// idempotent requests are sent again when a keep-alive connection turns
	// out to have been closed by the server before it read them.
	idempotent bool
	static     []byte
	hasVars    bool
	bodyVars   bool
	staticLen  int // body length when the body has no placeholders
}

func compileEntry(e Entry, host, target string, common http.Header, vars map[string]Range, varIndex map[string]int) (*compiledEntry, error) {
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	ce := &compiledEntry{name: e.Name, head: method == http.MethodHead}
	if ce.name == "" {
		ce.name = method + " " + target
	}
	if !isToken(method) {
		return ce, fmt.Errorf("method %q is not a valid HTTP method", method)
	}
	if strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ce, fmt.Errorf("path %q holds spaces or control characters; escape them", target)
	}
	var err error
	if ce.target, err = parseTemplate(target, vars, varIndex); err != nil {
		return ce, fmt.Errorf("path: %w", err)
	}
	if ce.body, err = parseTemplate(e.Body, vars, varIndex); err != nil {
		return ce, fmt.Errorf("body: %w", err)
	}
	ce.prefix = method + " "
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		ce.idempotent = true
	}

	h := common.Clone()
	if h == nil {
		h = http.Header{}
	}
	for k, vs := range e.Header {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	hostValue := host
	if v := h.Get("Host"); v != "" {
		hostValue = v
	}
	h.Del("Host")
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", "advisor-load")
	}
	var b strings.Builder
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(hostValue)
	b.WriteString("\r\n")
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isToken(k) {
			return ce, fmt.Errorf("header name %q is not valid", k)
		}
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n\x00") {
				return ce, fmt.Errorf("header %s: value holds a line break", k)
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	if strings.ContainsAny(hostValue, "\r\n\x00 ") {
		return ce, errors.New("host holds spaces or line breaks")
	}
	ce.headers = b.String()
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		ce.hasBody = true
	default:
		ce.hasBody = e.Body != ""
	}
	ce.hasVars = hasVar(ce.target) || hasVar(ce.body)
	ce.bodyVars = hasVar(ce.body)
	if !ce.bodyVars {
		ce.staticLen = len(e.Body)
	}
	if !ce.hasVars {
		ce.static = ce.appendRequest(nil, nil, nil)
	}
	return ce, nil
}

// appendRequest appends one request to dst, drawing placeholder values with
// draw; *body is scratch space for a body with placeholders, kept for the
// next call. It returns the extended dst.
func (ce *compiledEntry) appendRequest(dst []byte, body *[]byte, draw func(v int) int64) []byte {
	dst = append(dst, ce.prefix...)
	dst = appendSegments(dst, ce.target, draw)
	dst = append(dst, ce.headers...)
	if !ce.hasBody {
		return append(dst, "\r\n"...)
	}
	if ce.bodyVars {
		*body = appendSegments((*body)[:0], ce.body, draw)
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(*body)), 10)
		dst = append(dst, "\r\n\r\n"...)
		return append(dst, *body...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(ce.staticLen), 10)
	dst = append(dst, "\r\n\r\n"...)
	return appendSegments(dst, ce.body, nil)
}

func appendSegments(dst []byte, segs []segment, draw func(v int) int64) []byte {
	for _, s := range segs {
		if s.v < 0 {
			dst = append(dst, s.lit...)
			continue
		}
		dst = strconv.AppendInt(dst, draw(s.v), 10)
	}
	return dst
}

func hasVar(segs []segment) bool {
	for _, s := range segs {
		if s.v >= 0 {
			return true
		}
	}
	return false
}

// parseTemplate splits s into literals and {name} placeholders. A brace that
// does not open a {name} of letters, digits and underscores is literal text,
// so JSON bodies need no escaping; a {name} with no range in vars is an
// error.
func parseTemplate(s string, vars map[string]Range, varIndex map[string]int) ([]segment, error) {
	var segs []segment
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 {
			break
		}
		name := s[i+1 : i+1+end]
		if !isIdent(name) {
			continue
		}
		if _, ok := vars[name]; !ok {
			return nil, fmt.Errorf("placeholder {%s} has no range in vars", name)
		}
		idx, ok := varIndex[name]
		if !ok {
			idx = len(varIndex)
			varIndex[name] = idx
		}
		if lit < i {
			segs = append(segs, segment{lit: s[lit:i], v: -1})
		}
		segs = append(segs, segment{v: idx})
		i += end + 1
		lit = i + 1
	}
	if lit < len(s) {
		segs = append(segs, segment{lit: s[lit:], v: -1})
	}
	return segs, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// drawRange returns a uniform value in [r.Min, r.Max].
func drawRange(rng *rand.Rand, r Range) int64 {
	span := uint64(r.Max - r.Min)
	if span == ^uint64(0) {
		return int64(rng.Uint64())
	}
	return r.Min + int64(rng.Uint64N(span+1))
}
