package metrics

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// TestScrapeTLSAndHeader: a TLS target that wants an Authorization header.
func TestScrapeTLSAndHeader(t *testing.T) {
	page := "# TYPE go_goroutines gauge\ngo_goroutines 7\n"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Accept"), "text/plain; version=0.0.4") {
			http.Error(w, "bad accept", http.StatusNotAcceptable)
			return
		}
		w.Write([]byte(page))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := http.Header{"Authorization": {"Bearer t0ken"}}
	ctx := context.Background()
	for _, opts := range []HTTPOptions{{CAFile: caFile, Header: auth}, {InsecureSkipVerify: true, Header: auth}} {
		c, err := NewClient(srv.URL+"/metrics", opts)
		if err != nil {
			t.Fatal(err)
		}
		s := c.Scrape(ctx, DefaultNames())
		if !s.Status.Ok() || s.Runtime.Goroutines == nil || *s.Runtime.Goroutines != 7 {
			t.Errorf("scrape: %+v", s.Status)
		}
	}
	c, _ := NewClient(srv.URL, HTTPOptions{CAFile: caFile})
	if s := c.Scrape(ctx, DefaultNames()); s.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "401") {
		t.Errorf("without the header: %+v", s.Status)
	}
	c, _ = NewClient(srv.URL, HTTPOptions{Header: auth})
	if s := c.Scrape(ctx, DefaultNames()); s.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "certificate") || strings.Contains(s.Status.Detail, "t0ken") {
		t.Errorf("unknown CA: %+v", s.Status)
	}
}
