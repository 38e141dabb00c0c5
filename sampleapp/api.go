package sampleapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxBodyBytes bounds request bodies (http.MaxBytesReader): 413 beyond.
const maxBodyBytes = 64 << 10

// DefaultFeedTTL is how long a cached feed lives in Redis (Config.FeedTTL);
// placing an order (which adds an event) invalidates the user's feed at
// once.
const DefaultFeedTTL = 30 * time.Second

// nearFeedTTL is how long a feed stays in the in-process near cache in front
// of Redis: hot feeds are served without a network round trip, and another
// instance's invalidation is seen within this time.
const nearFeedTTL = 2 * time.Second

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// handle registers h for pattern ("METHOD /path/{var}") with metrics by
// route pattern, the route in the context for query counting, and the
// per-request connection of the per-request pool mode.
func (a *App) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	a.register(mux, pattern, h, false)
}

// handleInternal is handle for the internal services: their queries count
// for the API route that called them (X-Origin-Route) when there is one.
func (a *App) handleInternal(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	a.register(mux, pattern, h, true)
}

func (a *App) register(mux *http.ServeMux, pattern string, h http.HandlerFunc, internal bool) {
	method, route, _ := strings.Cut(pattern, " ")
	rm := a.metrics.forRoute(route, method)
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a.metrics.inFlight.Inc()
		defer a.metrics.inFlight.Dec()
		queryRoute := route
		if internal {
			if o := r.Header.Get(originHeader); o != "" {
				queryRoute = o
			}
		}
		ctx := withRoute(r.Context(), queryRoute)
		if a.settings.Load().pool == "per-request" {
			var rc *requestConn
			ctx, rc = withRequestConn(ctx)
			defer rc.close()
		}
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, r.WithContext(ctx))
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		rm.observe(code, time.Since(start))
	}))
}

// fail maps an error to its status and JSON body; unexpected errors are
// logged and answered with 500 (or 503 when PostgreSQL refuses connections).
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errUnauthorized):
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, errForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, errBodyTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBodyBytes))
	case errors.As(err, new(*invalidError)):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "client went away")
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

var errForbidden = errors.New("this token may not access this resource")

// invalidError is a request that is well-formed but not acceptable (422).
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, name+" must be a positive integer")
		return 0, false
	}
	return id, true
}

func (a *App) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	a.handle(mux, "GET /health", a.health)
	a.handle(mux, "GET /users/{id}", a.authed(a.getUser))
	a.handle(mux, "GET /users/{id}/feed", a.authed(a.getFeed))
	a.handle(mux, "GET /users/{id}/orders", a.authed(a.getOrders))
	a.handle(mux, "POST /orders", a.authed(a.postOrder))
	a.handle(mux, "GET /orders/{id}/invoice", a.authed(a.getInvoice))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return mux
}

type authedHandler func(w http.ResponseWriter, r *http.Request, s *settings, p Principal)

// authed checks the bearer token, then counts the request against the
// principal's rate limit, then writes the request's audit record,
// then calls h with the knob snapshot of this request.
func (a *App) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := a.settings.Load()
		ctx := r.Context()
		p, err := a.authenticate(ctx, s, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !a.allow(ctx, s, p.UserID) {
			writeRateLimited(w)
			return
		}
		if err := a.recordAudit(ctx, s, p.UserID, routeOf(ctx)); err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, s, p)
	}
}

// health answers 503 when PostgreSQL is down: the service cannot serve.
// Redis is a cache: without it the service serves from PostgreSQL, so a
// Redis that is down makes the status "degraded" with a 200; a 503 would
// make a load balancer pull every instance at once for a cache outage.
func (a *App) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := map[string]string{"status": "ok", "postgres": "ok", "redis": "ok"}, http.StatusOK
	if err := a.redis.Ping(ctx).Err(); err != nil {
		status["redis"], status["status"] = "unreachable", "degraded"
	}
	if p := a.db.pool(); p != nil {
		if err := p.Ping(ctx); err != nil {
			status["postgres"], status["status"], code = "unreachable", "down", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, status)
}

