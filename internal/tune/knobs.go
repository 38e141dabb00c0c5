package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/sampleapp"
)

// AdminKnobs sets the knobs of a running sampleapp through its loopback
// admin endpoint (GET /knobs, PUT /knobs/{name}).
type AdminKnobs struct {
	// URL is the admin endpoint's base URL.
	URL string
	// Client; nil means one with a 10-minute timeout (creating the index
	// on a large table takes minutes).
	Client *http.Client
}

func (k AdminKnobs) client() *http.Client {
	if k.Client != nil {
		return k.Client
	}
	return &http.Client{Timeout: 10 * time.Minute}
}

type knobsReply struct {
	Knobs []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"knobs"`
	Error string `json:"error"`
}

// Settings reads the knobs' values.
func (k AdminKnobs) Settings(ctx context.Context) (sampleapp.Settings, error) {
	return k.do(ctx, http.MethodGet, "/knobs", nil)
}

// SetKnob changes one knob and waits until it is applied.
func (k AdminKnobs) SetKnob(ctx context.Context, name, value string) error {
	body, err := json.Marshal(map[string]string{"value": value})
	if err != nil {
		return err
	}
	s, err := k.do(ctx, http.MethodPut, "/knobs/"+url.PathEscape(name), body)
	if err != nil {
		return err
	}
	if s[name] != value {
		return fmt.Errorf("admin endpoint: knob %s is %q after setting it to %q", name, s[name], value)
	}
	return nil
}

func (k AdminKnobs) do(ctx context.Context, method, path string, body []byte) (sampleapp.Settings, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(k.URL, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: %w", err)
	}
	defer resp.Body.Close()
	var r knobsReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("admin endpoint %s %s: status %d, unreadable answer: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := r.Error
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, fmt.Errorf("admin endpoint %s %s: status %d: %s", method, path, resp.StatusCode, msg)
	}
	s := sampleapp.Settings{}
	for _, kn := range r.Knobs {
		s[kn.Name] = kn.Value
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("admin endpoint %s %s: no knobs in the answer (is it sampleapp's admin endpoint?)", method, path)
	}
	return s, nil
}
