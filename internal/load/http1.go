package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// errBadResponse marks a response that is not valid HTTP/1.x.
var errBadResponse = errors.New("bad response")

// readResponse reads one HTTP/1.x response from br and discards its body,
// so that the connection is ready for the next request. It returns the
// status code, whether the connection must be closed after this response,
// and whether any byte of the response arrived (for the retry of a request
// on a keep-alive connection the server had already closed). head is set
// for the answer to a HEAD request, which has no body.
func readResponse(br *bufio.Reader, head bool) (status int, mustClose, started bool, err error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, true, len(line) > 0, lineError(err)
		}
		started = true
		// "HTTP/1.1 200 OK\r\n"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, true, true, fmt.Errorf("%w: status line %q", errBadResponse, trimLine(line))
		}
		http10 := line[7] == '0'
		status = 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return 0, true, true, fmt.Errorf("%w: status line %q", errBadResponse, trimLine(line))
			}
			status = status*10 + int(c-'0')
		}
		length := int64(-1)
		chunked := false
		mustClose = http10
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return status, true, true, lineError(err)
			}
			line = trimLine(line)
			if len(line) == 0 {
				break
			}
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return status, true, true, fmt.Errorf("%w: header line %q", errBadResponse, line)
			}
			key, value := line[:colon], bytes.TrimSpace(line[colon+1:])
			switch {
			case asciiEqualFold(key, "content-length"):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 || (length >= 0 && n != length) {
					return status, true, true, fmt.Errorf("%w: Content-Length %q", errBadResponse, value)
				}
				length = n
			case asciiEqualFold(key, "transfer-encoding"):
				chunked = hasToken(value, "chunked")
			case asciiEqualFold(key, "connection"):
				if hasToken(value, "close") {
					mustClose = true
				} else if http10 && hasToken(value, "keep-alive") {
					mustClose = false
				}
			}
		}
		switch {
		case status == 101:
			return status, true, true, fmt.Errorf("%w: the server switched protocols", errBadResponse)
		case status >= 100 && status < 200:
			continue // an interim response; the final one follows
		case head || status == 204 || status == 304:
			return status, mustClose, true, nil
		case chunked:
			return status, mustClose, true, discardChunked(br)
		case length >= 0:
			_, err := br.Discard(int(length))
			if err != nil {
				return status, true, true, unexpectedEOF(err)
			}
			return status, mustClose, true, nil
		default:
			// No length: the body runs to the end of the connection.
			_, err := io.Copy(io.Discard, br)
			return status, true, true, err
		}
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return lineError(unexpectedEOF(err))
		}
		line = trimLine(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = bytes.TrimSpace(line[:i])
		}
		size, err := strconv.ParseUint(string(line), 16, 62)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errBadResponse, line)
		}
		if size == 0 {
			// Trailers, up to an empty line.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return lineError(unexpectedEOF(err))
				}
				if len(trimLine(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size)); err != nil {
			return unexpectedEOF(err)
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return lineError(unexpectedEOF(err))
		}
		if len(trimLine(line)) != 0 {
			return fmt.Errorf("%w: no line break after a chunk", errBadResponse)
		}
	}
}

func lineError(err error) error {
	if errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("%w: a header line is longer than %d bytes", errBadResponse, readBufferSize)
	}
	return err
}

// unexpectedEOF turns the end of the connection in the middle of a response
// into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimLine(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// hasToken reports whether the comma-separated list v holds token, in any
// case.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		if asciiEqualFold(bytes.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring
// case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
