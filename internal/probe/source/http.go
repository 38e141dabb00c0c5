package source

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// HTTPOptions are how to reach a target that needs authentication or TLS;
// the pprof and metrics probes share them.
type HTTPOptions struct {
	// Header is added to every request, e.g. Authorization. Its values never
	// appear in errors.
	Header http.Header
	// CAFile is a PEM file of certificate authorities to trust instead of
	// the system pool.
	CAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. Only for targets
	// whose certificate cannot be verified; it must be asked for explicitly.
	InsecureSkipVerify bool
	// Timeout bounds one request; each probe documents how it applies it
	// and its default.
	Timeout time.Duration
	// MaxBodyBytes bounds the size of a response; zero means the probe's
	// default.
	MaxBodyBytes int64
}

// NewTransport returns a transport with the TLS configuration of opts and no
// proxy: advisor talks to the target directly.
func NewTransport(opts HTTPOptions) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // explicit option
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", opts.CAFile)
		}
		cfg.RootCAs = pool
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		if opts.CertFile == "" || opts.KeyFile == "" {
			return nil, errors.New("a client certificate needs both a certificate file and a key file")
		}
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// ParseTargetURL checks that raw is an http(s) URL with a host; what names
// the probe in its errors ("pprof target", "metrics target"), which never
// show a password.
func ParseTargetURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a URL: %w", what, Redact(raw), errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s %q: the URL must start with http:// or https://", what, Redact(raw))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %q: the URL has no host", what, Redact(raw))
	}
	u.Fragment = ""
	return u, nil
}