func (a *App) getUser(w http.ResponseWriter, r *http.Request, s *settings, _ Principal) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	p, err := a.profile(r.Context(), s, r, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// Ref names a thing an event points at.
type Ref struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// FeedEvent is one entry of a feed.
type FeedEvent struct {
	ID      int64     `json:"id"`
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	Product *Ref      `json:"product,omitempty"`
	Actor   *Ref      `json:"actor,omitempty"`
}

// Feed is the answer of GET /users/{id}/feed.
type Feed struct {
	User   FeedUser    `json:"user"`
	Events []FeedEvent `json:"events"`
}

// FeedUser is the header of a feed.
type FeedUser struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"display_name"`
	AvatarURL   string `json:"avatar_url"`
	Locale      string `json:"locale"`
	Timezone    string `json:"timezone"`
}

// feedSize is how many events a feed shows.
const feedSize = 20

func (a *App) getFeed(w http.ResponseWriter, r *http.Request, s *settings, _ Principal) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	ctx := r.Context()
	var key string
	if s.cache {
		gen := a.cacheGen.Load()
		if b, ok := a.nearFeeds.get(gen, id); ok {
			writeRaw(w, http.StatusOK, b)
			return
		}
		key = a.cacheKey("feed", id)
		if _, stale := a.staleFeeds.get(gen, id); !stale {
			if b, ok := a.cache.get(ctx, key); ok {
				a.nearFeeds.put(gen, id, b)
				writeRaw(w, http.StatusOK, b)
				return
			}
		}
	}
	p, err := a.profile(ctx, s, r, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	events, err := a.loadFeed(ctx, s, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := json.Marshal(Feed{
		User:   FeedUser{ID: p.ID, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, Locale: p.Preferences.Locale, Timezone: p.Preferences.Timezone},
		Events: events,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if s.cache {
		a.cache.set(ctx, key, b, a.cfg.FeedTTL)
		a.nearFeeds.put(a.cacheGen.Load(), id, b)
	}
	writeRaw(w, http.StatusOK, b)
}

// loadFeed reads the latest events of a user with the names of what they
// point at: one join (batched), or the events then one query per event
// (per-row); with every column including the payload (select-star), or only
// those the feed shows.
func (a *App) loadFeed(ctx context.Context, s *settings, userID int64) ([]FeedEvent, error) {
	q, release, err := a.db.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var sql string
	switch {
	case !s.perRow && s.selectStar:
		sql = `SELECT e.*, p.name, u.name FROM events e
			LEFT JOIN products p ON p.id = e.product_id LEFT JOIN users u ON u.id = e.actor_id
			WHERE e.user_id = $1 ORDER BY e.created_at DESC LIMIT 20`
	case !s.perRow:
		sql = `SELECT e.id, e.kind, e.created_at, e.product_id, p.name, e.actor_id, u.name FROM events e
			LEFT JOIN products p ON p.id = e.product_id LEFT JOIN users u ON u.id = e.actor_id
			WHERE e.user_id = $1 ORDER BY e.created_at DESC LIMIT 20`
	case s.selectStar:
		sql = "SELECT * FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20"
	default:
		sql = "SELECT id, kind, created_at, product_id, actor_id FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20"
	}
	rows, err := q.Query(ctx, sql, userID)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	events := make([]FeedEvent, 0, feedSize)
	var (
		e                    FeedEvent
		product, actor, uid  *int64
		productName, actName *string
		payload              string
	)
	for rows.Next() {
		switch {
		case !s.perRow && s.selectStar:
			err = rows.Scan(&e.ID, &uid, &e.Kind, &product, &actor, &e.At, &payload, &productName, &actName)
		case !s.perRow:
			err = rows.Scan(&e.ID, &e.Kind, &e.At, &product, &productName, &actor, &actName)
		case s.selectStar:
			err = rows.Scan(&e.ID, &uid, &e.Kind, &product, &actor, &e.At, &payload)
		default:
			err = rows.Scan(&e.ID, &e.Kind, &e.At, &product, &actor)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("feed: %w", err)
		}
		ev := FeedEvent{ID: e.ID, Kind: e.Kind, At: e.At}
		if product != nil {
			ev.Product = &Ref{ID: *product}
			if productName != nil {
				ev.Product.Name = *productName
			}
		}
		if actor != nil {
			ev.Actor = &Ref{ID: *actor}
			if actName != nil {
				ev.Actor.Name = *actName
			}
		}
		events = append(events, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	if s.perRow {
		for i := range events {
			if err := a.nameRef(ctx, q, s, &events[i]); err != nil {
				return nil, err
			}
		}
	}
	return events, nil
}

// nameRef is the N+1: one query per event for the name of what it points at.
func (a *App) nameRef(ctx context.Context, q querier, s *settings, e *FeedEvent) error {
	var err error
	switch {
	case e.Product != nil && s.selectStar:
		var sku, desc string
		var price int64
		err = q.QueryRow(ctx, "SELECT * FROM products WHERE id = $1", e.Product.ID).Scan(new(int64), &e.Product.Name, &sku, &price, &desc)
	case e.Product != nil:
		err = q.QueryRow(ctx, "SELECT name FROM products WHERE id = $1", e.Product.ID).Scan(&e.Product.Name)
	case e.Actor != nil && s.selectStar:
		var email string
		var created time.Time
		err = q.QueryRow(ctx, "SELECT * FROM users WHERE id = $1", e.Actor.ID).Scan(new(int64), &e.Actor.Name, &email, &created)
	case e.Actor != nil:
		err = q.QueryRow(ctx, "SELECT name FROM users WHERE id = $1", e.Actor.ID).Scan(&e.Actor.Name)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("feed names: %w", err)
	}
	return nil
}
