package sampleapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
)

// SetKnob changes one knob at run time: it validates the value, applies it
// (DDL for the index, a new pool for the pool size, GOMAXPROCS, ...) and only
// then makes it visible to requests.
func (a *App) SetKnob(ctx context.Context, name, value string) error {
	if err := ValidateKnob(name, value); err != nil {
		return err
	}
	a.knobMu.Lock()
	defer a.knobMu.Unlock()
	if err := a.apply(ctx, name, value, false); err != nil {
		return err
	}
	next := a.settings.Load().raw.Clone()
	next[name] = value
	a.settings.Store(compile(next))
	a.log.Info("knob changed", "knob", name, "value", value)
	return nil
}

// apply does what a knob value needs beyond being read by requests. At start
// (initial) every knob is applied, whatever the previous state.
func (a *App) apply(ctx context.Context, name, value string, initial bool) error {
	cur := a.settings.Load().raw[name]
	if !initial && cur == value {
		return nil
	}
	switch name {
	case KnobPool:
		return a.db.setPool(ctx, value)
	case KnobIndex:
		q, release, err := a.db.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		return setIndex(ctx, q, value == "present")
	case KnobGOMAXPROCS:
		if value == "1" {
			runtime.GOMAXPROCS(1)
		} else {
			runtime.SetDefaultGOMAXPROCS()
		}
	case KnobJobWorkers:
		return a.setWorkers(ctx, a.workerCount(value))
	case KnobCache:
		if value == "redis" {
			// Entries written before the cache was switched off may be
			// stale: start a new generation of keys.
			a.cacheGen.Add(1)
		}
	}
	return nil
}

// knobState is one knob as the admin endpoint shows it.
type knobState struct {
	Knob
	Value string `json:"value"`
}

func (a *App) knobStates() []knobState {
	cur := a.settings.Load().raw
	out := make([]knobState, len(Knobs))
	for i, k := range Knobs {
		out[i] = knobState{Knob: k, Value: cur[k.Name]}
	}
	return out
}

// adminHandler serves the knobs. The listener is on loopback, and each
// request is checked again: a client address that is not loopback (a proxy
// or a port forward in front of it) gets 403.
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /knobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"knobs": a.knobStates()})
	})
	mux.HandleFunc("PUT /knobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, ok := LookupKnob(name); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown knob %q", name))
			return
		}
		var body struct {
			Value string `json:"value"`
		}
		if err := decodeJSON(w, r, &body, 4<<10); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := ValidateKnob(name, body.Value); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := a.SetKnob(r.Context(), name, body.Value); err != nil {
			a.log.Error("knob change failed", "knob", name, "value", body.Value, "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"knobs": a.knobStates()})
	})
	return loopbackOnly(mux)
}

func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, "the admin endpoint only answers loopback clients")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeJSON reads one JSON object of at most limit bytes into v, refusing
// unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBodyTooLarge
		}
		return fmt.Errorf("malformed JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON body: trailing data after the object")
	}
	return nil
}

var errBodyTooLarge = errors.New("request body too large")

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encoding the response failed"}`, http.StatusInternalServerError)
		return
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

var jsonContentType = []string{"application/json"}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
